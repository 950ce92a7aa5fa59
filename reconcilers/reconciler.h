#pragma once

// How reconcilers plug into the controller runtime (STYLE.md §3.1): level-based, idempotent,
// one kind per reconciler. Not found = gone: return OK. Errors requeue with backoff
// (kInvalidArgument / kFailedPrecondition are terminal until the object changes);
// `requeue_after` is for schedules.
#include <chrono>

#include "common/status.h"
#include "controller/object_key.h"

namespace lifeboat::reconcilers {

using controller::ObjectKey;

struct Result {
  std::chrono::milliseconds requeue_after{0};
};

class Reconciler {
 public:
  virtual ~Reconciler() = default;
  virtual StatusOr<Result> Reconcile(const ObjectKey& key) = 0;
};

}  // namespace lifeboat::reconcilers
