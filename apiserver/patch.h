#pragma once

// The patch types of the Kubernetes API: JSON merge patch (RFC 7386), JSON patch (RFC 6902)
// and strategic merge patch (as kubectl sends it for core kinds; lists are replaced, the
// $patch, $retainKeys, $setElementOrder and $deleteFromPrimitiveList directives are honoured).
#include <string>

#include "api/json.h"
#include "common/status.h"

namespace lifeboat::apiserver {

enum class PatchType { kMerge, kJson, kStrategicMerge, kApply };

// Maps a Content-Type to a patch type; kInvalidArgument (415) for anything else.
StatusOr<PatchType> PatchTypeFromContentType(const std::string& content_type);

// Applies `patch` (the request body) to `original`. kInvalidArgument naming what is wrong.
StatusOr<Json> ApplyPatch(const Json& original, PatchType type, const std::string& patch);

}  // namespace lifeboat::apiserver
