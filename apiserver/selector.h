#pragma once

// Kubernetes label selectors (=, ==, !=, in, notin, exists, !exists) and field selectors (=, ==,
// !=): metadata.name and metadata.namespace on every kind, plus each kind's selectable fields.
#include <string>
#include <vector>

#include "api/json.h"
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
  // metadata.name and metadata.namespace always; the other fields in `selectable` (a kind's
  // own: involvedObject.name for Events, type for Secrets, a CRD's selectableFields).
  // kInvalidArgument "field label not supported: X" for anything else.
  static StatusOr<FieldSelector> Parse(const std::string& text,
                                       const std::vector<std::string>& selectable = {});
  // `object` is needed only when NeedsObject(); a missing field reads as "".
  bool Matches(const std::string& ns, const std::string& name, const Json* object = nullptr) const;
  bool NeedsObject() const { return needs_object_; }
  // The name a selector pins down with metadata.name=X ("" if none).
  std::string RequiredName() const;

 private:
  enum class Field { kName, kNamespace, kOther };
  struct Requirement {
    Field field;
    std::vector<std::string> path;  // kOther: "involvedObject.name" → {"involvedObject", "name"}
    bool equals;
    std::string value;
  };
  std::vector<Requirement> requirements_;
  bool needs_object_ = false;
};

}  // namespace lifeboat::apiserver
