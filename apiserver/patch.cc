#include "apiserver/patch.h"

#include <algorithm>

namespace lifeboat::apiserver {
namespace {

constexpr std::string_view kSetElementOrder = "$setElementOrder/";
constexpr std::string_view kDeleteFromPrimitiveList = "$deleteFromPrimitiveList/";

bool StartsWith(const std::string& s, std::string_view prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Removes directive keys from a value that replaces something wholesale.
Json StripDirectives(const Json& value) {
  if (value.is_object()) {
    Json out = Json::object();
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (!StartsWith(it.key(), "$")) {
        out[it.key()] = StripDirectives(it.value());
      }
    }
    return out;
  }
  if (value.is_array()) {
    Json out = Json::array();
    for (const Json& item : value) {
      out.push_back(StripDirectives(item));
    }
    return out;
  }
  return value;
}

Json StrategicMerge(Json original, const Json& patch) {
  if (!patch.is_object()) {
    return patch;
  }
  if (auto directive = patch.find("$patch"); directive != patch.end()) {
    if (*directive == "replace") {
      return StripDirectives(patch);
    }
  }
  if (!original.is_object()) {
    original = Json::object();
  }
  if (auto retain = patch.find("$retainKeys"); retain != patch.end() && retain->is_array()) {
    for (auto it = original.begin(); it != original.end();) {
      if (std::find(retain->begin(), retain->end(), it.key()) == retain->end()) {
        it = original.erase(it);
      } else {
        ++it;
      }
    }
  }
  for (auto it = patch.begin(); it != patch.end(); ++it) {
    const std::string& key = it.key();
    const Json& value = it.value();
    if (StartsWith(key, kDeleteFromPrimitiveList)) {
      std::string field = key.substr(kDeleteFromPrimitiveList.size());
      auto target = original.find(field);
      if (target != original.end() && target->is_array() && value.is_array()) {
        Json kept = Json::array();
        for (const Json& item : *target) {
          if (std::find(value.begin(), value.end(), item) == value.end()) {
            kept.push_back(item);
          }
        }
        *target = kept;
      }
      continue;
    }
    if (StartsWith(key, "$")) {
      continue;
    }
    if (value.is_null()) {
      original.erase(key);
    } else if (value.is_object()) {
      auto directive = value.find("$patch");
      if (directive != value.end() && *directive == "delete") {
        original.erase(key);
      } else {
        original[key] = StrategicMerge(original.contains(key) ? original[key] : Json(), value);
      }
    } else if (value.is_array()) {
      Json items = Json::array();
      for (const Json& item : value) {
        if (item.is_object() && item.contains("$patch")) {
          continue;
        }
        items.push_back(StripDirectives(item));
      }
      original[key] = items;
    } else {
      original[key] = value;
    }
  }
  return original;
}

}  // namespace

StatusOr<PatchType> PatchTypeFromContentType(const std::string& content_type) {
  std::string type = content_type.substr(0, content_type.find(';'));
  if (type == "application/merge-patch+json") {
    return PatchType::kMerge;
  }
  if (type == "application/json-patch+json") {
    return PatchType::kJson;
  }
  if (type == "application/strategic-merge-patch+json") {
    return PatchType::kStrategicMerge;
  }
  if (type == "application/apply-patch+yaml") {
    return PatchType::kApply;
  }
  return InvalidArgumentError(
      "the body of the request was in an unknown format - accepted "
      "media types include: application/json-patch+json, "
      "application/merge-patch+json, "
      "application/strategic-merge-patch+json, "
      "application/apply-patch+yaml");
}

StatusOr<Json> ApplyPatch(const Json& original, PatchType type, const std::string& patch_text) {
  Json patch = Json::parse(patch_text, nullptr, false);
  if (patch.is_discarded()) {
    return InvalidArgumentError("the patch is not valid JSON");
  }
  switch (type) {
    case PatchType::kMerge: {
      if (!patch.is_object()) {
        return InvalidArgumentError("a merge patch must be a JSON object");
      }
      Json result = original;
      result.merge_patch(patch);
      return result;
    }
    case PatchType::kJson: {
      if (!patch.is_array()) {
        return InvalidArgumentError("a JSON patch must be a JSON array of operations");
      }
      try {
        return original.patch(patch);
      } catch (const Json::exception& e) {
        return InvalidArgumentError(std::string("the JSON patch could not be applied: ") +
                                    e.what());
      }
    }
    case PatchType::kStrategicMerge:
      if (!patch.is_object()) {
        return InvalidArgumentError("a strategic merge patch must be a JSON object");
      }
      return StrategicMerge(original, patch);
    case PatchType::kApply:
      break;
  }
  // Server-side apply needs field ownership and the live object's absence: Handler::Apply.
  return InvalidArgumentError("server-side apply is not a patch of the live object");
}

}  // namespace lifeboat::apiserver
