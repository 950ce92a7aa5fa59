#include "reconcilers/recovery/common.h"

#include <algorithm>
#include <system_error>

#include "api/failover.h"
#include "common/clock.h"
#include "engines/replication/receiver.h"

namespace lifeboat::reconcilers::recovery {

namespace fs = std::filesystem;
namespace rep = lifeboat::replication;

const controller::ResourceRef kRecoveryPlans{"lifeboat.dev", "v1alpha1", "recoveryplans",
                                             "RecoveryPlan", true};
const controller::ResourceRef kFailovers{"lifeboat.dev", "v1alpha1", "failovers", "Failover",
                                         true};
const controller::ResourceRef kDeployments{"apps", "v1", "deployments", "Deployment", true};
const controller::ResourceRef kStatefulSets{"apps", "v1", "statefulsets", "StatefulSet", true};

fs::path PlanRoot(const EngineEnv& env, const std::string& ns, const api::RecoveryPlan& plan) {
  if (plan.spec.target_root && !plan.spec.target_root->empty()) {
    return fs::path(*plan.spec.target_root);
  }
  return env.data_dir / "failover" / ns / plan.metadata.name;
}

fs::path LiveDir(const fs::path& root, const std::string& policy) {
  return root / "live" / policy;
}

fs::path TestDir(const fs::path& root, const std::string& failover) {
  return root / "test" / failover;
}

StatusOr<Replica> FindReplica(const EngineEnv& env, const std::string& ns,
                              const std::string& policy) {
  if (env.receiver == nullptr) {
    return FailedPreconditionError(
        "this site serves no replication endpoint (start `lifeboat up` with "
        "--replication-port): it holds no replicas to fail over to");
  }
  const fs::path& root = env.receiver->repos().root();
  std::vector<std::string> sites;
  std::error_code ec;
  for (fs::directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (name.empty() || name.front() == '.' || !it->is_directory(ec)) {
      continue;
    }
    if (fs::is_directory(it->path() / ns / policy / "points", ec)) {
      sites.push_back(name);
    }
  }
  std::sort(sites.begin(), sites.end());
  if (sites.empty()) {
    return NotFoundError("no site replicates ReplicationPolicy " + ns + "/" + policy +
                         " to this site (has its first replication cycle completed?)");
  }
  if (sites.size() > 1) {
    std::string list;
    for (const std::string& s : sites) {
      list += (list.empty() ? "" : ", ") + s;
    }
    return FailedPreconditionError("ReplicationPolicy " + ns + "/" + policy +
                                   " is replicated here by more than one site (" + list +
                                   "): remove the stale replica under " + root.string());
  }
  ASSIGN_OR_RETURN(rep::Repo * repo, env.receiver->repos().Get(sites.front(), ns, policy));
  return Replica{sites.front(), repo};
}

StatusOr<rep::PointInfo> ChoosePoint(const std::vector<rep::PointInfo>& points,
                                     const std::string& selector, const std::string& policy) {
  if (points.empty()) {
    return NotFoundError("no recovery point of " + policy + " at this site yet");
  }
  if (selector.empty() || selector == api::kRecoveryPointLatest) {
    return points.back();
  }
  if (selector == api::kRecoveryPointLatestAppConsistent) {
    for (auto it = points.rbegin(); it != points.rend(); ++it) {
      if (it->consistency == rep::Consistency::kApplication) {
        return *it;
      }
    }
    return NotFoundError("no application-consistent recovery point of " + policy +
                         " at this site (it holds " + std::to_string(points.size()) +
                         " crash-consistent ones): use Latest, or a time");
  }
  Clock::TimePoint at;
  if (!ParseRfc3339(selector, &at)) {
    return InvalidArgumentError("recoveryPoint " + selector +
                                " is neither Latest, LatestAppConsistent nor an RFC 3339 time");
  }
  int64_t at_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(at.time_since_epoch()).count();
  for (auto it = points.rbegin(); it != points.rend(); ++it) {
    if (it->time_ms <= at_ms) {
      return *it;
    }
  }
  return NotFoundError(
      "no recovery point of " + policy + " at or before " + selector + " (the oldest is from " +
      FormatRfc3339(Clock::TimePoint(std::chrono::milliseconds(points.front().time_ms))) + ")");
}

StatusOr<rep::MaterializeStats> MaterializeInto(const rep::Repo& repo, const std::string& point,
                                                const fs::path& dir) {
  std::error_code ec;
  fs::path parent = dir.parent_path();
  fs::create_directories(parent, ec);
  if (ec) {
    return UnavailableError("cannot create " + parent.string() + ": " + ec.message());
  }
  fs::path partial = parent / ("." + dir.filename().string() + ".partial");
  fs::path old = parent / ("." + dir.filename().string() + ".old");
  fs::remove_all(partial, ec);
  ASSIGN_OR_RETURN(rep::MaterializeStats stats, repo.Materialize(point, partial, {}));
  fs::remove_all(old, ec);
  if (fs::exists(dir, ec)) {
    fs::rename(dir, old, ec);
    if (ec) {
      return UnavailableError("cannot move " + dir.string() + " aside: " + ec.message());
    }
  }
  fs::rename(partial, dir, ec);
  if (ec) {
    return UnavailableError("cannot move " + partial.string() + " into place: " + ec.message());
  }
  fs::remove_all(old, ec);
  return stats;
}

std::string PlanJobKey(const std::string& ns, const std::string& plan) {
  return "failover/" + ns + "/" + plan;
}

void Shared::PutReverse(const std::string& job_key, ReverseOutcome outcome) {
  std::lock_guard<std::mutex> lock(mu_);
  reverse_[job_key] = std::move(outcome);
}

std::optional<ReverseOutcome> Shared::Reverse(const std::string& job_key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = reverse_.find(job_key);
  if (it == reverse_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void Shared::SetOwner(const std::string& job_key, const std::string& failover) {
  std::lock_guard<std::mutex> lock(mu_);
  owners_[job_key] = failover;
}

std::optional<std::string> Shared::Owner(const std::string& job_key) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = owners_.find(job_key);
  if (it == owners_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void Shared::ClearOwner(const std::string& job_key, const std::string& failover) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = owners_.find(job_key);
  if (it != owners_.end() && it->second == failover) {
    owners_.erase(it);
  }
}

std::optional<std::string> Shared::JobOwnedBy(const std::string& ns,
                                              const std::string& failover) {
  std::lock_guard<std::mutex> lock(mu_);
  const std::string prefix = PlanJobKey(ns, "");
  for (const auto& [job_key, owner] : owners_) {
    if (owner == failover && job_key.rfind(prefix, 0) == 0) {
      return job_key;
    }
  }
  return std::nullopt;
}

}  // namespace lifeboat::reconcilers::recovery
