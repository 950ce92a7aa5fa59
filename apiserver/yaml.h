#pragma once

// Multi-document YAML (or JSON) → JSON values, for CRD files and `lifeboat up -f` manifests.
#include <string>
#include <vector>

#include "api/json.h"
#include "common/status.h"

namespace lifeboat::apiserver {

// Empty documents are skipped. Malformed YAML → kInvalidArgument "<file>:<line>: <problem>".
StatusOr<std::vector<Json>> ParseYamlDocuments(const std::string& text, const std::string& file);

}  // namespace lifeboat::apiserver
