#pragma once

// YAML ⇄ JSON. Reading resolves plain scalars by the YAML 1.2 core schema (null, true/false,
// integers incl. 0x/0o, floats) and records the source line of every field; writing quotes any
// string that would read back as another type. yaml-cpp stays inside yaml.cc.
#include <string>
#include <string_view>
#include <vector>

#include "api/json.h"
#include "api/manifest.h"
#include "common/status.h"

namespace lifeboat::api {

// Every non-empty document of a (multi-document) YAML or JSON text.
// Errors: kInvalidArgument "<file>:<line>: <what>" (malformed YAML, duplicate keys, non-scalar
// keys, values JSON cannot hold, nesting deeper than 100 or more than 200,000 nodes).
StatusOr<std::vector<Document>> ParseYamlDocuments(std::string_view text, const std::string& file);

// Block-style YAML of `value` ("{}"/"[]" for empty containers), ending in a newline.
std::string ToYaml(const Json& value);

}  // namespace lifeboat::api
