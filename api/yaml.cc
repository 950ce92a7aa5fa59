#include "api/yaml.h"

#include <yaml-cpp/eventhandler.h>
#include <yaml-cpp/parser.h>
#include <yaml-cpp/yaml.h>

#include <cmath>
#include <cstdlib>
#include <limits>
#include <map>
#include <set>
#include <sstream>
#include <vector>

#include "api/codec.h"

namespace lifeboat::api {
namespace {

constexpr int kMaxDepth = 100;
constexpr size_t kMaxNodes = 200'000;
constexpr size_t kMaxInputBytes = 64 * 1024 * 1024;

// Plain-scalar resolution and checks shared by the builder.
struct Scalars {
  const std::string& file;
  int fallback_line;

  Status Error(const YAML::Mark& mark, const std::string& what) const {
    int line = mark.line >= 0 ? mark.line + 1 : fallback_line;
    return InvalidArgumentError(file + ":" + std::to_string(line) + ": " + what);
  }

  StatusOr<Json> Convert(const YAML::Mark& mark, const std::string& tag,
                         const std::string& text) const {
    if (!IsValidUtf8(text)) {
      return Error(mark, "invalid UTF-8 (or a Unicode noncharacter) in a value");
    }
    if (tag == "!" || tag == "tag:yaml.org,2002:str") {
      return Json(text);  // quoted or explicitly a string
    }
    if (tag == "?" || tag.empty()) {
      return Resolve(mark, text);
    }
    if (tag == "tag:yaml.org,2002:int" || tag == "tag:yaml.org,2002:float" ||
        tag == "tag:yaml.org,2002:bool" || tag == "tag:yaml.org,2002:null") {
      ASSIGN_OR_RETURN(Json value, Resolve(mark, text));
      bool matches = (tag == "tag:yaml.org,2002:int" && value.is_number_integer()) ||
                     (tag == "tag:yaml.org,2002:float" && value.is_number()) ||
                     (tag == "tag:yaml.org,2002:bool" && value.is_boolean()) ||
                     (tag == "tag:yaml.org,2002:null" && value.is_null());
      if (!matches) {
        return Error(mark, Quote(text) + " does not match its tag " + Quote(tag));
      }
      return value;
    }
    return Error(mark, "unsupported tag " + Quote(tag));
  }

  // YAML 1.2 core schema resolution of a plain scalar.
  StatusOr<Json> Resolve(const YAML::Mark& mark, const std::string& s) const {
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
      return Error(mark, Quote(s) + " (infinity/NaN) cannot be represented in JSON");
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
          return Error(mark, "integer " + Quote(s) + " is too large");
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
          return ParseFloat(mark, s);  // beyond 64 bits: a float, as YAML parsers do
        }
        value = value * 10 + d;
      }
      if (negative && value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1) {
        return ParseFloat(mark, s);
      }
      return JsonInteger(value, negative);
    }
    if (IsFloatSyntax(body)) {
      return ParseFloat(mark, s);
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

  StatusOr<Json> ParseFloat(const YAML::Mark& mark, const std::string& s) const {
    char* end = nullptr;
    double value = std::strtod(s.c_str(), &end);
    if (end != s.c_str() + s.size()) {
      return Json(s);
    }
    if (!std::isfinite(value)) {
      return Error(mark, "number " + Quote(s) + " is out of range");
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
      // Noncharacters (U+FFFE, U+FFFF, ...) do not survive yaml-cpp's reader: reject them too.
      bool noncharacter = (cp & 0xFFFE) == 0xFFFE || (cp >= 0xFDD0 && cp <= 0xFDEF);
      if (overlong || noncharacter || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
        return false;
      }
      i += n + 1;
    }
    return true;
  }
};

size_t CountNodes(const Json& j) {
  size_t n = 1;
  if (j.is_array() || j.is_object()) {
    for (const Json& child : j) {
      n += CountNodes(child);
    }
  }
  return n;
}

// Builds one document's JSON straight from yaml-cpp's parse events, recording the line of every
// field, resolving anchors/aliases, and bounding depth and size. The first error wins; later
// events of the document are ignored.
class JsonBuilder final : public YAML::EventHandler {
 public:
  JsonBuilder(const std::string& file, Document* doc) : file_(file), doc_(doc) {}

  const Status& status() const { return status_; }
  bool has_root() const { return has_root_; }
  Json TakeRoot() { return std::move(root_); }

  const YAML::Mark& start() const { return start_; }

  void OnDocumentStart(const YAML::Mark& mark) override { start_ = mark; }
  void OnDocumentEnd() override {}

  void OnNull(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    Add(Json(nullptr), mark, anchor);
  }

  void OnAlias(const YAML::Mark& mark, YAML::anchor_t anchor) override {
    if (!status_.ok()) {
      return;
    }
    auto it = anchors_.find(anchor);
    if (it == anchors_.end()) {
      Fail(mark, "alias to an unknown anchor");
      return;
    }
    nodes_ += it->second.nodes;
    if (nodes_ > kMaxNodes) {
      Fail(mark, "document too large (more than 200000 nodes; aliases expand)");
      return;
    }
    Add(it->second.value, mark, YAML::NullAnchor, /*counted=*/true);
  }

  void OnScalar(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                const std::string& value) override {
    if (!status_.ok()) {
      return;
    }
    if (ExpectingKey()) {
      if (!Scalars::IsValidUtf8(value)) {
        Fail(mark, "invalid UTF-8 (or a Unicode noncharacter) in a key");
        return;
      }
      Add(Json(value), mark, anchor);
      return;
    }
    StatusOr<Json> converted = Scalars{file_, doc_->line}.Convert(mark, tag, value);
    if (!converted.ok()) {
      status_ = converted.status();
      return;
    }
    Add(std::move(converted).value(), mark, anchor);
  }

  void OnSequenceStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                       YAML::EmitterStyle::value) override {
    Open(Json::array(), mark, tag, anchor, "tag:yaml.org,2002:seq");
  }
  void OnSequenceEnd() override { Close(); }

  void OnMapStart(const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
                  YAML::EmitterStyle::value) override {
    Open(Json::object(), mark, tag, anchor, "tag:yaml.org,2002:map");
  }
  void OnMapEnd() override { Close(); }

 private:
  struct Frame {
    Json value;
    std::string path;
    YAML::anchor_t anchor;
    size_t first_node;   // nodes_ when the container opened
    bool expecting_key;  // maps alternate key, value
    std::string key;
  };
  struct Anchored {
    Json value;
    size_t nodes;
  };

  bool ExpectingKey() const {
    return !stack_.empty() && stack_.back().value.is_object() && stack_.back().expecting_key;
  }

  void Fail(const YAML::Mark& mark, const std::string& what) {
    if (status_.ok()) {
      status_ = Scalars{file_, doc_->line}.Error(mark, what);
    }
  }

  // The path a new value gets at the current position (and records its line).
  std::string NextPath(const YAML::Mark& mark) {
    if (stack_.empty()) {
      return "";
    }
    Frame& top = stack_.back();
    std::string path = top.value.is_array() ? Index(top.path, top.value.size())
                                            : Child(top.path, top.key);
    if (top.value.is_array()) {
      doc_->field_lines[path] = mark.line >= 0 ? mark.line + 1 : doc_->line;
    }
    return path;
  }

  void Open(Json empty, const YAML::Mark& mark, const std::string& tag, YAML::anchor_t anchor,
            const std::string& explicit_tag) {
    if (!status_.ok()) {
      return;
    }
    if (!tag.empty() && tag != "?" && tag != "!" && tag != explicit_tag) {
      Fail(mark, "unsupported tag " + Quote(tag));
      return;
    }
    if (ExpectingKey()) {
      Fail(mark, "map keys must be strings");
      return;
    }
    if (stack_.size() >= static_cast<size_t>(kMaxDepth)) {
      Fail(mark, "nesting deeper than 100 levels");
      return;
    }
    if (++nodes_ > kMaxNodes) {
      Fail(mark, "document too large (more than 200000 nodes; aliases expand)");
      return;
    }
    if (stack_.empty()) {
      doc_->line = mark.line >= 0 ? mark.line + 1 : 1;
    }
    std::string path = NextPath(mark);
    stack_.push_back(Frame{std::move(empty), std::move(path), anchor, nodes_, true, ""});
  }

  void Close() {
    if (!status_.ok() || stack_.empty()) {
      return;
    }
    Frame frame = std::move(stack_.back());
    stack_.pop_back();
    if (frame.anchor != YAML::NullAnchor) {
      anchors_[frame.anchor] = Anchored{frame.value, nodes_ - frame.first_node + 1};
    }
    Place(std::move(frame.value));
  }

  void Add(Json value, const YAML::Mark& mark, YAML::anchor_t anchor, bool counted = false) {
    if (!status_.ok()) {
      return;
    }
    if (!counted && ++nodes_ > kMaxNodes) {
      Fail(mark, "document too large (more than 200000 nodes; aliases expand)");
      return;
    }
    if (stack_.empty()) {
      doc_->line = mark.line >= 0 ? mark.line + 1 : 1;
    } else if (ExpectingKey()) {
      Frame& top = stack_.back();
      std::string key = value.is_string() ? value.get<std::string>() : std::string();
      if (!value.is_string() && !value.is_null()) {
        Fail(mark, "map keys must be strings");
        return;
      }
      if (top.value.contains(key)) {
        Fail(mark, "duplicate key " + Quote(key));
        return;
      }
      top.key = key;
      top.expecting_key = false;
      doc_->field_lines[Child(top.path, key)] = mark.line >= 0 ? mark.line + 1 : doc_->line;
      if (anchor != YAML::NullAnchor) {
        anchors_[anchor] = Anchored{value, 1};
      }
      return;
    } else {
      NextPath(mark);
    }
    if (anchor != YAML::NullAnchor) {
      anchors_[anchor] = Anchored{value, counted ? CountNodes(value) : 1};
    }
    Place(std::move(value));
  }

  void Place(Json value) {
    if (stack_.empty()) {
      root_ = std::move(value);
      has_root_ = true;
      return;
    }
    Frame& top = stack_.back();
    if (top.value.is_array()) {
      top.value.push_back(std::move(value));
    } else {
      top.value[top.key] = std::move(value);
      top.expecting_key = true;
    }
  }

  const std::string& file_;
  Document* doc_;
  Status status_;
  std::vector<Frame> stack_;
  std::map<YAML::anchor_t, Anchored> anchors_;
  size_t nodes_ = 0;
  Json root_;
  bool has_root_ = false;
  YAML::Mark start_ = YAML::Mark::null_mark();
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
  if (s.front() == ' ' || s.back() == ' ') {
    return true;  // plain scalars lose surrounding spaces
  }
  for (char ch : s) {
    // Control characters (a lone CR, tabs, ...) only survive escaped in double quotes.
    if (static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f) {
      return true;
    }
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
  std::vector<Document> docs;
  std::istringstream stream{std::string(text)};
  int last_line = 1;
  try {
    YAML::Parser parser(stream);
    int previous_start = -1;
    while (true) {
      Document doc;
      doc.file = file;
      doc.line = last_line;
      JsonBuilder builder(where, &doc);
      if (!parser.HandleNextDocument(builder)) {
        break;
      }
      RETURN_IF_ERROR(builder.status());
      // yaml-cpp 0.7 keeps returning empty documents at the same position after some malformed
      // flow content ("{a: b}, {c: d}"): a document that did not advance is that loop.
      if (builder.start().pos == previous_start) {
        int line = builder.start().line >= 0 ? builder.start().line + 1 : last_line;
        return InvalidArgumentError(where + ":" + std::to_string(line) +
                                    ": malformed YAML: unexpected content after a value");
      }
      previous_start = builder.start().pos;
      if (!builder.has_root()) {
        continue;
      }
      doc.object = builder.TakeRoot();
      if (doc.object.is_null()) {
        continue;  // an empty document
      }
      last_line = doc.line;
      docs.push_back(std::move(doc));
    }
  } catch (const YAML::Exception& e) {
    int line = e.mark.line >= 0 ? e.mark.line + 1 : last_line;
    return InvalidArgumentError(where + ":" + std::to_string(line) + ": malformed YAML: " + e.msg);
  } catch (const std::exception& e) {
    return InvalidArgumentError(where + ":" + std::to_string(last_line) + ": malformed YAML: " +
                                e.what());
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
