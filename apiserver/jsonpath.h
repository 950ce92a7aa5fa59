#pragma once

// The JSONPath subset that CRD printer columns use: .a.b, ['a.b'], [0], [*], .*, and filters
// [?(@.type=="Ready")] / [?(@.x!=1)] / [?(@.x)], optionally wrapped in {}.
#include <string>
#include <vector>

#include "api/json.h"
#include "common/status.h"

namespace lifeboat::apiserver {

class JsonPath {
 public:
  // kInvalidArgument with the offending position when the expression is outside the subset.
  static StatusOr<JsonPath> Parse(const std::string& expression);
  // Every value the path selects, in document order (pointers into `root`).
  std::vector<const Json*> Evaluate(const Json& root) const;
  const std::string& expression() const { return expression_; }

 private:
  struct Step {
    enum class Kind { kField, kIndex, kWildcard, kFilter } kind = Kind::kField;
    std::string field;
    long index = 0;
    // Filter: @<path> <op> <literal>; op empty = existence.
    std::vector<std::string> filter_path;
    std::string op;
    Json literal;
  };
  std::string expression_;
  std::vector<Step> steps_;
};

}  // namespace lifeboat::apiserver
