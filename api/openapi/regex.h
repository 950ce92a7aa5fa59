#pragma once

// Regular expressions for OpenAPI `pattern`, matched in linear time without recursion.
//
// Kubernetes matches patterns with Go's RE2 engine: no backtracking, no backreferences, time
// linear in the input. std::regex backtracks recursively and overflows the stack on inputs of a
// few thousand characters, which would let one bad object crash the API server, so patterns are
// compiled here to a Thompson NFA and run as a Pike VM over Unicode code points.
//
// Syntax (the subset of RE2 and ECMAScript that schemas use): literals, `.`, classes `[a-z]`,
// `[^...]`, escapes `\d \D \w \W \s \S \t \n \r \f \v \xHH \uHHHH` and escaped punctuation,
// anchors `^` `$` (start and end of input), groups `(...)` `(?:...)`, alternation `|`, and
// quantifiers `* + ? {n} {n,} {n,m}` (a trailing `?` for laziness is accepted; it does not
// change whether a string matches). Anything else (backreferences, lookaround, `\b`) is refused
// at compile time with the offending position.
#include <memory>
#include <string>
#include <string_view>

#include "common/status.h"

namespace lifeboat::api::openapi {

struct RegexProgram;  // compiled form (regex.cc)

class Regex {
 public:
  // kInvalidArgument: "<what> at offset <n>" for syntax errors, or a pattern too large.
  static StatusOr<Regex> Compile(std::string_view pattern);

  // True when the pattern matches somewhere in `text` (as Go's MatchString and JavaScript's
  // RegExp.test do); anchor with ^ and $ to match the whole text.
  bool Search(std::string_view text) const;

  const std::string& pattern() const { return pattern_; }

 private:
  std::string pattern_;
  std::shared_ptr<const RegexProgram> program_;
};

}  // namespace lifeboat::api::openapi
