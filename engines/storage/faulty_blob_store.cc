#include "engines/storage/faulty_blob_store.h"

namespace lifeboat::storage {

void FaultyBlobStore::SetPlan(FaultPlan plan) {
  std::lock_guard lock(mu_);
  plan_ = std::move(plan);
}

Status FaultyBlobStore::Put(std::string_view name, std::string_view data) {
  FaultPlan plan;
  uint64_t already = 0;
  {
    std::lock_guard lock(mu_);
    plan = plan_;
    already = bytes_put_.load();
    if (!plan.fail_after_bytes.has_value() || already + data.size() <= *plan.fail_after_bytes) {
      bytes_put_ += data.size();
      plan.fail_after_bytes.reset();
    } else {
      bytes_put_ = std::max(already, *plan.fail_after_bytes);
    }
  }
  if (!plan.fail_after_bytes.has_value()) {
    return inner_.Put(name, data);
  }
  ++failed_puts_;
  if (plan.torn_write) {
    uint64_t room = *plan.fail_after_bytes > already ? *plan.fail_after_bytes - already : 0;
    inner_.Put(name, data.substr(0, room)).IgnoreError();
  }
  std::string what = plan.put_failure == StatusCode::kResourceExhausted
                         ? "no space left on device"
                         : "injected failure";
  return Status(plan.put_failure, "writing blob " + std::string(name) + " to " + Describe() +
                                      ": " + what);
}

StatusOr<std::string> FaultyBlobStore::Get(std::string_view name, ByteRange range) {
  {
    std::lock_guard lock(mu_);
    if (plan_.fail_gets_with_prefix.has_value() &&
        name.substr(0, plan_.fail_gets_with_prefix->size()) == *plan_.fail_gets_with_prefix) {
      return UnavailableError("reading blob " + std::string(name) + ": injected failure");
    }
  }
  return inner_.Get(name, range);
}

}  // namespace lifeboat::storage
