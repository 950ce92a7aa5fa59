#include "api/manifest.h"

#include <functional>

#include "api/kinds.h"
#include "api/yaml.h"

namespace lifeboat::api {
namespace {

// True when `a` is `b` or a field inside it, or the other way round.
bool Overlaps(const std::string& a, const std::string& b) {
  const std::string& shorter = a.size() <= b.size() ? a : b;
  const std::string& longer = a.size() <= b.size() ? b : a;
  if (longer.compare(0, shorter.size(), shorter) != 0) {
    return false;
  }
  return longer.size() == shorter.size() || shorter.empty() || longer[shorter.size()] == '.' ||
         longer[shorter.size()] == '[';
}

// Decoding errors first; then the semantic errors of the fields that decoded cleanly (a field
// that failed to decode would otherwise be reported twice).
template <typename T>
FieldErrors DecodeAndValidate(const Json& object) {
  T typed;
  FieldErrors errors = FromJson(object, &typed);
  const size_t decode_errors = errors.size();
  for (FieldError& e : Validate(typed)) {
    bool shadowed = false;
    for (size_t i = 0; i < decode_errors && !shadowed; ++i) {
      shadowed = Overlaps(errors[i].path, e.path);
    }
    if (!shadowed) {
      errors.push_back(std::move(e));
    }
  }
  return errors;
}

// Core objects that travel with Lifeboat manifests (secrets, namespaces): only their metadata
// is checked; the rest is passed through.
FieldErrors ValidateCoreObject(const Json& object, bool namespaced) {
  FieldErrors errors;
  auto it = object.find("metadata");
  if (it == object.end() || it->is_null()) {
    errors.push_back({"metadata", "required"});
    return errors;
  }
  ObjectMeta meta;
  Decode(*it, "metadata", &meta, &errors);
  if (errors.empty()) {
    ValidateObjectMeta(meta, namespaced, "metadata", &errors);
  }
  return errors;
}

struct KindEntry {
  std::string_view api_version;
  std::string_view kind;
  std::function<FieldErrors(const Json&)> validate;
};

const std::vector<KindEntry>& Kinds() {
  static const std::vector<KindEntry> kKinds = {
      {kApiVersion, "Vault", DecodeAndValidate<Vault>},
      {kApiVersion, "BackupPolicy", DecodeAndValidate<BackupPolicy>},
      {kApiVersion, "RecoveryPoint", DecodeAndValidate<RecoveryPoint>},
      {kApiVersion, "Restore", DecodeAndValidate<Restore>},
      {kApiVersion, "Snapshot", DecodeAndValidate<Snapshot>},
      {kApiVersion, "Site", DecodeAndValidate<Site>},
      {kApiVersion, "ReplicationPolicy", DecodeAndValidate<ReplicationPolicy>},
      {kApiVersion, "RecoveryPlan", DecodeAndValidate<RecoveryPlan>},
      {kApiVersion, "Failover", DecodeAndValidate<Failover>},
      {"v1", "Secret", [](const Json& j) { return ValidateCoreObject(j, true); }},
      {"v1", "ConfigMap", [](const Json& j) { return ValidateCoreObject(j, true); }},
      {"v1", "ServiceAccount", [](const Json& j) { return ValidateCoreObject(j, true); }},
      {"v1", "Namespace", [](const Json& j) { return ValidateCoreObject(j, false); }},
  };
  return kKinds;
}

}  // namespace

int Document::LineOf(const std::string& path) const {
  // Map entries are reported as `labels[key]`; the reader records them as `labels.key`.
  std::string p;
  for (size_t i = 0; i < path.size(); ++i) {
    size_t close = path[i] == '[' ? path.find(']', i) : std::string::npos;
    bool numeric = close != std::string::npos && close > i + 1 &&
                   path.find_first_not_of("0123456789", i + 1) == close;
    if (close != std::string::npos && !numeric) {
      p += "." + path.substr(i + 1, close - i - 1);
      i = close;
    } else {
      p += path[i];
    }
  }
  while (!p.empty()) {
    auto it = field_lines.find(p);
    if (it != field_lines.end()) {
      return it->second;
    }
    size_t cut = p.find_last_of(".[");
    if (cut == std::string::npos) {
      break;
    }
    p.resize(cut);
  }
  return line;
}

StatusOr<std::vector<Document>> ParseManifests(std::string_view text, const std::string& file) {
  return ParseYamlDocuments(text, file);
}

FieldErrors ValidateObject(const Json& object) {
  FieldErrors errors;
  if (!object.is_object()) {
    errors.push_back({"", "a manifest must be an object (a map), got " + JsonTypeName(object)});
    return errors;
  }
  auto api_version = object.find("apiVersion");
  auto kind = object.find("kind");
  bool have_api_version = api_version != object.end() && api_version->is_string() &&
                          !api_version->get_ref<const std::string&>().empty();
  bool have_kind = kind != object.end() && kind->is_string() &&
                   !kind->get_ref<const std::string&>().empty();
  if (!have_api_version) {
    errors.push_back({"apiVersion", api_version == object.end() || api_version->is_null()
                                        ? "required"
                                        : "must be a non-empty string"});
  }
  if (!have_kind) {
    errors.push_back(
        {"kind", kind == object.end() || kind->is_null() ? "required" : "must be a non-empty string"});
  }
  if (!errors.empty()) {
    return errors;
  }
  const std::string& v = api_version->get_ref<const std::string&>();
  const std::string& k = kind->get_ref<const std::string&>();
  bool known_version = false;
  std::string kinds_of_version;
  for (const KindEntry& entry : Kinds()) {
    if (entry.api_version != v) {
      continue;
    }
    known_version = true;
    if (entry.kind == k) {
      return entry.validate(object);
    }
    kinds_of_version += kinds_of_version.empty() ? "" : ", ";
    kinds_of_version += entry.kind;
  }
  if (!known_version) {
    errors.push_back({"apiVersion", "unknown apiVersion " + Quote(v) + " (kind " + Quote(k) +
                                        "); Lifeboat kinds use " + std::string(kApiVersion)});
  } else {
    errors.push_back({"kind", "unknown kind " + Quote(k) + " in " + v + " (known: " +
                                  kinds_of_version + ")"});
  }
  return errors;
}

}  // namespace lifeboat::api
