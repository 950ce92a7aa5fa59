#include "apiserver/selector.h"

#include <algorithm>
#include <cctype>

namespace lifeboat::apiserver {
namespace {

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) {
    return "";
  }
  size_t e = s.find_last_not_of(" \t");
  return s.substr(b, e - b + 1);
}

// Splits on commas that are not inside parentheses.
StatusOr<std::vector<std::string>> SplitTerms(const std::string& text) {
  std::vector<std::string> terms;
  std::string current;
  int depth = 0;
  for (char c : text) {
    if (c == '(') {
      ++depth;
    } else if (c == ')') {
      if (--depth < 0) {
        return InvalidArgumentError("unbalanced parentheses in selector \"" + text + "\"");
      }
    }
    if (c == ',' && depth == 0) {
      terms.push_back(Trim(current));
      current.clear();
    } else {
      current += c;
    }
  }
  if (depth != 0) {
    return InvalidArgumentError("unbalanced parentheses in selector \"" + text + "\"");
  }
  if (!Trim(current).empty() || !terms.empty()) {
    terms.push_back(Trim(current));
  }
  return terms;
}

bool ValidKey(const std::string& key) {
  if (key.empty() || key.size() > 316) {
    return false;
  }
  return std::all_of(key.begin(), key.end(), [](char c) {
    return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.' ||
           c == '/';
  });
}

bool ValidValue(const std::string& value) {
  return value.size() <= 63 && std::all_of(value.begin(), value.end(), [](char c) {
           return std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.';
         });
}

}  // namespace

StatusOr<LabelSelector> LabelSelector::Parse(const std::string& text) {
  LabelSelector selector;
  ASSIGN_OR_RETURN(std::vector<std::string> terms, SplitTerms(text));
  for (const std::string& term : terms) {
    auto bad = [&](const std::string& why) {
      return InvalidArgumentError("unable to parse requirement \"" + term + "\": " + why);
    };
    if (term.empty()) {
      return bad("empty requirement");
    }
    Requirement req;
    size_t pos;
    if (term[0] == '!') {
      req.key = Trim(term.substr(1));
      req.op = Op::kNotExists;
    } else if ((pos = term.find("!=")) != std::string::npos) {
      req.key = Trim(term.substr(0, pos));
      req.op = Op::kNotEquals;
      req.values.push_back(Trim(term.substr(pos + 2)));
    } else if ((pos = term.find("==")) != std::string::npos) {
      req.key = Trim(term.substr(0, pos));
      req.op = Op::kEquals;
      req.values.push_back(Trim(term.substr(pos + 2)));
    } else if ((pos = term.find('=')) != std::string::npos) {
      req.key = Trim(term.substr(0, pos));
      req.op = Op::kEquals;
      req.values.push_back(Trim(term.substr(pos + 1)));
    } else if ((pos = term.find('(')) != std::string::npos) {
      std::string head = Trim(term.substr(0, pos));
      if (term.back() != ')') {
        return bad("expected ')' at the end");
      }
      size_t space = head.find_last_of(" \t");
      if (space == std::string::npos) {
        return bad("expected 'in' or 'notin'");
      }
      std::string op = head.substr(space + 1);
      req.key = Trim(head.substr(0, space));
      if (op == "in") {
        req.op = Op::kIn;
      } else if (op == "notin") {
        req.op = Op::kNotIn;
      } else {
        return bad("unknown operator \"" + op + "\" (expected in or notin)");
      }
      std::string inner = term.substr(pos + 1, term.size() - pos - 2);
      size_t start = 0;
      while (true) {
        size_t comma = inner.find(',', start);
        std::string v = Trim(inner.substr(start, comma == std::string::npos ? std::string::npos
                                                                            : comma - start));
        req.values.push_back(v);
        if (comma == std::string::npos) {
          break;
        }
        start = comma + 1;
      }
    } else {
      req.key = term;
      req.op = Op::kExists;
    }
    if (!ValidKey(req.key)) {
      return bad("invalid label key \"" + req.key + "\"");
    }
    for (const std::string& v : req.values) {
      if (!ValidValue(v)) {
        return bad("invalid label value \"" + v + "\"");
      }
    }
    selector.requirements_.push_back(std::move(req));
  }
  return selector;
}

bool LabelSelector::Matches(const Labels& labels) const {
  for (const Requirement& req : requirements_) {
    auto it = std::lower_bound(
        labels.begin(), labels.end(), req.key,
        [](const std::pair<std::string, std::string>& l, const std::string& k) {
          return l.first < k;
        });
    const std::string* value = (it != labels.end() && it->first == req.key) ? &it->second : nullptr;
    bool in_values =
        value && std::find(req.values.begin(), req.values.end(), *value) != req.values.end();
    switch (req.op) {
      case Op::kEquals:
      case Op::kIn:
        if (!in_values) {
          return false;
        }
        break;
      case Op::kNotEquals:
      case Op::kNotIn:
        if (in_values) {
          return false;
        }
        break;
      case Op::kExists:
        if (!value) {
          return false;
        }
        break;
      case Op::kNotExists:
        if (value) {
          return false;
        }
        break;
    }
  }
  return true;
}

StatusOr<FieldSelector> FieldSelector::Parse(const std::string& text,
                                             const std::vector<std::string>& selectable) {
  FieldSelector selector;
  ASSIGN_OR_RETURN(std::vector<std::string> terms, SplitTerms(text));
  for (const std::string& term : terms) {
    Requirement req;
    size_t pos;
    size_t op_len;
    if ((pos = term.find("!=")) != std::string::npos) {
      req.equals = false;
      op_len = 2;
    } else if ((pos = term.find("==")) != std::string::npos) {
      req.equals = true;
      op_len = 2;
    } else if ((pos = term.find('=')) != std::string::npos) {
      req.equals = true;
      op_len = 1;
    } else {
      return InvalidArgumentError("invalid field selector \"" + term +
                                  "\": expected field=value or field!=value");
    }
    std::string field = Trim(term.substr(0, pos));
    req.value = Trim(term.substr(pos + op_len));
    if (field == "metadata.name") {
      req.field = Field::kName;
    } else if (field == "metadata.namespace") {
      req.field = Field::kNamespace;
    } else if (std::find(selectable.begin(), selectable.end(), field) != selectable.end()) {
      req.field = Field::kOther;
      size_t start = 0;
      while (true) {
        size_t dot = field.find('.', start);
        req.path.push_back(field.substr(start, dot == std::string::npos ? dot : dot - start));
        if (dot == std::string::npos) {
          break;
        }
        start = dot + 1;
      }
      selector.needs_object_ = true;
    } else {
      return InvalidArgumentError("field label not supported: " + field);
    }
    selector.requirements_.push_back(std::move(req));
  }
  return selector;
}

namespace {

// The text of the field at `path` as a field selector compares it ("" when missing).
std::string FieldText(const Json* object, const std::vector<std::string>& path) {
  const Json* node = object;
  for (const std::string& part : path) {
    if (node == nullptr || !node->is_object()) {
      return "";
    }
    auto it = node->find(part);
    node = it == node->end() ? nullptr : &*it;
  }
  if (node == nullptr || node->is_null() || node->is_structured()) {
    return "";
  }
  return node->is_string() ? node->get<std::string>() : node->dump();
}

}  // namespace

bool FieldSelector::Matches(const std::string& ns, const std::string& name,
                            const Json* object) const {
  for (const Requirement& req : requirements_) {
    std::string actual = req.field == Field::kName        ? name
                         : req.field == Field::kNamespace ? ns
                                                          : FieldText(object, req.path);
    if ((actual == req.value) != req.equals) {
      return false;
    }
  }
  return true;
}

std::string FieldSelector::RequiredName() const {
  for (const Requirement& req : requirements_) {
    if (req.field == Field::kName && req.equals) {
      return req.value;
    }
  }
  return "";
}

}  // namespace lifeboat::apiserver
