#include "api/openapi/regex.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace lifeboat::api::openapi {
namespace {

constexpr char32_t kMaxCodePoint = 0x10FFFF;
constexpr int kMaxNesting = 100;  // groups inside groups
constexpr int kMaxRepeat = 1000;  // largest n in {n} / {n,m}, as RE2
constexpr size_t kMaxInstructions = 100000;

using Range = std::pair<char32_t, char32_t>;  // inclusive

struct CharClass {
  std::vector<Range> ranges;  // sorted, merged

  bool Contains(char32_t c) const {
    auto it = std::upper_bound(ranges.begin(), ranges.end(), Range{c, kMaxCodePoint},
                               [](const Range& a, const Range& b) { return a.first < b.first; });
    return it != ranges.begin() && std::prev(it)->second >= c;
  }
};

void Normalize(std::vector<Range>& ranges) {
  std::sort(ranges.begin(), ranges.end());
  std::vector<Range> merged;
  for (const Range& r : ranges) {
    if (!merged.empty() && r.first <= merged.back().second + 1) {
      merged.back().second = std::max(merged.back().second, r.second);
    } else {
      merged.push_back(r);
    }
  }
  ranges = std::move(merged);
}

std::vector<Range> Complement(std::vector<Range> ranges) {
  Normalize(ranges);
  std::vector<Range> out;
  char32_t next = 0;
  for (const Range& r : ranges) {
    if (r.first > next) {
      out.push_back({next, r.first - 1});
    }
    next = r.second + 1;
  }
  if (next <= kMaxCodePoint) {
    out.push_back({next, kMaxCodePoint});
  }
  return out;
}

const std::vector<Range>& Digits() {
  static const std::vector<Range> kDigits = {{'0', '9'}};
  return kDigits;
}
const std::vector<Range>& WordChars() {
  static const std::vector<Range> kWord = {{'0', '9'}, {'A', 'Z'}, {'_', '_'}, {'a', 'z'}};
  return kWord;
}
const std::vector<Range>& Spaces() {
  static const std::vector<Range> kSpace = {{'\t', '\n'}, {'\f', '\r'}, {' ', ' '}};  // RE2
  return kSpace;
}

// --- syntax tree -------------------------------------------------------------------------------

struct Node {
  enum Kind { kEmpty, kClass, kBegin, kEnd, kConcat, kAlternate, kRepeat } kind = kEmpty;
  int class_index = -1;
  std::vector<std::unique_ptr<Node>> children;
  int min = 0;
  int max = -1;  // -1 = unbounded
};

std::unique_ptr<Node> MakeNode(Node::Kind kind) {
  auto node = std::make_unique<Node>();
  node->kind = kind;
  return node;
}

std::vector<char32_t> DecodeUtf8(std::string_view text) {
  std::vector<char32_t> out;
  out.reserve(text.size());
  size_t i = 0;
  while (i < text.size()) {
    auto b = static_cast<unsigned char>(text[i]);
    int extra = b < 0x80           ? 0
                : (b >> 5) == 0x6  ? 1
                : (b >> 4) == 0xE  ? 2
                : (b >> 3) == 0x1E ? 3
                                   : -1;
    char32_t cp = extra == 0 ? b : extra == 1 ? (b & 0x1F) : extra == 2 ? (b & 0x0F) : (b & 0x07);
    bool ok = extra >= 0 && i + static_cast<size_t>(extra) < text.size();
    for (int k = 1; ok && k <= extra; ++k) {
      auto c = static_cast<unsigned char>(text[i + static_cast<size_t>(k)]);
      ok = (c & 0xC0) == 0x80;
      cp = (cp << 6) | (c & 0x3F);
    }
    if (!ok) {
      out.push_back(b);  // an invalid byte stands for itself
      ++i;
      continue;
    }
    out.push_back(cp);
    i += static_cast<size_t>(extra) + 1;
  }
  return out;
}

class Parser {
 public:
  Parser(std::string_view pattern, std::vector<CharClass>& classes)
      : text_(DecodeUtf8(pattern)), classes_(classes) {}

  StatusOr<std::unique_ptr<Node>> Parse() {
    ASSIGN_OR_RETURN(auto node, ParseAlternation(0));
    if (pos_ < text_.size()) {
      return Error("unmatched ')'");
    }
    return node;
  }

 private:
  Status Error(const std::string& what) const {
    return InvalidArgumentError(what + " at offset " + std::to_string(pos_));
  }
  bool AtEnd() const { return pos_ >= text_.size(); }
  char32_t Peek() const { return text_[pos_]; }

  int AddClass(std::vector<Range> ranges) {
    Normalize(ranges);
    classes_.push_back(CharClass{std::move(ranges)});
    return static_cast<int>(classes_.size()) - 1;
  }

  std::unique_ptr<Node> ClassNode(std::vector<Range> ranges) {
    auto node = MakeNode(Node::kClass);
    node->class_index = AddClass(std::move(ranges));
    return node;
  }

  StatusOr<std::unique_ptr<Node>> ParseAlternation(int depth) {
    if (depth > kMaxNesting) {
      return Error("groups nested too deeply");
    }
    auto alt = MakeNode(Node::kAlternate);
    while (true) {
      ASSIGN_OR_RETURN(auto branch, ParseConcat(depth));
      alt->children.push_back(std::move(branch));
      if (AtEnd() || Peek() != '|') {
        break;
      }
      ++pos_;
    }
    if (alt->children.size() == 1) {
      return std::move(alt->children.front());
    }
    return alt;
  }

  StatusOr<std::unique_ptr<Node>> ParseConcat(int depth) {
    auto concat = MakeNode(Node::kConcat);
    while (!AtEnd() && Peek() != '|' && Peek() != ')') {
      ASSIGN_OR_RETURN(auto atom, ParseAtom(depth));
      ASSIGN_OR_RETURN(atom, ParseQuantifiers(std::move(atom)));
      concat->children.push_back(std::move(atom));
    }
    return concat;
  }

  StatusOr<std::unique_ptr<Node>> ParseQuantifiers(std::unique_ptr<Node> atom) {
    while (!AtEnd()) {
      int min = 0;
      int max = -1;
      char32_t c = Peek();
      if (c == '*') {
        ++pos_;
      } else if (c == '+') {
        min = 1;
        ++pos_;
      } else if (c == '?') {
        max = 1;
        ++pos_;
      } else if (c == '{' && LooksLikeCount()) {
        RETURN_IF_ERROR(ParseCount(&min, &max));
      } else {
        break;
      }
      if (atom->kind == Node::kBegin || atom->kind == Node::kEnd) {
        return Error("nothing to repeat");
      }
      if (atom->kind == Node::kRepeat) {
        return Error("invalid nested repetition operator");  // a** (RE2 refuses it too)
      }
      if (!AtEnd() && Peek() == '?') {
        ++pos_;  // lazy: same set of matching strings
      }
      auto repeat = MakeNode(Node::kRepeat);
      repeat->min = min;
      repeat->max = max;
      repeat->children.push_back(std::move(atom));
      atom = std::move(repeat);
    }
    return atom;
  }

  // "{" digits ["," [digits]] "}"; otherwise '{' is a literal, as in RE2.
  bool LooksLikeCount() const {
    size_t i = pos_ + 1;
    size_t digits = 0;
    while (i < text_.size() && text_[i] >= '0' && text_[i] <= '9') {
      ++i;
      ++digits;
    }
    if (digits == 0) {
      return false;
    }
    if (i < text_.size() && text_[i] == ',') {
      ++i;
      while (i < text_.size() && text_[i] >= '0' && text_[i] <= '9') {
        ++i;
      }
    }
    return i < text_.size() && text_[i] == '}';
  }

  Status ParseCount(int* min, int* max) {
    ++pos_;  // '{'
    auto number = [this]() {
      long value = 0;
      while (!AtEnd() && Peek() >= '0' && Peek() <= '9') {
        value = std::min<long>(value * 10 + (Peek() - '0'), kMaxRepeat + 1);
        ++pos_;
      }
      return static_cast<int>(value);
    };
    *min = number();
    *max = *min;
    if (Peek() == ',') {
      ++pos_;
      *max = Peek() == '}' ? -1 : number();
    }
    ++pos_;  // '}'
    if (*min > kMaxRepeat || *max > kMaxRepeat) {
      return Error("repeat count larger than " + std::to_string(kMaxRepeat));
    }
    if (*max != -1 && *max < *min) {
      return Error("invalid repeat count {" + std::to_string(*min) + "," + std::to_string(*max) +
                   "}");
    }
    return OkStatus();
  }

  StatusOr<std::unique_ptr<Node>> ParseAtom(int depth) {
    char32_t c = Peek();
    switch (c) {
      case '(': {
        ++pos_;
        if (!AtEnd() && Peek() == '?') {
          if (pos_ + 1 < text_.size() && text_[pos_ + 1] == ':') {
            pos_ += 2;
          } else {
            return Error("unsupported group syntax (?");
          }
        }
        ASSIGN_OR_RETURN(auto inner, ParseAlternation(depth + 1));
        if (AtEnd() || Peek() != ')') {
          return Error("missing ')'");
        }
        ++pos_;
        return inner;
      }
      case '[':
        return ParseClass();
      case '.':
        ++pos_;
        return ClassNode(Complement({{'\n', '\n'}}));
      case '^':
        ++pos_;
        return MakeNode(Node::kBegin);
      case '$':
        ++pos_;
        return MakeNode(Node::kEnd);
      case '\\': {
        ASSIGN_OR_RETURN(std::vector<Range> ranges, ParseEscape());
        return ClassNode(std::move(ranges));
      }
      case '*':
      case '+':
      case '?':
        return Error("nothing to repeat");
      default:
        ++pos_;
        return ClassNode({{c, c}});
    }
  }

  StatusOr<char32_t> ParseHex(int digits) {
    char32_t value = 0;
    for (int i = 0; i < digits; ++i) {
      if (AtEnd()) {
        return Error("incomplete hexadecimal escape");
      }
      char32_t h = Peek();
      int v = (h >= '0' && h <= '9')   ? static_cast<int>(h - '0')
              : (h >= 'a' && h <= 'f') ? static_cast<int>(h - 'a' + 10)
              : (h >= 'A' && h <= 'F') ? static_cast<int>(h - 'A' + 10)
                                       : -1;
      if (v < 0) {
        return Error("invalid hexadecimal escape");
      }
      value = value * 16 + static_cast<char32_t>(v);
      ++pos_;
    }
    return value;
  }

  // After a backslash: the set of code points the escape stands for.
  StatusOr<std::vector<Range>> ParseEscape() {
    ++pos_;  // '\'
    if (AtEnd()) {
      return Error("trailing backslash");
    }
    char32_t c = Peek();
    ++pos_;
    switch (c) {
      case 'd':
        return Digits();
      case 'D':
        return Complement(Digits());
      case 'w':
        return WordChars();
      case 'W':
        return Complement(WordChars());
      case 's':
        return Spaces();
      case 'S':
        return Complement(Spaces());
      case 't':
        return std::vector<Range>{{'\t', '\t'}};
      case 'n':
        return std::vector<Range>{{'\n', '\n'}};
      case 'r':
        return std::vector<Range>{{'\r', '\r'}};
      case 'f':
        return std::vector<Range>{{'\f', '\f'}};
      case 'v':
        return std::vector<Range>{{'\v', '\v'}};
      case 'x': {
        ASSIGN_OR_RETURN(char32_t v, ParseHex(2));
        return std::vector<Range>{{v, v}};
      }
      case 'u': {
        ASSIGN_OR_RETURN(char32_t v, ParseHex(4));
        return std::vector<Range>{{v, v}};
      }
      default:
        break;
    }
    bool alnum = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
    if (alnum || c >= 0x80) {
      --pos_;
      return Error(std::string("unsupported escape \\") + static_cast<char>(c < 0x80 ? c : '?'));
    }
    return std::vector<Range>{{c, c}};  // escaped punctuation stands for itself
  }

  StatusOr<std::unique_ptr<Node>> ParseClass() {
    ++pos_;  // '['
    bool negated = false;
    if (!AtEnd() && Peek() == '^') {
      negated = true;
      ++pos_;
    }
    std::vector<Range> ranges;
    bool first = true;
    while (true) {
      if (AtEnd()) {
        return Error("missing ']'");
      }
      char32_t c = Peek();
      if (c == ']' && !first) {
        ++pos_;
        break;
      }
      first = false;
      if (c == '[' && pos_ + 1 < text_.size() && text_[pos_ + 1] == ':') {
        return Error("POSIX character classes are not supported");
      }
      std::vector<Range> item;
      if (c == '\\') {
        ASSIGN_OR_RETURN(item, ParseEscape());
      } else {
        ++pos_;
        item = {{c, c}};
      }
      // A range a-z: single code point, '-', single code point (not ']').
      if (item.size() == 1 && item[0].first == item[0].second && pos_ + 1 < text_.size() &&
          Peek() == '-' && text_[pos_ + 1] != ']') {
        ++pos_;  // '-'
        std::vector<Range> hi;
        if (Peek() == '\\') {
          ASSIGN_OR_RETURN(hi, ParseEscape());
        } else {
          hi = {{Peek(), Peek()}};
          ++pos_;
        }
        if (hi.size() != 1 || hi[0].first != hi[0].second) {
          return Error("invalid character class range");
        }
        if (hi[0].first < item[0].first) {
          return Error("invalid character class range (end before start)");
        }
        item = {{item[0].first, hi[0].first}};
      }
      ranges.insert(ranges.end(), item.begin(), item.end());
    }
    return ClassNode(negated ? Complement(std::move(ranges)) : std::move(ranges));
  }

  std::vector<char32_t> text_;
  size_t pos_ = 0;
  std::vector<CharClass>& classes_;
};

}  // namespace

// --- program -------------------------------------------------------------------------------------

struct RegexProgram {
  enum Op { kClass, kSplit, kJump, kMatch, kBegin, kEnd };
  struct Inst {
    Op op;
    int x = 0;  // class index, or jump/split target
    int y = 0;  // second split target
  };
  std::vector<Inst> insts;
  std::vector<CharClass> classes;
};

namespace {

class Emitter {
 public:
  explicit Emitter(RegexProgram& program) : p_(program) {}

  Status Emit(const Node& node) {
    if (p_.insts.size() > kMaxInstructions) {
      return InvalidArgumentError("pattern too large (more than " +
                                  std::to_string(kMaxInstructions) + " instructions)");
    }
    switch (node.kind) {
      case Node::kEmpty:
        return OkStatus();
      case Node::kClass:
        Add({RegexProgram::kClass, node.class_index});
        return OkStatus();
      case Node::kBegin:
        Add({RegexProgram::kBegin});
        return OkStatus();
      case Node::kEnd:
        Add({RegexProgram::kEnd});
        return OkStatus();
      case Node::kConcat:
        for (const auto& child : node.children) {
          RETURN_IF_ERROR(Emit(*child));
        }
        return OkStatus();
      case Node::kAlternate: {
        std::vector<int> jumps;
        for (size_t i = 0; i < node.children.size(); ++i) {
          if (i + 1 < node.children.size()) {
            int split = Add({RegexProgram::kSplit});
            p_.insts[split].x = split + 1;
            RETURN_IF_ERROR(Emit(*node.children[i]));
            jumps.push_back(Add({RegexProgram::kJump}));
            p_.insts[split].y = Next();
          } else {
            RETURN_IF_ERROR(Emit(*node.children[i]));
          }
        }
        for (int j : jumps) {
          p_.insts[j].x = Next();
        }
        return OkStatus();
      }
      case Node::kRepeat:
        return EmitRepeat(node);
    }
    return OkStatus();
  }

 private:
  int Add(RegexProgram::Inst inst) {
    p_.insts.push_back(inst);
    return static_cast<int>(p_.insts.size()) - 1;
  }
  int Next() const { return static_cast<int>(p_.insts.size()); }

  Status EmitRepeat(const Node& node) {
    const Node& body = *node.children.front();
    for (int i = 0; i < node.min; ++i) {
      RETURN_IF_ERROR(Emit(body));
    }
    if (node.max == -1) {
      // L: split body, out; body; jump L
      int split = Add({RegexProgram::kSplit});
      p_.insts[split].x = split + 1;
      RETURN_IF_ERROR(Emit(body));
      Add({RegexProgram::kJump, split});
      p_.insts[split].y = Next();
      return OkStatus();
    }
    // (body (body (...)?)?)? for the optional max - min copies.
    std::vector<int> splits;
    for (int i = node.min; i < node.max; ++i) {
      int split = Add({RegexProgram::kSplit});
      p_.insts[split].x = split + 1;
      splits.push_back(split);
      RETURN_IF_ERROR(Emit(body));
    }
    for (int s : splits) {
      p_.insts[s].y = Next();
    }
    return OkStatus();
  }

  RegexProgram& p_;
};

// The set of threads (program counters) at one input position, deduplicated in O(1).
class ThreadList {
 public:
  explicit ThreadList(size_t size) : dense_(size), sparse_(size) {}
  bool Contains(int pc) const {
    size_t i = sparse_[static_cast<size_t>(pc)];
    return i < count_ && dense_[i] == pc;
  }
  void Insert(int pc) {
    sparse_[static_cast<size_t>(pc)] = count_;
    dense_[count_++] = pc;
  }
  void Clear() { count_ = 0; }
  size_t size() const { return count_; }
  int operator[](size_t i) const { return dense_[i]; }

 private:
  std::vector<int> dense_;
  std::vector<size_t> sparse_;
  size_t count_ = 0;
};

}  // namespace

StatusOr<Regex> Regex::Compile(std::string_view pattern) {
  auto program = std::make_shared<RegexProgram>();
  Parser parser(pattern, program->classes);
  ASSIGN_OR_RETURN(std::unique_ptr<Node> tree, parser.Parse());
  Emitter emitter(*program);
  RETURN_IF_ERROR(emitter.Emit(*tree));
  program->insts.push_back({RegexProgram::kMatch});
  Regex regex;
  regex.pattern_ = std::string(pattern);
  regex.program_ = std::move(program);
  return regex;
}

bool Regex::Search(std::string_view text) const {
  const RegexProgram& p = *program_;
  const std::vector<char32_t> input = DecodeUtf8(text);
  const size_t n = input.size();
  ThreadList current(p.insts.size());
  ThreadList next(p.insts.size());
  std::vector<int> stack;

  // Follows jumps, splits and assertions from `pc` at input position `pos`; true on a match.
  auto add = [&](ThreadList& list, int start, size_t pos) {
    stack.push_back(start);
    while (!stack.empty()) {
      int pc = stack.back();
      stack.pop_back();
      if (list.Contains(pc)) {
        continue;
      }
      list.Insert(pc);
      const RegexProgram::Inst& inst = p.insts[static_cast<size_t>(pc)];
      switch (inst.op) {
        case RegexProgram::kJump:
          stack.push_back(inst.x);
          break;
        case RegexProgram::kSplit:
          stack.push_back(inst.y);
          stack.push_back(inst.x);
          break;
        case RegexProgram::kBegin:
          if (pos == 0) {
            stack.push_back(pc + 1);
          }
          break;
        case RegexProgram::kEnd:
          if (pos == n) {
            stack.push_back(pc + 1);
          }
          break;
        case RegexProgram::kMatch:
          stack.clear();
          return true;
        case RegexProgram::kClass:
          break;
      }
    }
    return false;
  };

  for (size_t pos = 0; pos <= n; ++pos) {
    if (add(current, 0, pos)) {  // unanchored search: a new attempt starts at every position
      return true;
    }
    if (pos == n) {
      break;
    }
    next.Clear();
    for (size_t i = 0; i < current.size(); ++i) {
      int pc = current[i];
      const RegexProgram::Inst& inst = p.insts[static_cast<size_t>(pc)];
      if (inst.op == RegexProgram::kClass &&
          p.classes[static_cast<size_t>(inst.x)].Contains(input[pos]) &&
          add(next, pc + 1, pos + 1)) {
        return true;
      }
    }
    std::swap(current, next);
  }
  return false;
}

}  // namespace lifeboat::api::openapi
