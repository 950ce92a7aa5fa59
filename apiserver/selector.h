#pragma once

// Kubernetes label selectors (=, ==, !=, in, notin, exists, !exists) and the field selectors
// every kind supports (metadata.name, metadata.namespace with =, ==, !=).
#include <string>
#include <vector>

#include "apiserver/store.h"
#include "common/status.h"

namespace lifeboat::apiserver {

class LabelSelector {
 public:
  // "app=web,tier!=db,env in (a,b),!legacy" → a selector; kInvalidArgument naming the bad term.
  static StatusOr<LabelSelector> Parse(const std::string& text);
  bool Matches(const Labels& labels) const;
  bool empty() const { return requirements_.empty(); }

 private:
  enum class Op { kEquals, kNotEquals, kIn, kNotIn, kExists, kNotExists };
  struct Requirement {
    std::string key;
    Op op;
    std::vector<std::string> values;
  };
  std::vector<Requirement> requirements_;
};

class FieldSelector {
 public:
  static StatusOr<FieldSelector> Parse(const std::string& text);
  bool Matches(const std::string& ns, const std::string& name) const;
  // The name a selector pins down with metadata.name=X ("" if none).
  std::string RequiredName() const;

 private:
  struct Requirement {
    bool name_field;  // metadata.name, else metadata.namespace
    bool equals;
    std::string value;
  };
  std::vector<Requirement> requirements_;
};

}  // namespace lifeboat::apiserver
