#pragma once

// Validation errors with their field path, as Kubernetes reports them:
//   spec.retention.daily: must be >= 0
#include <string>
#include <vector>

namespace lifeboat::api {

struct FieldError {
  std::string path;     // "spec.volumes[0].path"; empty for the whole object
  std::string message;  // "must be >= 0"
  std::string ToString() const { return path.empty() ? message : path + ": " + message; }
  friend bool operator==(const FieldError&, const FieldError&) = default;
};

using FieldErrors = std::vector<FieldError>;

// Builds child paths: Child("spec", "retention") == "spec.retention"; Index("volumes", 0) ==
// "volumes[0]".
std::string Child(const std::string& parent, const std::string& name);
std::string Index(const std::string& parent, size_t i);

}  // namespace lifeboat::api
