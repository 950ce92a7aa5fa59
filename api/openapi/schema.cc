#include "api/openapi/schema.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <string_view>
#include <utility>
#include <vector>

#include "api/openapi/regex.h"

namespace lifeboat::api::openapi {

// One compiled node of a structural schema. Value-validation nodes (inside allOf/anyOf/oneOf/
// not) use the same shape with `junctor` set; they carry no type and no defaults.
struct SchemaNode {
  std::string type;  // object, array, string, integer, number, boolean; "" = unspecified
  std::string format;
  bool junctor = false;
  bool nullable = false;
  bool preserve_unknown = false;
  bool int_or_string = false;
  bool embedded_resource = false;
  std::optional<double> minimum;
  std::optional<double> maximum;
  bool exclusive_minimum = false;
  bool exclusive_maximum = false;
  std::optional<double> multiple_of;
  std::optional<int64_t> min_length;
  std::optional<int64_t> max_length;
  std::optional<int64_t> min_items;
  std::optional<int64_t> max_items;
  std::optional<int64_t> min_properties;
  std::optional<int64_t> max_properties;
  bool unique_items = false;
  std::string list_type;               // x-kubernetes-list-type: atomic, set, map
  std::vector<std::string> list_keys;  // x-kubernetes-list-map-keys
  std::vector<Json> enum_values;
  std::string pattern_text;
  std::optional<Regex> pattern;
  std::map<std::string, std::unique_ptr<SchemaNode>> properties;
  std::vector<std::string> required;
  std::unique_ptr<SchemaNode> items;
  std::unique_ptr<SchemaNode> additional_properties;  // a schema for every other key
  std::optional<bool> additional_properties_allowed;  // additionalProperties: true|false
  std::optional<Json> default_value;
  std::vector<std::unique_ptr<SchemaNode>> all_of;
  std::vector<std::unique_ptr<SchemaNode>> any_of;
  std::vector<std::unique_ptr<SchemaNode>> one_of;
  std::unique_ptr<SchemaNode> not_schema;
};

namespace {

const std::set<std::string, std::less<>>& KnownKeywords() {
  static const std::set<std::string, std::less<>> kKeywords = {
      "type",
      "format",
      "title",
      "description",
      "default",
      "maximum",
      "exclusiveMaximum",
      "minimum",
      "exclusiveMinimum",
      "maxLength",
      "minLength",
      "pattern",
      "maxItems",
      "minItems",
      "uniqueItems",
      "multipleOf",
      "enum",
      "maxProperties",
      "minProperties",
      "required",
      "items",
      "allOf",
      "oneOf",
      "anyOf",
      "not",
      "properties",
      "additionalProperties",
      "nullable",
      "example",
      "externalDocs",
      "x-kubernetes-preserve-unknown-fields",
      "x-kubernetes-embedded-resource",
      "x-kubernetes-int-or-string",
      "x-kubernetes-list-map-keys",
      "x-kubernetes-list-type",
      "x-kubernetes-map-type",
      "x-kubernetes-validations"};
  return kKeywords;
}

// Keywords a CustomResourceDefinition schema may not use at all.
const std::set<std::string, std::less<>>& ForbiddenKeywords() {
  static const std::set<std::string, std::less<>> kForbidden = {
      "$ref",         "$schema",        "id", "definitions", "patternProperties",
      "dependencies", "additionalItems"};
  return kForbidden;
}

// Keywords that carry structure or defaults, forbidden inside allOf/anyOf/oneOf/not.
const std::set<std::string, std::less<>>& NotInJunctors() {
  static const std::set<std::string, std::less<>> kNot = {"type",
                                                          "description",
                                                          "default",
                                                          "nullable",
                                                          "additionalProperties",
                                                          "x-kubernetes-preserve-unknown-fields",
                                                          "x-kubernetes-embedded-resource",
                                                          "x-kubernetes-int-or-string"};
  return kNot;
}

const std::set<std::string, std::less<>>& KnownTypes() {
  static const std::set<std::string, std::less<>> kTypes = {"object",  "array",  "string",
                                                            "integer", "number", "boolean"};
  return kTypes;
}

// JSON text of `v` for messages: invalid UTF-8 replaced, cut after a few hundred characters.
std::string Dump(const Json& v) {
  constexpr size_t kMaxChars = 200;
  std::string text = v.dump(-1, ' ', false, Json::error_handler_t::replace);
  if (text.size() > kMaxChars) {
    text = text.substr(0, kMaxChars) + "... (" + std::to_string(text.size()) + " bytes)";
  }
  return text;
}

std::string NodeError(const std::string& path, std::string_view keyword, std::string_view what) {
  return path + "." + std::string(keyword) + ": " + std::string(what);
}

StatusOr<std::optional<int64_t>> NonNegativeInt(const Json& schema, const char* keyword,
                                                const std::string& path) {
  if (!schema.contains(keyword)) {
    return std::optional<int64_t>();
  }
  const Json& v = schema.at(keyword);
  if (!v.is_number_integer() || v.get<int64_t>() < 0) {
    return InvalidArgumentError(
        NodeError(path, keyword, "Invalid value: " + Dump(v) + ": must be an integer >= 0"));
  }
  return std::optional<int64_t>(v.get<int64_t>());
}

StatusOr<bool> Flag(const Json& schema, const char* keyword, const std::string& path) {
  if (!schema.contains(keyword)) {
    return false;
  }
  const Json& v = schema.at(keyword);
  if (!v.is_boolean()) {
    return InvalidArgumentError(
        NodeError(path, keyword, "Invalid value: " + Dump(v) + ": must be a boolean"));
  }
  return v.get<bool>();
}

StatusOr<std::optional<double>> Number(const Json& schema, const char* keyword,
                                       const std::string& path) {
  if (!schema.contains(keyword)) {
    return std::optional<double>();
  }
  const Json& v = schema.at(keyword);
  if (!v.is_number()) {
    return InvalidArgumentError(
        NodeError(path, keyword, "Invalid value: " + Dump(v) + ": must be a number"));
  }
  return std::optional<double>(v.get<double>());
}

// Deeper schemas are refused: compiling, validating and defaulting recurse once per level.
constexpr int kMaxSchemaDepth = 100;

StatusOr<std::unique_ptr<SchemaNode>> CompileNode(const Json& schema, const std::string& path,
                                                  bool junctor, int depth);

Status CompileJunction(const Json& schema, const char* keyword, const std::string& path,
                       std::vector<std::unique_ptr<SchemaNode>>& out, int depth) {
  if (!schema.contains(keyword)) {
    return OkStatus();
  }
  const Json& list = schema.at(keyword);
  if (!list.is_array() || list.empty()) {
    return InvalidArgumentError(
        NodeError(path, keyword, "Invalid value: must be a non-empty list of schemas"));
  }
  for (size_t i = 0; i < list.size(); ++i) {
    ASSIGN_OR_RETURN(auto node,
                     CompileNode(list[i], path + "." + keyword + "[" + std::to_string(i) + "]",
                                 /*junctor=*/true, depth + 1));
    out.push_back(std::move(node));
  }
  return OkStatus();
}

StatusOr<std::unique_ptr<SchemaNode>> CompileNode(const Json& schema, const std::string& path,
                                                  bool junctor, int depth) {
  if (depth > kMaxSchemaDepth) {
    return InvalidArgumentError(path + ": Forbidden: schema nested deeper than " +
                                std::to_string(kMaxSchemaDepth) + " levels");
  }
  if (!schema.is_object()) {
    return InvalidArgumentError(path + ": Invalid value: " + Dump(schema) +
                                ": must be a schema object");
  }
  auto node = std::make_unique<SchemaNode>();
  node->junctor = junctor;
  for (const auto& [key, value] : schema.items()) {
    if (ForbiddenKeywords().contains(key)) {
      return InvalidArgumentError(NodeError(path, key, "Forbidden: must not be used"));
    }
    if (!KnownKeywords().contains(key)) {
      return InvalidArgumentError(NodeError(path, key, "Forbidden: unknown schema keyword"));
    }
    if (junctor && NotInJunctors().contains(key)) {
      return InvalidArgumentError(
          NodeError(path, key, "Forbidden: must not be used inside allOf, anyOf, oneOf or not"));
    }
  }
  if (schema.contains("type")) {
    const Json& type = schema.at("type");
    if (!type.is_string() || !KnownTypes().contains(type.get<std::string>())) {
      return InvalidArgumentError(NodeError(
          path, "type",
          "Unsupported value: " + Dump(type) +
              R"(: supported values: "array", "boolean", "integer", "number", "object", "string")"));
    }
    node->type = type.get<std::string>();
  }
  if (schema.contains("format")) {
    if (!schema.at("format").is_string()) {
      return InvalidArgumentError(NodeError(path, "format", "Invalid value: must be a string"));
    }
    node->format = schema.at("format").get<std::string>();
  }
  ASSIGN_OR_RETURN(node->nullable, Flag(schema, "nullable", path));
  ASSIGN_OR_RETURN(node->preserve_unknown,
                   Flag(schema, "x-kubernetes-preserve-unknown-fields", path));
  ASSIGN_OR_RETURN(node->int_or_string, Flag(schema, "x-kubernetes-int-or-string", path));
  ASSIGN_OR_RETURN(node->embedded_resource, Flag(schema, "x-kubernetes-embedded-resource", path));
  ASSIGN_OR_RETURN(node->unique_items, Flag(schema, "uniqueItems", path));
  ASSIGN_OR_RETURN(node->exclusive_minimum, Flag(schema, "exclusiveMinimum", path));
  ASSIGN_OR_RETURN(node->exclusive_maximum, Flag(schema, "exclusiveMaximum", path));
  ASSIGN_OR_RETURN(node->minimum, Number(schema, "minimum", path));
  ASSIGN_OR_RETURN(node->maximum, Number(schema, "maximum", path));
  ASSIGN_OR_RETURN(node->multiple_of, Number(schema, "multipleOf", path));
  if (node->multiple_of && *node->multiple_of <= 0) {
    return InvalidArgumentError(NodeError(path, "multipleOf", "Invalid value: must be > 0"));
  }
  ASSIGN_OR_RETURN(node->min_length, NonNegativeInt(schema, "minLength", path));
  ASSIGN_OR_RETURN(node->max_length, NonNegativeInt(schema, "maxLength", path));
  ASSIGN_OR_RETURN(node->min_items, NonNegativeInt(schema, "minItems", path));
  ASSIGN_OR_RETURN(node->max_items, NonNegativeInt(schema, "maxItems", path));
  ASSIGN_OR_RETURN(node->min_properties, NonNegativeInt(schema, "minProperties", path));
  ASSIGN_OR_RETURN(node->max_properties, NonNegativeInt(schema, "maxProperties", path));

  if (!junctor && node->type.empty() && !node->int_or_string && !node->preserve_unknown) {
    return InvalidArgumentError(
        NodeError(path, "type", "Required value: must not be empty for specified fields"));
  }
  if (node->int_or_string && !node->type.empty()) {
    return InvalidArgumentError(NodeError(
        path, "type", "Forbidden: must be empty when x-kubernetes-int-or-string is true"));
  }
  if (node->embedded_resource && node->type != "object") {
    return InvalidArgumentError(NodeError(
        path, "type", "Invalid value: must be object if x-kubernetes-embedded-resource is true"));
  }

  if (schema.contains("pattern")) {
    const Json& p = schema.at("pattern");
    if (!p.is_string()) {
      return InvalidArgumentError(NodeError(path, "pattern", "Invalid value: must be a string"));
    }
    node->pattern_text = p.get<std::string>();
    auto regex = Regex::Compile(node->pattern_text);
    if (!regex.ok()) {
      return InvalidArgumentError(
          NodeError(path, "pattern",
                    "Invalid value: \"" + node->pattern_text +
                        "\": not a valid regular expression: " + regex.status().message()));
    }
    node->pattern = std::move(regex).value();
  }
  if (schema.contains("enum")) {
    const Json& e = schema.at("enum");
    if (!e.is_array() || e.empty()) {
      return InvalidArgumentError(
          NodeError(path, "enum", "Invalid value: must be a non-empty list"));
    }
    node->enum_values.assign(e.begin(), e.end());
  }
  if (schema.contains("required")) {
    const Json& r = schema.at("required");
    if (!r.is_array()) {
      return InvalidArgumentError(
          NodeError(path, "required", "Invalid value: must be a list of field names"));
    }
    for (const Json& name : r) {
      if (!name.is_string()) {
        return InvalidArgumentError(
            NodeError(path, "required", "Invalid value: " + Dump(name) + ": must be a string"));
      }
      node->required.push_back(name.get<std::string>());
    }
  }
  if (schema.contains("properties")) {
    const Json& props = schema.at("properties");
    if (!props.is_object()) {
      return InvalidArgumentError(
          NodeError(path, "properties", "Invalid value: must be a map of schemas"));
    }
    if (!junctor && node->type != "object") {
      return InvalidArgumentError(
          NodeError(path, "properties", "Forbidden: only allowed when type is object"));
    }
    for (const auto& [name, sub] : props.items()) {
      ASSIGN_OR_RETURN(node->properties[name],
                       CompileNode(sub, path + ".properties[" + name + "]", junctor, depth + 1));
    }
  }
  if (schema.contains("additionalProperties")) {
    const Json& ap = schema.at("additionalProperties");
    if (!node->properties.empty()) {
      return InvalidArgumentError(NodeError(path, "additionalProperties",
                                            "Forbidden: additionalProperties and properties are "
                                            "mutually exclusive"));
    }
    if (ap.is_boolean()) {
      node->additional_properties_allowed = ap.get<bool>();
    } else {
      ASSIGN_OR_RETURN(node->additional_properties,
                       CompileNode(ap, path + ".additionalProperties", junctor, depth + 1));
    }
  }
  if (schema.contains("items")) {
    const Json& items = schema.at("items");
    if (!items.is_object()) {
      return InvalidArgumentError(
          NodeError(path, "items", "Invalid value: must be a single schema, not a list"));
    }
    ASSIGN_OR_RETURN(node->items, CompileNode(items, path + ".items", junctor, depth + 1));
  } else if (!junctor && node->type == "array") {
    return InvalidArgumentError(
        NodeError(path, "items", "Required value: must be specified for type array"));
  }
  if (schema.contains("x-kubernetes-list-type")) {
    const Json& lt = schema.at("x-kubernetes-list-type");
    static const std::set<std::string, std::less<>> kListTypes = {"atomic", "set", "map"};
    if (!lt.is_string() || !kListTypes.contains(lt.get<std::string>())) {
      return InvalidArgumentError(NodeError(
          path, "x-kubernetes-list-type",
          "Unsupported value: " + Dump(lt) + R"(: supported values: "atomic", "map", "set")"));
    }
    if (node->type != "array") {
      return InvalidArgumentError(
          NodeError(path, "x-kubernetes-list-type", "Forbidden: only allowed for type array"));
    }
    node->list_type = lt.get<std::string>();
  }
  if (schema.contains("x-kubernetes-list-map-keys")) {
    const Json& keys = schema.at("x-kubernetes-list-map-keys");
    if (!keys.is_array() || keys.empty()) {
      return InvalidArgumentError(
          NodeError(path, "x-kubernetes-list-map-keys", "Invalid value: must be a non-empty list"));
    }
    for (const Json& k : keys) {
      if (!k.is_string()) {
        return InvalidArgumentError(NodeError(path, "x-kubernetes-list-map-keys",
                                              "Invalid value: must be a list of strings"));
      }
      node->list_keys.push_back(k.get<std::string>());
    }
  }
  if (node->list_type == "map") {
    if (node->list_keys.empty()) {
      return InvalidArgumentError(
          NodeError(path, "x-kubernetes-list-map-keys",
                    "Required value: must be specified when x-kubernetes-list-type is map"));
    }
    if (!node->items || node->items->type != "object") {
      return InvalidArgumentError(
          NodeError(path, "items",
                    "Invalid value: must be of type object when x-kubernetes-list-type is map"));
    }
    for (const std::string& key : node->list_keys) {
      const auto& req = node->items->required;
      bool required = std::find(req.begin(), req.end(), key) != req.end();
      auto it = node->items->properties.find(key);
      if (it == node->items->properties.end()) {
        return InvalidArgumentError(
            NodeError(path, "x-kubernetes-list-map-keys",
                      "Invalid value: \"" + key + "\": not a property of the items schema"));
      }
      if (!required && !it->second->default_value) {
        return InvalidArgumentError(
            NodeError(path, "x-kubernetes-list-map-keys",
                      "Invalid value: \"" + key + "\": must be required or have a default"));
      }
    }
  }
  RETURN_IF_ERROR(CompileJunction(schema, "allOf", path, node->all_of, depth));
  RETURN_IF_ERROR(CompileJunction(schema, "anyOf", path, node->any_of, depth));
  RETURN_IF_ERROR(CompileJunction(schema, "oneOf", path, node->one_of, depth));
  if (schema.contains("not")) {
    ASSIGN_OR_RETURN(node->not_schema,
                     CompileNode(schema.at("not"), path + ".not", true, depth + 1));
  }
  if (schema.contains("default")) {
    node->default_value = schema.at("default");
  }
  return node;
}

// --- validation -------------------------------------------------------------------------------

std::string FormatNumber(double v) {
  if (std::floor(v) == v && std::fabs(v) < 1e15) {
    return std::to_string(static_cast<int64_t>(v));
  }
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%g", v);
  return buf;
}

std::string TypeName(const Json& v) {
  switch (v.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::object:
      return "object";
    case Json::value_t::array:
      return "array";
    case Json::value_t::string:
      return "string";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
      return "integer";
    case Json::value_t::number_unsigned:
      return v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX) ? "integer" : "number";
    default:
      return "number";
  }
}

// Long strings are cut in messages, so one oversized field cannot make a huge error body.
constexpr size_t kMaxShownChars = 128;

std::string Excerpt(const Json& v) {
  const std::string& s = v.get_ref<const std::string&>();
  if (s.size() <= kMaxShownChars) {
    return v.dump(-1, ' ', false, Json::error_handler_t::replace);
  }
  return Json(s.substr(0, kMaxShownChars)).dump(-1, ' ', false, Json::error_handler_t::replace) +
         "... (" + std::to_string(s.size()) + " bytes)";
}

// How a value is printed after "Invalid value: ": scalars as JSON, containers by their type.
std::string Show(const Json& v) {
  if (v.is_object() || v.is_array()) {
    return "\"" + TypeName(v) + "\"";
  }
  return v.is_string() ? Excerpt(v) : Dump(v);
}

std::string Quoted(const Json& v) { return v.is_string() ? Excerpt(v) : Excerpt(Json(Dump(v))); }

std::string InBody(const std::string& path) { return (path.empty() ? "body" : path) + " in body"; }

// An integer as Kubernetes sees one: int64, or a float with an integral value within +-2^53
// (go-openapi's IsFloat64AJSONInteger); 1e20 is a number, not an integer.
bool IsIntegral(const Json& v) {
  if (v.is_number_unsigned()) {
    return v.get<uint64_t>() <= static_cast<uint64_t>(INT64_MAX);
  }
  if (v.is_number_integer()) {
    return true;
  }
  if (v.is_number_float()) {
    constexpr double kMaxExactInteger = 9007199254740992.0;  // 2^53
    double d = v.get<double>();
    return std::isfinite(d) && std::floor(d) == d && std::fabs(d) <= kMaxExactInteger;
  }
  return false;
}

bool TypeMatches(const std::string& type, const Json& v) {
  if (type == "object") return v.is_object();
  if (type == "array") return v.is_array();
  if (type == "string") return v.is_string();
  if (type == "boolean") return v.is_boolean();
  if (type == "integer") return IsIntegral(v);
  if (type == "number") return v.is_number();
  return true;
}

bool IsDigits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

int ToInt(std::string_view s) {
  int v = 0;
  for (char c : s) {
    v = v * 10 + (c - '0');
  }
  return v;
}

bool IsLeap(int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

bool ValidDate(std::string_view s) {
  if (s.size() != 10 || s[4] != '-' || s[7] != '-' || !IsDigits(s.substr(0, 4)) ||
      !IsDigits(s.substr(5, 2)) || !IsDigits(s.substr(8, 2))) {
    return false;
  }
  int year = ToInt(s.substr(0, 4));
  int month = ToInt(s.substr(5, 2));
  int day = ToInt(s.substr(8, 2));
  static constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (month < 1 || month > 12 || day < 1) {
    return false;
  }
  int max_day = kDays[month - 1] + ((month == 2 && IsLeap(year)) ? 1 : 0);
  return day <= max_day;
}

// RFC 3339 date-time: 2026-11-21T05:55:00Z, with optional fraction and numeric offset.
bool ValidDateTime(std::string_view s) {
  if (s.size() < 20 || !ValidDate(s.substr(0, 10))) {
    return false;
  }
  char sep = s[10];
  if (sep != 'T' && sep != 't' && sep != ' ') {
    return false;
  }
  std::string_view t = s.substr(11);
  if (t.size() < 9 || t[2] != ':' || t[5] != ':' || !IsDigits(t.substr(0, 2)) ||
      !IsDigits(t.substr(3, 2)) || !IsDigits(t.substr(6, 2))) {
    return false;
  }
  if (ToInt(t.substr(0, 2)) > 23 || ToInt(t.substr(3, 2)) > 59 || ToInt(t.substr(6, 2)) > 60) {
    return false;
  }
  std::string_view rest = t.substr(8);
  if (!rest.empty() && rest[0] == '.') {
    size_t n = 1;
    while (n < rest.size() && rest[n] >= '0' && rest[n] <= '9') {
      ++n;
    }
    if (n == 1) {
      return false;
    }
    rest = rest.substr(n);
  }
  if (rest == "Z" || rest == "z") {
    return true;
  }
  return rest.size() == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':' &&
         IsDigits(rest.substr(1, 2)) && IsDigits(rest.substr(4, 2)) &&
         ToInt(rest.substr(1, 2)) <= 23 && ToInt(rest.substr(4, 2)) <= 59;
}

bool ValidBase64(std::string_view s) {
  if (s.size() % 4 != 0) {
    return false;
  }
  size_t padding = 0;
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    if (c == '=') {
      ++padding;
      if (i + 2 < s.size()) {
        return false;
      }
    } else if (padding > 0 || !(alnum || c == '+' || c == '/')) {
      return false;
    }
  }
  return true;
}

// 8-4-4-4-12 hexadecimal digits.
bool ValidUuid(std::string_view s) {
  if (s.size() != 36) {
    return false;
  }
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    bool dash = i == 8 || i == 13 || i == 18 || i == 23;
    bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    if (dash ? c != '-' : !hex) {
      return false;
    }
  }
  return true;
}

bool ValidIpv4(std::string_view s) {
  int parts = 0;
  size_t start = 0;
  while (start <= s.size()) {
    size_t dot = s.find('.', start);
    std::string_view part = s.substr(start, dot == std::string_view::npos ? s.npos : dot - start);
    if (!IsDigits(part) || part.size() > 3 || (part.size() > 1 && part[0] == '0') ||
        ToInt(part) > 255) {
      return false;
    }
    ++parts;
    if (dot == std::string_view::npos) {
      break;
    }
    start = dot + 1;
  }
  return parts == 4;
}

// Formats Kubernetes checks for strings; unknown formats are ignored, as Kubernetes does.
bool FormatMatches(const std::string& format, const std::string& s) {
  if (format == "date-time" || format == "datetime") return ValidDateTime(s);
  if (format == "date") return ValidDate(s);
  if (format == "byte") return ValidBase64(s);
  if (format == "uuid") return ValidUuid(s);
  if (format == "ipv4") return ValidIpv4(s);
  return true;
}

class Validator {
 public:
  explicit Validator(FieldErrors& errors) : errors_(errors) {}

  void Invalid(const std::string& path, const Json& value, const std::string& detail) {
    errors_.push_back({path, "Invalid value: " + Show(value) + ": " + InBody(path) + " " + detail});
  }

  void Check(const SchemaNode& node, const Json& value, const std::string& path, bool resource) {
    if (value.is_null()) {
      if (node.nullable || node.junctor || (node.type.empty() && node.preserve_unknown)) {
        return;
      }
      std::string type = node.int_or_string ? "integer-or-string" : node.type;
      errors_.push_back({path, "Invalid value: \"null\": " + InBody(path) + " must be of type " +
                                   type + ": \"null\""});
      return;
    }
    if (node.int_or_string) {
      if (!IsIntegral(value) && !value.is_string()) {
        errors_.push_back({path, "Invalid value: \"" + TypeName(value) + "\": " + InBody(path) +
                                     " must be of type integer-or-string: \"" + TypeName(value) +
                                     "\""});
        return;
      }
    } else if (!node.type.empty() && !TypeMatches(node.type, value)) {
      errors_.push_back({path, "Invalid value: \"" + TypeName(value) + "\": " + InBody(path) +
                                   " must be of type " + node.type + ": \"" + TypeName(value) +
                                   "\""});
      return;
    }
    CheckValue(node, value, path);
    if (value.is_object()) {
      CheckObject(node, value, path, resource || node.embedded_resource);
    } else if (value.is_array()) {
      CheckArray(node, value, path);
    }
    CheckJunctions(node, value, path);
  }

 private:
  void CheckValue(const SchemaNode& node, const Json& value, const std::string& path) {
    if (!node.enum_values.empty() && std::find(node.enum_values.begin(), node.enum_values.end(),
                                               value) == node.enum_values.end()) {
      std::string supported;
      for (const Json& e : node.enum_values) {
        supported += (supported.empty() ? "" : ", ") + Quoted(e);
      }
      errors_.push_back(
          {path, "Unsupported value: " + Quoted(value) + ": supported values: " + supported});
    }
    if (value.is_string()) {
      const std::string& s = value.get_ref<const std::string&>();
      if (!node.format.empty() && !FormatMatches(node.format, s)) {
        errors_.push_back({path, "Invalid value: " + Excerpt(value) + ": " + InBody(path) +
                                     " must be of type " + node.format + ": " + Excerpt(value)});
      }
      // Lengths count characters (UTF-8 code points), as Kubernetes does.
      auto length = static_cast<int64_t>(
          std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
      if (node.max_length && length > *node.max_length) {
        errors_.push_back({path, "Too long: may not be more than " +
                                     std::to_string(*node.max_length) + " bytes"});
      }
      if (node.min_length && length < *node.min_length) {
        Invalid(path, value,
                "should be at least " + std::to_string(*node.min_length) + " chars long");
      }
      if (node.pattern && !node.pattern->Search(s)) {
        Invalid(path, value, "should match '" + node.pattern_text + "'");
      }
    }
    if (value.is_number()) {
      double d = value.get<double>();
      if (node.minimum) {
        if (node.exclusive_minimum && d <= *node.minimum) {
          Invalid(path, value, "should be greater than " + FormatNumber(*node.minimum));
        } else if (!node.exclusive_minimum && d < *node.minimum) {
          Invalid(path, value, "should be greater than or equal to " + FormatNumber(*node.minimum));
        }
      }
      if (node.maximum) {
        if (node.exclusive_maximum && d >= *node.maximum) {
          Invalid(path, value, "should be less than " + FormatNumber(*node.maximum));
        } else if (!node.exclusive_maximum && d > *node.maximum) {
          Invalid(path, value, "should be less than or equal to " + FormatNumber(*node.maximum));
        }
      }
      if (node.multiple_of) {
        double q = d / *node.multiple_of;
        if (std::fabs(q - std::round(q)) > 1e-9) {
          Invalid(path, value, "should be a multiple of " + FormatNumber(*node.multiple_of));
        }
      }
      if (node.format == "int32" && IsIntegral(value) &&
          (d < static_cast<double>(INT32_MIN) || d > static_cast<double>(INT32_MAX))) {
        Invalid(path, value, "must be of type int32: " + Dump(value));
      }
    }
  }

  void CheckObject(const SchemaNode& node, const Json& value, const std::string& path,
                   bool resource) {
    auto count = static_cast<int64_t>(value.size());
    if (node.max_properties && count > *node.max_properties) {
      errors_.push_back({path, "Too many: " + std::to_string(count) + ": must have at most " +
                                   std::to_string(*node.max_properties) + " items"});
    }
    if (node.min_properties && count < *node.min_properties) {
      Invalid(path, Json(count),
              "should have at least " + std::to_string(*node.min_properties) + " properties");
    }
    for (const std::string& name : node.required) {
      if (!value.contains(name)) {
        errors_.push_back({Child(path, name), "Required value"});
      }
    }
    for (const auto& [key, child] : value.items()) {
      std::string child_path = Child(path, key);
      auto it = node.properties.find(key);
      bool implicit = resource && (key == "apiVersion" || key == "kind" || key == "metadata");
      if (it != node.properties.end()) {
        // Only what the schema declares for metadata is checked; ObjectMeta does the rest.
        bool outer = in_metadata_;
        in_metadata_ = in_metadata_ || (implicit && key == "metadata");
        Check(*it->second, child, child_path, false);
        in_metadata_ = outer;
        continue;
      }
      if (implicit) {
        continue;
      }
      if (node.additional_properties) {
        Check(*node.additional_properties, child, child_path, false);
      } else if (node.additional_properties_allowed.has_value()) {
        if (!*node.additional_properties_allowed) {
          errors_.push_back({child_path, "Forbidden: additional properties are not allowed"});
        }
      } else if (!node.preserve_unknown && !node.junctor && !in_metadata_) {
        errors_.push_back({child_path, "field not declared in schema"});
      }
    }
  }

  void CheckArray(const SchemaNode& node, const Json& value, const std::string& path) {
    auto count = static_cast<int64_t>(value.size());
    if (node.max_items && count > *node.max_items) {
      errors_.push_back({path, "Too many: " + std::to_string(count) + ": must have at most " +
                                   std::to_string(*node.max_items) + " items"});
    }
    if (node.min_items && count < *node.min_items) {
      Invalid(path, Json(count),
              "should have at least " + std::to_string(*node.min_items) + " items");
    }
    if (node.unique_items || node.list_type == "set" || node.list_type == "map") {
      std::set<Json> seen;  // O(n log n): a huge list must not stall the API server
      for (size_t i = 0; i < value.size(); ++i) {
        Json key = ListKey(node, value[i]);
        if (!seen.insert(key).second) {
          errors_.push_back({Index(path, i), "Duplicate value: " + ShowKey(node, key)});
        }
      }
    }
    if (node.items) {
      for (size_t i = 0; i < value.size(); ++i) {
        Check(*node.items, value[i], Index(path, i), false);
      }
    }
  }

  static Json ListKey(const SchemaNode& node, const Json& item) {
    if (node.list_type != "map" || !item.is_object()) {
      return item;
    }
    Json key = Json::object();
    for (const std::string& k : node.list_keys) {
      key[k] = item.contains(k) ? item.at(k) : Json();
    }
    return key;
  }

  static std::string ShowKey(const SchemaNode& node, const Json& key) {
    return node.list_type == "map" ? Dump(key) : Show(key);
  }

  void CheckJunctions(const SchemaNode& node, const Json& value, const std::string& path) {
    for (const auto& sub : node.all_of) {
      Check(*sub, value, path, false);
    }
    if (!node.any_of.empty()) {
      bool any = std::any_of(node.any_of.begin(), node.any_of.end(),
                             [&](const auto& sub) { return Passes(*sub, value, path); });
      if (!any) {
        Invalid(path, value, "must validate at least one schema (anyOf)");
      }
    }
    if (!node.one_of.empty()) {
      auto valid = std::count_if(node.one_of.begin(), node.one_of.end(),
                                 [&](const auto& sub) { return Passes(*sub, value, path); });
      if (valid == 0) {
        Invalid(path, value, "must validate one and only one schema (oneOf). Found none valid");
      } else if (valid > 1) {
        Invalid(path, value,
                "must validate one and only one schema (oneOf). Found " + std::to_string(valid) +
                    " valid alternatives");
      }
    }
    if (node.not_schema && Passes(*node.not_schema, value, path)) {
      Invalid(path, value, "must not validate the schema (not)");
    }
  }

  static bool Passes(const SchemaNode& node, const Json& value, const std::string& path) {
    FieldErrors scratch;
    Validator(scratch).Check(node, value, path, false);
    return scratch.empty();
  }

  FieldErrors& errors_;
  bool in_metadata_ = false;  // inside a resource's metadata: undeclared fields are ObjectMeta's
};

// --- defaulting and pruning -------------------------------------------------------------------

void Default(const SchemaNode& node, Json& value) {
  if (value.is_object()) {
    for (const auto& [name, child] : node.properties) {
      auto it = value.find(name);
      if (it != value.end() && it->is_null() && !child->nullable) {
        value.erase(it);
        it = value.end();
      }
      if (it == value.end() && child->default_value) {
        value[name] = *child->default_value;
      }
    }
    for (auto it = value.begin(); it != value.end(); ++it) {
      auto prop = node.properties.find(it.key());
      if (prop != node.properties.end()) {
        Default(*prop->second, *it);
      } else if (node.additional_properties) {
        Default(*node.additional_properties, *it);
      }
    }
  } else if (value.is_array() && node.items) {
    for (Json& item : value) {
      Default(*node.items, item);
    }
  }
}

void PruneNode(const SchemaNode& node, Json& value, bool resource) {
  if (value.is_object()) {
    bool keep_meta = resource || node.embedded_resource;
    for (auto it = value.begin(); it != value.end();) {
      const std::string& key = it.key();
      auto prop = node.properties.find(key);
      if (prop != node.properties.end()) {
        if (!(keep_meta && key == "metadata")) {
          PruneNode(*prop->second, *it, false);
        }
        ++it;
      } else if (keep_meta && (key == "apiVersion" || key == "kind" || key == "metadata")) {
        ++it;
      } else if (node.additional_properties) {
        PruneNode(*node.additional_properties, *it, false);
        ++it;
      } else if (node.preserve_unknown || node.additional_properties_allowed.value_or(false)) {
        ++it;
      } else {
        it = value.erase(it);
      }
    }
  } else if (value.is_array() && node.items) {
    for (Json& item : value) {
      PruneNode(*node.items, item, false);
    }
  }
}

// Checks every default against the schema it sits in (Kubernetes refuses such CRDs).
Status CheckDefaults(const SchemaNode& node, const std::string& path) {
  if (node.default_value) {
    FieldErrors errors;
    Json value = *node.default_value;
    Default(node, value);
    Validator(errors).Check(node, value, "", false);
    if (!errors.empty()) {
      return InvalidArgumentError(path + ".default: " + errors.front().ToString());
    }
  }
  for (const auto& [name, child] : node.properties) {
    RETURN_IF_ERROR(CheckDefaults(*child, path + ".properties[" + name + "]"));
  }
  if (node.items) {
    RETURN_IF_ERROR(CheckDefaults(*node.items, path + ".items"));
  }
  if (node.additional_properties) {
    RETURN_IF_ERROR(CheckDefaults(*node.additional_properties, path + ".additionalProperties"));
  }
  return OkStatus();
}

}  // namespace

StatusOr<Schema> Schema::Compile(const Json& open_api_v3_schema) {
  static const std::string kRoot = "openAPIV3Schema";
  ASSIGN_OR_RETURN(std::unique_ptr<SchemaNode> root,
                   CompileNode(open_api_v3_schema, kRoot, /*junctor=*/false, /*depth=*/0));
  if (root->type != "object") {
    return InvalidArgumentError(kRoot + ".type: Unsupported value: \"" + root->type +
                                "\": supported values: \"object\"");
  }
  auto meta = root->properties.find("metadata");
  if (meta != root->properties.end()) {
    for (const auto& [name, child] : meta->second->properties) {
      if (name != "name" && name != "generateName") {
        return InvalidArgumentError(kRoot + ".properties[metadata].properties[" + name +
                                    "]: Forbidden: only name and generateName may be specified");
      }
    }
  }
  RETURN_IF_ERROR(CheckDefaults(*root, kRoot));
  Schema schema;
  schema.raw_ = open_api_v3_schema;
  schema.root_ = std::move(root);
  return schema;
}

FieldErrors Schema::Validate(const Json& object) const {
  FieldErrors errors;
  Validator(errors).Check(*root_, object, "", /*resource=*/true);
  return errors;
}

void Schema::ApplyDefaults(Json& object) const { Default(*root_, object); }

void Schema::Prune(Json& object) const { PruneNode(*root_, object, /*resource=*/true); }

// --- OpenAPI v2 -------------------------------------------------------------------------------

namespace {

Json ToV2(const Json& v3_schema, int depth) {
  if (!v3_schema.is_object() || depth > kMaxSchemaDepth) {
    return Json::object();
  }
  Json out = Json::object();
  auto flag = [&](const char* key) {
    auto it = v3_schema.find(key);
    return it != v3_schema.end() && it->is_boolean() && it->get<bool>();
  };
  bool nullable = flag("nullable");
  bool int_or_string = flag("x-kubernetes-int-or-string");
  for (const auto& [key, value] : v3_schema.items()) {
    if (key == "oneOf" || key == "anyOf" || key == "not" || key == "nullable" ||
        key == "x-kubernetes-validations") {
      continue;
    }
    if ((nullable || int_or_string) &&
        (key == "type" || key == "items" || key == "properties" || key == "additionalProperties")) {
      continue;
    }
    if (key == "properties" && value.is_object()) {
      Json props = Json::object();
      for (const auto& [name, sub] : value.items()) {
        props[name] = ToV2(sub, depth + 1);
      }
      out[key] = std::move(props);
    } else if ((key == "items" || key == "additionalProperties") && value.is_object()) {
      out[key] = ToV2(value, depth + 1);
    } else if (key == "allOf" && value.is_array()) {
      Json list = Json::array();
      for (const Json& sub : value) {
        list.push_back(ToV2(sub, depth + 1));
      }
      out[key] = std::move(list);
    } else {
      out[key] = value;
    }
  }
  return out;
}

}  // namespace

Json ToOpenApiV2(const Json& v3_schema) { return ToV2(v3_schema, 0); }

}  // namespace lifeboat::api::openapi
