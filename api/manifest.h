#pragma once

// Reading manifests: multi-document YAML (or JSON) into JSON objects that remember the source
// line of every field, and validation of Lifeboat objects with field paths.
//
// Contract shared by `lifeboat validate`, the CRD agreement test and the API server.
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "api/field_error.h"
#include "api/json.h"
#include "common/status.h"

namespace lifeboat::api {

struct Document {
  Json object;                              // the decoded document (YAML → JSON, lossless)
  std::string file;                         // where it came from ("" when parsed from memory)
  int line = 0;                             // 1-based line where the document starts
  std::map<std::string, int> field_lines;   // "spec.retention.daily" → 1-based line

  // The line of `path` or of its nearest ancestor that has one (else `line`).
  int LineOf(const std::string& path) const;
};

// Splits and parses multi-document YAML (JSON is YAML). Empty documents are skipped.
// Malformed YAML → kInvalidArgument whose message is "<file>:<line>: <what is wrong>".
StatusOr<std::vector<Document>> ParseManifests(std::string_view text, const std::string& file);

// Validates one object of any Lifeboat kind: apiVersion/kind known, metadata (DNS-1123 name,
// labels, annotations), strict decoding (unknown fields, wrong types, missing required fields)
// and semantic validation (ranges, durations, quantities, cron, time zones).
// Returns every error, each with its field path; empty when the object is valid.
FieldErrors ValidateObject(const Json& object);

}  // namespace lifeboat::api
