#include "apiserver/jsonpath.h"

#include <cctype>

namespace lifeboat::apiserver {
namespace {

bool IsNameChar(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '-' || c == '/';
}

const Json* Lookup(const Json& node, const std::vector<std::string>& path) {
  const Json* current = &node;
  for (const std::string& field : path) {
    if (!current->is_object()) {
      return nullptr;
    }
    auto it = current->find(field);
    if (it == current->end()) {
      return nullptr;
    }
    current = &*it;
  }
  return current;
}

}  // namespace

StatusOr<JsonPath> JsonPath::Parse(const std::string& expression) {
  JsonPath path;
  path.expression_ = expression;
  std::string s = expression;
  if (!s.empty() && s.front() == '{') {
    if (s.back() != '}') {
      return InvalidArgumentError("JSONPath \"" + expression + "\": unclosed '{'");
    }
    s = s.substr(1, s.size() - 2);
  }
  size_t i = 0;
  if (i < s.size() && s[i] == '$') {
    ++i;
  }
  auto error = [&](const std::string& why) {
    return InvalidArgumentError("JSONPath \"" + expression + "\" at position " +
                                std::to_string(i) + ": " + why);
  };
  auto parse_literal = [&](Json* out) -> Status {
    while (i < s.size() && s[i] == ' ') {
      ++i;
    }
    if (i < s.size() && (s[i] == '"' || s[i] == '\'')) {
      char quote = s[i++];
      size_t end = s.find(quote, i);
      if (end == std::string::npos) {
        return error("unterminated string");
      }
      *out = s.substr(i, end - i);
      i = end + 1;
      return OkStatus();
    }
    size_t start = i;
    while (i < s.size() && s[i] != ')' && s[i] != ' ') {
      ++i;
    }
    std::string word = s.substr(start, i - start);
    Json parsed = Json::parse(word, nullptr, false);
    if (parsed.is_discarded()) {
      return error("invalid literal \"" + word + "\"");
    }
    *out = parsed;
    return OkStatus();
  };
  while (i < s.size()) {
    Step step;
    if (s[i] == '.') {
      ++i;
      if (i < s.size() && s[i] == '*') {
        ++i;
        step.kind = Step::Kind::kWildcard;
      } else {
        size_t start = i;
        while (i < s.size() && IsNameChar(s[i])) {
          ++i;
        }
        if (i == start) {
          if (i == s.size()) {
            break;  // "." alone selects the root
          }
          return error("expected a field name");
        }
        step.field = s.substr(start, i - start);
      }
    } else if (s[i] == '[') {
      ++i;
      if (i < s.size() && (s[i] == '\'' || s[i] == '"')) {
        char quote = s[i++];
        size_t end = s.find(quote, i);
        if (end == std::string::npos || end + 1 >= s.size() || s[end + 1] != ']') {
          return error("unterminated quoted field");
        }
        step.field = s.substr(i, end - i);
        i = end + 2;
      } else if (i < s.size() && s[i] == '*') {
        if (i + 1 >= s.size() || s[i + 1] != ']') {
          return error("expected ']'");
        }
        step.kind = Step::Kind::kWildcard;
        i += 2;
      } else if (s.compare(i, 3, "?(@") == 0) {
        i += 3;
        step.kind = Step::Kind::kFilter;
        while (i < s.size() && s[i] == '.') {
          ++i;
          size_t start = i;
          while (i < s.size() && IsNameChar(s[i])) {
            ++i;
          }
          if (i == start) {
            return error("expected a field name in the filter");
          }
          step.filter_path.push_back(s.substr(start, i - start));
        }
        while (i < s.size() && s[i] == ' ') {
          ++i;
        }
        if (s.compare(i, 2, "==") == 0 || s.compare(i, 2, "!=") == 0) {
          step.op = s.substr(i, 2);
          i += 2;
          RETURN_IF_ERROR(parse_literal(&step.literal));
          while (i < s.size() && s[i] == ' ') {
            ++i;
          }
        }
        if (s.compare(i, 2, ")]") != 0) {
          return error("expected ')]' closing the filter");
        }
        i += 2;
      } else {
        size_t start = i;
        if (i < s.size() && s[i] == '-') {
          ++i;
        }
        while (i < s.size() && std::isdigit(static_cast<unsigned char>(s[i]))) {
          ++i;
        }
        if (i == start || i >= s.size() || s[i] != ']') {
          return error("expected an index, '*', a quoted field or a filter");
        }
        step.kind = Step::Kind::kIndex;
        step.index = std::stol(s.substr(start, i - start));
        ++i;
      }
    } else {
      return error(std::string("unexpected '") + s[i] + "'");
    }
    path.steps_.push_back(std::move(step));
  }
  return path;
}

std::vector<const Json*> JsonPath::Evaluate(const Json& root) const {
  std::vector<const Json*> current{&root};
  for (const Step& step : steps_) {
    std::vector<const Json*> next;
    for (const Json* node : current) {
      switch (step.kind) {
        case Step::Kind::kField:
          if (node->is_object()) {
            auto it = node->find(step.field);
            if (it != node->end()) {
              next.push_back(&*it);
            }
          }
          break;
        case Step::Kind::kIndex:
          if (node->is_array()) {
            long n = static_cast<long>(node->size());
            long idx = step.index < 0 ? n + step.index : step.index;
            if (idx >= 0 && idx < n) {
              next.push_back(&(*node)[static_cast<size_t>(idx)]);
            }
          }
          break;
        case Step::Kind::kWildcard:
          if (node->is_array() || node->is_object()) {
            for (const Json& child : *node) {
              next.push_back(&child);
            }
          }
          break;
        case Step::Kind::kFilter:
          if (node->is_array()) {
            for (const Json& child : *node) {
              const Json* value = Lookup(child, step.filter_path);
              bool keep;
              if (step.op.empty()) {
                keep = value != nullptr;
              } else if (step.op == "==") {
                keep = value != nullptr && *value == step.literal;
              } else {
                keep = value == nullptr || *value != step.literal;
              }
              if (keep) {
                next.push_back(&child);
              }
            }
          }
          break;
      }
    }
    current = std::move(next);
  }
  return current;
}

}  // namespace lifeboat::apiserver
