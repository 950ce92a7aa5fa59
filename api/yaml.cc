#include "api/yaml.h"

#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <set>

#include "api/codec.h"

namespace lifeboat::api {
namespace {

constexpr int kMaxDepth = 100;
constexpr size_t kMaxNodes = 200'000;
constexpr size_t kMaxInputBytes = 64 * 1024 * 1024;

struct Converter {
  const std::string& file;
  Document* doc;
  size_t nodes = 0;

  Status Error(const YAML::Mark& mark, const std::string& what) const {
    int line = mark.line >= 0 ? mark.line + 1 : doc->line;
    return InvalidArgumentError(file + ":" + std::to_string(line) + ": " + what);
  }

  static int LineOf(const YAML::Node& node, int fallback) {
    int line = node.Mark().line;
    return line >= 0 ? line + 1 : fallback;
  }

  StatusOr<Json> Convert(const YAML::Node& node, const std::string& path, int depth) {
    if (++nodes > kMaxNodes) {
      return Error(node.Mark(), "document too large (more than 200000 nodes; aliases expand)");
    }
    if (depth > kMaxDepth) {
      return Error(node.Mark(), "nesting deeper than 100 levels");
    }
    switch (node.Type()) {
      case YAML::NodeType::Undefined:
      case YAML::NodeType::Null:
        return Json(nullptr);
      case YAML::NodeType::Scalar:
        return Scalar(node);
      case YAML::NodeType::Sequence: {
        Json out = Json::array();
        size_t i = 0;
        for (const YAML::Node& item : node) {
          std::string item_path = Index(path, i++);
          doc->field_lines[item_path] = LineOf(item, doc->line);
          ASSIGN_OR_RETURN(Json value, Convert(item, item_path, depth + 1));
          out.push_back(std::move(value));
        }
        return out;
      }
      case YAML::NodeType::Map: {
        Json out = Json::object();
        for (auto it = node.begin(); it != node.end(); ++it) {
          YAML::Node key_node = it->first;
          YAML::Node value_node = it->second;
          if (!key_node.IsScalar() && !key_node.IsNull()) {
            return Error(key_node.Mark(), "map keys must be strings");
          }
          std::string key = key_node.IsNull() ? "" : key_node.Scalar();
          if (!IsValidUtf8(key)) {
            return Error(key_node.Mark(), "invalid UTF-8 in a key");
          }
          if (out.contains(key)) {
            return Error(key_node.Mark(), "duplicate key " + Quote(key));
          }
          std::string child = Child(path, key);
          doc->field_lines[child] = LineOf(key_node, doc->line);
          ASSIGN_OR_RETURN(Json value, Convert(value_node, child, depth + 1));
          out[key] = std::move(value);
        }
        return out;
      }
    }
    return Json(nullptr);
  }

  StatusOr<Json> Scalar(const YAML::Node& node) const {
    const std::string& text = node.Scalar();
    if (!IsValidUtf8(text)) {
      return Error(node.Mark(), "invalid UTF-8 in a value");
    }
    const std::string& tag = node.Tag();
    if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      return Json(text);  // quoted or explicitly a string
    }
    if (tag == "?" || tag.empty()) {
      return Resolve(node, text);
    }
    if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
        tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
      ASSIGN_OR_RETURN(Json value, Resolve(node, text));
      bool matches = (tag == "tag:yaml.org,2002:int" && value.is_number_integer()) ||
                     (tag == "tag:yaml.org,2002:float" && value.is_number()) ||
                     (tag == "tag:yaml.org,2002:bool" && value.is_boolean()) ||
                     (tag == "tag:yaml.org,2002:null" && value.is_null());
      if (!matches) {
        return Error(node.Mark(), Quote(text) + " does not match its tag " + Quote(tag));
      }
      return value;
    }
    return Error(node.Mark(), "unsupported tag " + Quote(tag));
  }

  // YAML 1.2 core schema resolution of a plain scalar.
  StatusOr<Json> Resolve(const YAML::Node& node, const std::string& s) const {
    if (s.empty() || s == "~" || s == "null" || s == "Null" || s == "NULL") {
      return Json(nullptr);
    }
    if (s == "true" || s == "True" || s == "TRUE") {
      return Json(true);
    }
    if (s == "false" || s == "False" || s == "FALSE") {
      return Json(false);
    }
    if (s == ".inf" || s == ".Inf" || s == ".INF" || s == "+.inf" || s == "+.Inf" ||
        s == "+.INF" || s == "-.inf" || s == "-.Inf" || s == "-.INF" || s == ".nan" ||
        s == ".NaN" || s == ".NAN") {
      return Error(node.Mark(), Quote(s) + " (infinity/NaN) cannot be represented in JSON");
    }
    size_t i = 0;
    bool negative = false;
    if (s[0] == '+' || s[0] == '-') {
      negative = s[0] == '-';
      i = 1;
    }
    std::string_view body = std::string_view(s).substr(i);
    if (body.empty()) {
      return Json(s);
    }
    // Integers: decimal, 0x hex, 0o octal (unsigned forms only for hex/octal).
    if (i == 0 && body.size() > 2 && body[0] == '0' && (body[1] == 'x' || body[1] == 'o')) {
      int base = body[1] == 'x' ? 16 : 8;
      std::string_view digits = body.substr(2);
      uint64_t value = 0;
      for (char c : digits) {
        int d;
        if (c >= '0' && c <= '9') {
          d = c - '0';
        } else if (base == 16 && c >= 'a' && c <= 'f') {
          d = c - 'a' + 10;
        } else if (base == 16 && c >= 'A' && c <= 'F') {
          d = c - 'A' + 10;
        } else {
          return Json(s);
        }
        if (d >= base) {
          return Json(s);
        }
        if (value > (std::numeric_limits<uint64_t>::max() - static_cast<uint64_t>(d)) /
                        static_cast<uint64_t>(base)) {
          return Error(node.Mark(), "integer " + Quote(s) + " is too large");
        }
        value = value * static_cast<uint64_t>(base) + static_cast<uint64_t>(d);
      }
      return JsonInteger(value, false);
    }
    bool all_digits = true;
    for (char c : body) {
      if (c < '0' || c > '9') {
        all_digits = false;
        break;
      }
    }
    if (all_digits) {
      uint64_t value = 0;
      for (char c : body) {
        uint64_t d = static_cast<uint64_t>(c - '0');
        if (value > (std::numeric_limits<uint64_t>::max() - d) / 10) {
          return ParseFloat(node, s);  // beyond 64 bits: a float, as YAML parsers do
        }
        value = value * 10 + d;
      }
      if (negative && value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
        return ParseFloat(node, s);
      }
      return JsonInteger(value, negative);
    }
    if (IsFloatSyntax(body)) {
      return ParseFloat(node, s);
    }
    return Json(s);
  }

  static Json JsonInteger(uint64_t magnitude, bool negative) {
    if (negative) {
      if (magnitude == static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
        return Json(std::numeric_limits<int64_t>::min());
      }
      return Json(-static_cast<int64_t>(magnitude));
    }
    if (magnitude <= static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      return Json(static_cast<int64_t>(magnitude));
    }
    return Json(magnitude);
  }

  // [0-9]* ( . [0-9]* )? ( [eE] [-+]? [0-9]+ )? with at least one digit in the mantissa.
  static bool IsFloatSyntax(std::string_view b) {
    size_t i = 0;
    size_t mantissa_digits = 0;
    while (i < b.size() && b[i] >= '0' && b[i] <= '9') {
      ++i;
      ++mantissa_digits;
    }
    if (i < b.size() && b[i] == '.') {
      ++i;
      while (i < b.size() && b[i] >= '0' && b[i] <= '9') {
        ++i;
        ++mantissa_digits;
      }
    }
    if (mantissa_digits == 0) {
      return false;
    }
    if (i < b.size() && (b[i] == 'e' || b[i] == 'E')) {
      ++i;
      if (i < b.size() && (b[i] == '+' || b[i] == '-')) {
        ++i;
      }
      size_t exp_digits = 0;
      while (i < b.size() && b[i] >= '0' && b[i] <= '9') {
        ++i;
        ++exp_digits;
      }
      if (exp_digits == 0) {
        return false;
      }
    }
    return i == b.size();
  }

  StatusOr<Json> ParseFloat(const YAML::Node& node, const std::string& s) const {
    char* end = nullptr;
    double value = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size()) {
      return Json(s);
    }
    if (!std::isfinite(value)) {
      return Error(node.Mark(), "number " + Quote(s) + " is out of range");
    }
    return Json(value);
  }

  static bool IsValidUtf8(const std::string& s) {
    size_t i = 0;
    while (i < s.size()) {
      unsigned char c = static_cast<unsigned char>(s[i]);
      size_t n;
      uint32_t cp;
      if (c < 0x80) {
        ++i;
        continue;
      } else if ((c & 0xE0) == 0xC0) {
        n = 1;
        cp = c & 0x1F;
      } else if ((c & 0xF0) == 0xE0) {
        n = 2;
        cp = c & 0x0F;
      } else if ((c & 0xF8) == 0xF0) {
        n = 3;
        cp = c & 0x07;
      } else {
        return false;
      }
      if (i + n >= s.size()) {
        return false;
      }
      for (size_t k = 1; k <= n; ++k) {
        unsigned char cc = static_cast<unsigned char>(s[i + k]);
        if ((cc & 0xC0) != 0x80) {
          return false;
        }
        cp = (cp << 6) | (cc & 0x3F);
      }
      bool overlong = (n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000);
      if (overlong || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return false;
      }
      i += n + 1;
    }
    return true;
  }
};

// True when a plain scalar `s` would be read back as something other than this string.
bool NeedsQuotes(const std::string& s) {
  static const std::set<std::string> kSpecial = {
      "",      "~",     "null",  "Null", "NULL", "true", "True", "TRUE", "false", "False",
      "FALSE", "y",     "Y",     "yes",  "Yes",  "YES",  "n",    "N",    "no",    "No",
      "NO",    "on",    "On",    "ON",   "off",  "Off",  "OFF",  ".inf", ".Inf",  ".INF",
      "-.inf", "+.inf", ".nan",  ".NaN", ".NAN", "<<",   "=",    "-",    "---",   "..."};
  if (kSpecial.count(s) > 0) {
    return true;
  }
  char c = s[0];
  if ((c >= '0' && c <= '9') || c == '+' || c == '-' || c == '.') {
    return true;  // could read as a number
  }
  return false;
}

void Emit(YAML::Emitter& out, const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      out << YAML::Null;
      break;
    case Json::value_t::boolean:
      out << (value.get<bool>() ? "true" : "false");
      break;
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
    case Json::value_t::number_float:
      out << value.dump();
      break;
    case Json::value_t::string: {
      const auto& s = value.get_ref<const std::string&>();
      if (NeedsQuotes(s)) {
        out << YAML::DoubleQuoted << s;
      } else {
        out << s;
      }
      break;
    }
    case Json::value_t::array:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginSeq << YAML::EndSeq;
        break;
      }
      out << YAML::BeginSeq;
      for (const Json& item : value) {
        Emit(out, item);
      }
      out << YAML::EndSeq;
      break;
    case Json::value_t::object:
      if (value.empty()) {
        out << YAML::Flow << YAML::BeginMap << YAML::EndMap;
        break;
      }
      out << YAML::BeginMap;
      for (const auto& [key, item] : value.items()) {
        out << YAML::Key;
        if (NeedsQuotes(key)) {
          out << YAML::DoubleQuoted << key;
        } else {
          out << key;
        }
        out << YAML::Value;
        Emit(out, item);
      }
      out << YAML::EndMap;
      break;
    default:
      out << YAML::Null;
      break;
  }
}

}  // namespace

StatusOr<std::vector<Document>> ParseYamlDocuments(std::string_view text,
                                                   const std::string& file) {
  std::string where = file.empty() ? "<input>" : file;
  if (text.size() > kMaxInputBytes) {
    return InvalidArgumentError(where + ":1: input larger than 64 MiB");
  }
  std::vector<YAML::Node> nodes;
  try {
    nodes = YAML::LoadAll(std::string(text));
  } catch (const YAML::Exception& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : 1;
    return InvalidArgumentError(where + ":" + std::to_string(line) + ": malformed YAML: " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgumentError(where + ":1: malformed YAML: " + e.what());
  }
  std::vector<Document> docs;
  for (const YAML::Node& node : nodes) {
    if (node.IsNull() || !node.IsDefined()) {
      continue;  // empty document
    }
    Document doc;
    doc.file = file;
    doc.line = node.Mark().line >= 0 ? node.Mark().line + 1 : 1;
    Converter converter{where, &doc};
    try {
      ASSIGN_OR_RETURN(doc.object, converter.Convert(node, "", 0));
    } catch (const YAML::Exception& e) {
      int line = e.mark.line >= 0 ? e.mark.line + 1 : doc.line;
      return InvalidArgumentError(where + ":" + std::to_string(line) + ": malformed YAML: " +
                                  e.msg);
    }
    docs.push_back(std::move(doc));
  }
  return docs;
}

std::string ToYaml(const Json& value) {
  YAML::Emitter out;
  out.SetIndent(2);
  Emit(out, value);
  std::string text = out.c_str();
  if (text.empty() || text.back() != '\n') {
    text.push_back('\n');
  }
  return text;
}

}  // namespace lifeboat::api
