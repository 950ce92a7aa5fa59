#pragma once

// /openapi/v2 as protobuf: gnostic's openapi.v2.Document (github.com/google/gnostic,
// openapiv2/OpenAPIv2.proto), the only form kubectl before 1.26 reads for `apply` validation,
// `explain` and strategic-merge metadata. Written by hand on the wire format (no protobuf
// library): the document is built as JSON (discovery.cc) and encoded here.
#include <string>

#include "api/json.h"
#include "common/status.h"

namespace lifeboat::apiserver {

// The Content-Type of the answer. kubectl 1.20 asks with the older spelling
// "application/com.github.proto-openapi.spec.v2@v1.0+protobuf", but Go's mime.ParseMediaType
// (client-go's response handling) rejects its '@' ("mime: unexpected content after media
// subtype"), so the answer names the dotted spelling, as kube-apiserver does.
constexpr const char* kOpenApiV2ProtobufContentType =
    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf";

// Encodes a Swagger 2.0 document (JSON) as an openapi.v2.Document message. Objects that are maps
// in Swagger (paths, definitions, properties, responses, ...) become the ordered Named* entries in
// the JSON's key order; "x-" keys become vendor extensions whose Any.yaml is the value written as
// JSON (JSON is YAML). Keys with no field in the message are left out. kInvalidArgument naming
// the place ("definitions.Widget.properties.size.maximum: ...") when a value has the wrong JSON
// type or a parameter's `in` is unknown.
StatusOr<std::string> EncodeOpenApiV2Protobuf(const Json& document);

// Whether an Accept header prefers the protobuf form of /openapi/v2 to JSON (by q-value, then
// order). JSON stays the answer when the header is empty or names neither.
bool PrefersOpenApiV2Protobuf(const std::string& accept);

}  // namespace lifeboat::apiserver
