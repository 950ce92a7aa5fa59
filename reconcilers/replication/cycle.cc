#include "reconcilers/replication/cycle.h"

#include <atomic>
#include <cmath>

#include "engines/hooks/from_api.h"
#include "reconcilers/replication/replication_policy_reconciler.h"

namespace lifeboat::reconcilers::replication {
namespace {

namespace rep = lifeboat::replication;
constexpr auto kProgressEvery = std::chrono::seconds(2);

}  // namespace

std::vector<rep::Volume> PolicyVolumes(const api::ReplicationPolicy& policy) {
  std::vector<rep::Volume> volumes;
  for (const api::Volume& v : policy.spec.volumes) {
    volumes.push_back({v.name, v.path});
  }
  return volumes;
}

std::optional<CyclePlan> PlanCycle(controller::KubeClient& client, const EngineEnv& env,
                                   const controller::ObjectKey& key,
                                   const api::ReplicationPolicy& policy,
                                   std::chrono::seconds retention, bool app_consistent,
                                   const Clock& clock, SiteProblem* problem) {
  auto target = ResolveSite(client, env, key.ns, policy.spec.target_site_ref.name, problem);
  if (!target) {
    return std::nullopt;
  }
  CyclePlan plan;
  plan.target = *target;
  rep::ReplicateOptions& o = plan.options;
  o.site = LocalSiteId(env);
  o.ns = key.ns;
  o.policy = key.name;
  o.state_dir = PolicyStateDir(env, key.ns, key.name);
  o.consistency = app_consistent ? rep::Consistency::kApplication : rep::Consistency::kCrash;
  o.retention = retention;
  if (policy.spec.bandwidth_limit) {
    auto bytes = policy.spec.bandwidth_limit->Bytes();
    o.bandwidth_limit = bytes.ok() && *bytes > 0 ? static_cast<uint64_t>(*bytes) : 0;
  }
  o.clock = &clock;
  plan.volumes = PolicyVolumes(policy);
  if (app_consistent) {
    plan.hooks = policy.spec.hooks;
  }
  return plan;
}

CycleOutcome RunCycle(Shared& shared, const controller::ObjectKey& key, CyclePlan plan,
                      const Clock& clock, std::stop_token stop) {
  std::atomic<bool> cancel{false};
  std::stop_callback on_stop(stop, [&cancel] { cancel = true; });
  CycleOutcome outcome;
  auto run_hook = [&](const std::optional<api::Hook>& hook, const char* name) {
    if (!hook || !outcome.hook_message.empty()) {
      return;
    }
    auto spec = hooks::HookSpecFromApi(*hook, name);
    auto ran = spec.ok() ? shared.hooks().Run(*spec, {{"LIFEBOAT_POLICY", key.name}})
                         : StatusOr<hooks::HookResult>(spec.status());
    if (!ran.ok()) {
      outcome.hook_message = std::string(name) + ": " + ran.status().message();
    } else if (!ran->succeeded) {
      outcome.hook_message = ran->message;
    }
  };
  if (plan.hooks) {
    run_hook(plan.hooks->pre_hook, "preHook");
  }
  if (outcome.hook_message.empty()) {
    auto started = std::chrono::steady_clock::now();
    auto last_publish = std::chrono::steady_clock::time_point{};
    rep::ReplicateOptions& o = plan.options;
    o.cancel = &cancel;
    o.progress = [&](const rep::ReplicationProgress& p) {
      auto t_now = std::chrono::steady_clock::now();
      if (t_now - last_publish < kProgressEvery) {
        return;
      }
      last_publish = t_now;
      double elapsed = std::chrono::duration<double>(t_now - started).count();
      double rate = elapsed > 0 ? static_cast<double>(p.bytes_done) / elapsed : 0;
      Json j;
      j["bytesDone"] = static_cast<int64_t>(p.bytes_done);
      j["bytesTotal"] = static_cast<int64_t>(p.bytes_total);
      j["percent"] = p.bytes_total == 0 ? 0.0
                                        : std::round(1000.0 * static_cast<double>(p.bytes_done) /
                                                     static_cast<double>(p.bytes_total)) /
                                              10.0;
      j["bytesPerSecond"] = std::round(rate);
      if (rate > 0) {
        j["etaSeconds"] = std::round(
            static_cast<double>(p.bytes_total - std::min(p.bytes_total, p.bytes_done)) / rate);
      }
      shared.PutProgress(key.ToString(), std::move(j));
      if (shared.env().enqueue) {
        shared.env().enqueue(kReplicationPolicyController, key);
      }
    };
    auto r = rep::Replicate(plan.volumes, plan.target, o);
    if (r.ok()) {
      outcome.result = *r;
      shared.SetLastPoint(key.ToString(), r->point);
      auto journal = rep::ListRemotePoints(plan.target, o.site, o.ns, o.policy);
      if (journal.ok()) {
        outcome.journal = *journal;
      }
    } else {
      outcome.status = r.status();
    }
    if (plan.hooks) {
      run_hook(plan.hooks->post_hook, "postHook");
    }
  }
  if (!outcome.hook_message.empty() && outcome.status.ok() && outcome.result.point.id.empty()) {
    outcome.status = FailedPreconditionError(outcome.hook_message);
  }
  outcome.finished = clock.Now();
  return outcome;
}

}  // namespace lifeboat::reconcilers::replication
