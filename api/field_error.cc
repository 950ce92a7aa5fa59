#include "api/field_error.h"

namespace lifeboat::api {

std::string Child(const std::string& parent, const std::string& name) {
  return parent.empty() ? name : parent + "." + name;
}

std::string Index(const std::string& parent, size_t i) {
  return parent + "[" + std::to_string(i) + "]";
}

}  // namespace lifeboat::api
