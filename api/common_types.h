#pragma once

// Shapes shared by several kinds (api/TYPES.md "Shared shapes").
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "api/codec.h"

namespace lifeboat::api {

struct LocalObjectReference {
  std::string name;
  friend bool operator==(const LocalObjectReference&, const LocalObjectReference&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(LocalObjectReference);

struct SecretKeySelector {
  std::string name;
  std::string key;
  friend bool operator==(const SecretKeySelector&, const SecretKeySelector&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(SecretKeySelector);

// A local path to protect: a file (disk image) or a directory tree.
struct Volume {
  std::string name;
  std::string path;
  friend bool operator==(const Volume&, const Volume&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(Volume);

struct EnvVar {
  std::string name;
  std::string value;
  friend bool operator==(const EnvVar&, const EnvVar&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(EnvVar);

struct ExecAction {
  std::vector<std::string> command;
  std::optional<std::string> working_dir;
  std::vector<EnvVar> env;
  friend bool operator==(const ExecAction&, const ExecAction&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(ExecAction);

enum class HttpMethod { kGet, kPost, kPut };
template <>
struct EnumNames<HttpMethod> {
  static constexpr std::array<std::string_view, 3> kNames = {"GET", "POST", "PUT"};
};

inline constexpr int64_t kDefaultExpectedStatus = 200;

struct HttpAction {
  std::string url;
  std::optional<HttpMethod> method;  // = GET
  std::map<std::string, std::string> headers;
  std::optional<int64_t> expected_status;  // = 200
  friend bool operator==(const HttpAction&, const HttpAction&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(HttpAction);

inline constexpr std::string_view kDefaultHookTimeout = "30s";

// Exactly one of exec / http.
struct Hook {
  std::optional<ExecAction> exec;
  std::optional<HttpAction> http;
  std::optional<std::string> timeout;  // duration, = 30s
  friend bool operator==(const Hook&, const Hook&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(Hook);

struct Progress {
  std::optional<int64_t> bytes_done;
  std::optional<int64_t> bytes_total;
  std::optional<int64_t> files_done;
  std::optional<int64_t> files_total;
  std::optional<double> percent;
  std::optional<double> bytes_per_second;
  std::optional<double> eta_seconds;
  friend bool operator==(const Progress&, const Progress&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(Progress);

// Semantic checks of the shared shapes (their decoders check types and unknown fields).
void ValidateLocalObjectReference(const LocalObjectReference& ref, const std::string& path,
                                  FieldErrors* errors);
void ValidateSecretKeySelector(const SecretKeySelector& ref, const std::string& path,
                               FieldErrors* errors);
// Each volume valid; names unique; at least one when `required`.
void ValidateVolumes(const std::vector<Volume>& volumes, bool required, const std::string& path,
                     FieldErrors* errors);
void ValidateVolume(const Volume& volume, const std::string& path, FieldErrors* errors);
void ValidateExecAction(const ExecAction& exec, const std::string& path, FieldErrors* errors);
void ValidateHttpAction(const HttpAction& http, const std::string& path, FieldErrors* errors);
void ValidateHook(const Hook& hook, const std::string& path, FieldErrors* errors);
void ValidateProgress(const Progress& progress, const std::string& path, FieldErrors* errors);

}  // namespace lifeboat::api
