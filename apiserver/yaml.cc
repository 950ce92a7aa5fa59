#include "apiserver/yaml.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <regex>

namespace lifeboat::apiserver {
namespace {

Json ScalarToJson(const YAML::Node& node) {
  const std::string& text = node.Scalar();
  if (node.Tag() == "!") {
    return text;  // quoted: always a string
  }
  static const std::regex kInt("[-+]?[0-9]+");
  static const std::regex kFloat("[-+]?([0-9]+\\.[0-9]*|\\.[0-9]+|[0-9]+)([eE][-+]?[0-9]+)?");
  if (text == "null" || text == "~" || text == "Null" || text == "NULL" || text.empty()) {
    return nullptr;
  }
  if (text == "true" || text == "True" || text == "TRUE") {
    return true;
  }
  if (text == "false" || text == "False" || text == "FALSE") {
    return false;
  }
  if (std::regex_match(text, kInt)) {
    errno = 0;
    long long v = std::strtoll(text.c_str(), nullptr, 10);
    if (errno == 0) {
      return v;
    }
  }
  if (std::regex_match(text, kFloat)) {
    return std::strtod(text.c_str(), nullptr);
  }
  return text;
}

Json ToJson(const YAML::Node& node) {
  switch (node.Type()) {
    case YAML::NodeType::Map: {
      Json out = Json::object();
      for (const auto& kv : node) {
        out[kv.first.as<std::string>()] = ToJson(kv.second);
      }
      return out;
    }
    case YAML::NodeType::Sequence: {
      Json out = Json::array();
      for (const auto& item : node) {
        out.push_back(ToJson(item));
      }
      return out;
    }
    case YAML::NodeType::Scalar:
      return ScalarToJson(node);
    default:
      return nullptr;
  }
}

}  // namespace

StatusOr<std::vector<Json>> ParseYamlDocuments(const std::string& text, const std::string& file) {
  std::vector<Json> docs;
  try {
    for (const YAML::Node& node : YAML::LoadAll(text)) {
      if (node.IsNull() || !node.IsDefined()) {
        continue;
      }
      docs.push_back(ToJson(node));
    }
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(file + ":" + std::to_string(e.mark.line + 1) + ": " + e.msg);
  }
  return docs;
}

}  // namespace lifeboat::apiserver
