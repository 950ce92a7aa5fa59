#pragma once

// Discovery documents (/version, /api, /apis, group/version resource lists) and the OpenAPI
// documents (/openapi/v2, /openapi/v3) for whatever the registry serves at the time of the call.
#include <string>

#include "api/json.h"
#include "apiserver/resources.h"
#include "common/status.h"

namespace lifeboat::apiserver {

Json VersionDocument();
Json ApiVersionsDocument(const std::string& server_address);
Json ApiGroupListDocument(const Registry& registry);
// kNotFound when nothing is served under the group (or group/version).
StatusOr<Json> ApiGroupDocument(const Registry& registry, const std::string& group);
StatusOr<Json> ApiResourceListDocument(const Registry& registry, const std::string& group,
                                       const std::string& version);

Json OpenApiV2Document(const Registry& registry);
// /openapi/v2 in the representation an Accept header prefers: gnostic's protobuf (what kubectl
// before 1.26 asks for; answered as kOpenApiV2ProtobufContentType) or JSON (the default).
struct EncodedDocument {
  std::string content_type;
  std::string body;
};
StatusOr<EncodedDocument> OpenApiV2Encoded(const Registry& registry, const std::string& accept);
Json OpenApiV3RootDocument(const Registry& registry);
// gv_path: "api/v1" or "apis/<group>/<version>"; kNotFound when not served.
StatusOr<Json> OpenApiV3Document(const Registry& registry, const std::string& gv_path);

}  // namespace lifeboat::apiserver
