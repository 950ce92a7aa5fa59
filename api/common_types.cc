#include "api/common_types.h"

#include <set>

#include "api/duration.h"
#include "api/validation.h"

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  if constexpr (std::is_same_v<std::remove_const_t<T>, LocalObjectReference>) {
    c.Required("name", v.name);
  } else if constexpr (std::is_same_v<std::remove_const_t<T>, SecretKeySelector>) {
    c.Required("name", v.name);
    c.Required("key", v.key);
  } else if constexpr (std::is_same_v<std::remove_const_t<T>, Volume>) {
    c.Required("name", v.name);
    c.Required("path", v.path);
  } else if constexpr (std::is_same_v<std::remove_const_t<T>, EnvVar>) {
    c.Required("name", v.name);
    c.OmitEmpty("value", v.value);
  } else if constexpr (std::is_same_v<std::remove_const_t<T>, ExecAction>) {
    c.Required("command", v.command);
    c.Optional("workingDir", v.working_dir);
    c.OmitEmpty("env", v.env);
  } else if constexpr (std::is_same_v<std::remove_const_t<T>, HttpAction>) {
    c.Required("url", v.url);
    c.Optional("method", v.method);
    c.OmitEmpty("headers", v.headers);
    c.Optional("expectedStatus", v.expected_status);
  } else if constexpr (std::is_same_v<std::remove_const_t<T>, Hook>) {
    c.Optional("exec", v.exec);
    c.Optional("http", v.http);
    c.Optional("timeout", v.timeout);
  } else {
    static_assert(std::is_same_v<std::remove_const_t<T>, Progress>);
    c.Optional("bytesDone", v.bytes_done);
    c.Optional("bytesTotal", v.bytes_total);
    c.Optional("filesDone", v.files_done);
    c.Optional("filesTotal", v.files_total);
    c.Optional("percent", v.percent);
    c.Optional("bytesPerSecond", v.bytes_per_second);
    c.Optional("etaSeconds", v.eta_seconds);
  }
}

constexpr int64_t kMinHttpStatus = 100;
constexpr int64_t kMaxHttpStatus = 599;

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(LocalObjectReference)
LIFEBOAT_API_DEFINE_CODEC(SecretKeySelector)
LIFEBOAT_API_DEFINE_CODEC(Volume)
LIFEBOAT_API_DEFINE_CODEC(EnvVar)
LIFEBOAT_API_DEFINE_CODEC(ExecAction)
LIFEBOAT_API_DEFINE_CODEC(HttpAction)
LIFEBOAT_API_DEFINE_CODEC(Hook)
LIFEBOAT_API_DEFINE_CODEC(Progress)

void ValidateLocalObjectReference(const LocalObjectReference& ref, const std::string& path,
                                  FieldErrors* errors) {
  if (ref.name.empty()) {
    errors->push_back({Child(path, "name"), "required"});
    return;
  }
  ValidateDns1123Subdomain(ref.name, Child(path, "name"), errors);
}

void ValidateSecretKeySelector(const SecretKeySelector& ref, const std::string& path,
                               FieldErrors* errors) {
  if (ref.name.empty()) {
    errors->push_back({Child(path, "name"), "required"});
  } else {
    ValidateDns1123Subdomain(ref.name, Child(path, "name"), errors);
  }
  if (ref.key.empty()) {
    errors->push_back({Child(path, "key"), "required"});
    return;
  }
  for (char c : ref.key) {
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_' && c != '.') {
      errors->push_back({Child(path, "key"), "secret key " + Quote(ref.key) +
                                                 " may contain only letters, digits, '-', '_' "
                                                 "and '.'"});
      return;
    }
  }
}

void ValidateVolume(const Volume& volume, const std::string& path, FieldErrors* errors) {
  if (volume.name.empty()) {
    errors->push_back({Child(path, "name"), "required"});
  } else {
    ValidateDns1123Label(volume.name, Child(path, "name"), errors);
  }
  ValidateAbsolutePath(volume.path, Child(path, "path"), errors);
}

void ValidateVolumes(const std::vector<Volume>& volumes, bool required, const std::string& path,
                     FieldErrors* errors) {
  if (required && volumes.empty()) {
    errors->push_back({path, "must list at least 1 volume"});
  }
  std::set<std::string> names;
  for (size_t i = 0; i < volumes.size(); ++i) {
    ValidateVolume(volumes[i], Index(path, i), errors);
    if (!volumes[i].name.empty() && !names.insert(volumes[i].name).second) {
      errors->push_back({Child(Index(path, i), "name"),
                         "duplicate volume name " + Quote(volumes[i].name)});
    }
  }
}

void ValidateExecAction(const ExecAction& exec, const std::string& path, FieldErrors* errors) {
  if (exec.command.empty()) {
    errors->push_back({Child(path, "command"), "must list at least 1 item (the program)"});
  } else if (exec.command[0].empty()) {
    errors->push_back({Index(Child(path, "command"), 0), "the program must not be empty"});
  }
  if (exec.working_dir) {
    ValidateAbsolutePath(*exec.working_dir, Child(path, "workingDir"), errors);
  }
  for (size_t i = 0; i < exec.env.size(); ++i) {
    const std::string& name = exec.env[i].name;
    bool ok = !name.empty() && name.find('=') == std::string::npos &&
              name.find('\0') == std::string::npos;
    if (!ok) {
      errors->push_back({Child(Index(Child(path, "env"), i), "name"),
                         "must be a non-empty environment variable name without '='"});
    }
  }
}

void ValidateHttpAction(const HttpAction& http, const std::string& path, FieldErrors* errors) {
  ValidateUrl(http.url, {"http", "https"}, Child(path, "url"), errors);
  ValidateRange(http.expected_status, kMinHttpStatus, kMaxHttpStatus,
                Child(path, "expectedStatus"), errors);
  for (const auto& [name, value] : http.headers) {
    bool ok = !name.empty();
    for (char c : name) {
      if (std::isspace(static_cast<unsigned char>(c)) || c == ':' ||
          std::iscntrl(static_cast<unsigned char>(c))) {
        ok = false;
      }
    }
    if (!ok) {
      errors->push_back({Child(path, "headers") + "[" + name + "]",
                         "is not a valid HTTP header name"});
    }
  }
}

void ValidateHook(const Hook& hook, const std::string& path, FieldErrors* errors) {
  if (hook.exec.has_value() == hook.http.has_value()) {
    errors->push_back({path, "must set exactly one of exec or http"});
  }
  if (hook.exec) {
    ValidateExecAction(*hook.exec, Child(path, "exec"), errors);
  }
  if (hook.http) {
    ValidateHttpAction(*hook.http, Child(path, "http"), errors);
  }
  ValidateDuration(hook.timeout, DurationRule::kPositive, Child(path, "timeout"), errors);
}

void ValidateProgress(const Progress& p, const std::string& path, FieldErrors* errors) {
  ValidateMin(p.bytes_done, 0, Child(path, "bytesDone"), errors);
  ValidateMin(p.bytes_total, 0, Child(path, "bytesTotal"), errors);
  ValidateMin(p.files_done, 0, Child(path, "filesDone"), errors);
  ValidateMin(p.files_total, 0, Child(path, "filesTotal"), errors);
  ValidateNumberRange(p.percent, 0, 100, Child(path, "percent"), errors);
}

}  // namespace lifeboat::api
