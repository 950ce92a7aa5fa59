#include "reconcilers/replication/replication_policy_reconciler.h"

#include <spdlog/spdlog.h>

#include "api/duration.h"
#include "api/manifest.h"
#include "api/replication_policy.h"
#include "reconcilers/conditions.h"
#include "reconcilers/replication/cycle.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers::replication {
namespace {

namespace rep = lifeboat::replication;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr char kKind[] = "ReplicationPolicy";
constexpr auto kRetryFailed = std::chrono::seconds(15);
constexpr auto kFencedRecheck = std::chrono::seconds(1);

std::string JobKey(const ObjectKey& key) { return CycleJobKey(key.ToString()); }

Clock::TimePoint FromMs(int64_t ms) { return Clock::TimePoint(milliseconds(ms)); }

std::optional<Clock::TimePoint> TimeField(const Json& status, const char* name) {
  Clock::TimePoint t;
  if (status.contains(name) && status[name].is_string() &&
      ParseRfc3339(status[name].get<std::string>(), &t)) {
    return t;
  }
  return std::nullopt;
}

Json RecoveryPointsJson(const rep::RemoteJournal& journal) {
  Json j;
  j["count"] = static_cast<int64_t>(journal.points.size());
  if (!journal.points.empty()) {
    j["oldest"] = FormatRfc3339(FromMs(journal.points.front().time_ms));
    j["latest"] = FormatRfc3339(FromMs(journal.points.back().time_ms));
  }
  for (auto it = journal.points.rbegin(); it != journal.points.rend(); ++it) {
    if (it->consistency == rep::Consistency::kApplication) {
      j["latestAppConsistent"] = FormatRfc3339(FromMs(it->time_ms));
      break;
    }
  }
  return j;
}

}  // namespace

std::filesystem::path PolicyStateDir(const EngineEnv& env, const std::string& ns,
                                     const std::string& policy) {
  return env.data_dir / "replication" / "state" / ns / policy;
}

ReplicationPolicyReconciler::ReplicationPolicyReconciler(const controller::ControllerContext& ctx,
                                                         std::shared_ptr<Shared> shared)
    : client_(ctx.client),
      store_(ctx.store),
      recorder_(ctx.recorder),
      clock_(ctx.clock),
      resource_(ctx.resource),
      shared_(std::move(shared)) {}

StatusOr<Result> ReplicationPolicyReconciler::Reconcile(const ObjectKey& key) {
  metrics::Metrics* metrics = shared_->env().metrics;
  metrics::PolicyLabels labels{kKind, key.ns, key.name};
  controller::ObjectPtr cached = store_.Get(key.ToString());
  if (cached == nullptr) {
    shared_->env().jobs->Cancel(JobKey(key));
    shared_->ClearProgress(key.ToString());
    if (metrics != nullptr) {
      metrics->rpo().Remove(labels);
      metrics->replication().RemovePolicy(key.ns, key.name);
    }
    return Result{};
  }
  const Json& object = *cached;
  const int64_t generation = GenerationOf(object);
  Json status = object.value("status", Json::object());
  SetObservedGeneration(status, generation);
  const Clock::TimePoint now = clock_.Now();

  api::ReplicationPolicy policy;
  api::FieldErrors errors = api::ValidateObject(object);
  if (errors.empty()) {
    errors = api::FromJson(object, &policy);
  }
  auto rpo = errors.empty() ? api::ParseDuration(policy.spec.rpo)
                            : StatusOr<milliseconds>(InvalidArgumentError("invalid"));
  auto retention = api::ParseDuration(policy.spec.recovery_point_retention.value_or(
      std::string(api::kDefaultRecoveryPointRetention)));
  if (!errors.empty() || !rpo.ok() || !retention.ok() || rpo->count() <= 0) {
    std::string message = !errors.empty() ? JoinFieldErrors(errors)
                          : !rpo.ok()     ? "spec.rpo: " + rpo.status().message()
                          : !retention.ok()
                              ? "spec.recoveryPointRetention: " + retention.status().message()
                              : "spec.rpo: must be positive";
    if (SetStatusCondition(
            status,
            MakeCondition(api::kConditionReady, false, kReasonInvalidSpec, message, generation),
            now)) {
      recorder_.Record(object, controller::EventType::kWarning, kReasonInvalidSpec, message);
    }
    RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
    return Result{};
  }
  std::optional<milliseconds> app_every;
  if (policy.spec.app_consistent_frequency) {
    auto d = api::ParseDuration(*policy.spec.app_consistent_frequency);
    if (d.ok()) {
      app_every = *d;
    }
  }
  const auto interval = std::max(milliseconds(1000), *rpo / 2);

  // Handed over to another site (control_handler.h): the annotation persists it, the in-memory
  // fence covers a cache that has not caught up with it yet.
  std::string failed_over_to = object.value("/metadata/annotations"_json_pointer, Json::object())
                                   .value(kFailedOverToAnnotation, "");
  if (std::optional<std::string> fenced = shared_->FencedTo(key.ToString())) {
    failed_over_to = *fenced;
  }
  const bool failed_over = !failed_over_to.empty();
  if (metrics != nullptr && !failed_over) {
    metrics->rpo().SetTarget(labels, static_cast<double>(rpo->count()) / 1000.0);
  }
  if (failed_over) {
    status["phase"] = "FailedOver";
  } else if (status.value("phase", "") == "FailedOver") {
    status["phase"] = status.contains("lastReplicatedTime") ? "Protected" : "InitialReplication";
    status["message"] = "failed back: replication resumed";
  }
  const std::string phase = status.value("phase", "");
  bool failover_owned = failed_over || phase == "Reprotecting";

  // A finished cycle: publish it.
  bool published_event = false;
  std::optional<CycleOutcome> done = shared_->PeekCycle(key.ToString());
  if (done) {
    shared_->ClearProgress(key.ToString());
    if (done->status.ok()) {
      const rep::ReplicateResult& r = done->result;
      bool first = !status.contains("lastReplicatedPoint");
      bool recovered = phase == "Degraded";
      status["lastReplicatedPoint"] = r.point.id;
      status["lastReplicatedTime"] = FormatRfc3339(FromMs(r.point.time_ms));
      status["bytesSent"] =
          status.value("bytesSent", int64_t{0}) + static_cast<int64_t>(r.bytes_sent);
      if (done->journal) {
        status["recoveryPoints"] = RecoveryPointsJson(*done->journal);
      }
      if (status.contains("initialProgress")) {
        Json& p = status["initialProgress"];
        p["bytesDone"] = p.value("bytesTotal", int64_t{0});
        p["percent"] = 100.0;
        p["etaSeconds"] = 0.0;
      }
      if (!failover_owned) {
        status["phase"] = "Protected";
      }
      status["message"] = std::string(rep::ConsistencyName(r.point.consistency)) + " point " +
                          r.point.id + ": " + std::to_string(r.files_changed) + " files changed, " +
                          std::to_string(r.bytes_sent) + " bytes sent in " +
                          std::to_string(r.duration.count()) + " ms";
      if (metrics != nullptr) {
        metrics->replication().AddBytesSent(key.ns, key.name, static_cast<double>(r.bytes_sent));
      }
      if (first || recovered) {
        recorder_.Record(object, controller::EventType::kNormal,
                         first ? "InitialReplicationCompleted" : "Recovered",
                         status["message"].get<std::string>());
        published_event = true;
      }
      spdlog::info("Replicated ReplicationPolicy ns={} name={} point={} bytes_sent={} ms={}",
                   key.ns, key.name, r.point.id, r.bytes_sent, r.duration.count());
    } else {
      std::string reason = done->hook_message.empty() ? ReasonFor(done->status) : "HookFailed";
      std::string message =
          done->hook_message.empty() ? done->status.message() : done->hook_message;
      if (!failover_owned) {
        status["phase"] = "Degraded";
      }
      status["message"] = message;
      bool changed = SetStatusCondition(
          status, MakeCondition(api::kConditionReady, false, reason, message, generation), now);
      if (changed) {
        recorder_.Record(object, controller::EventType::kWarning, reason, message);
        published_event = true;
      }
      shared_->SetRetryAt(key.ToString(), now + std::min<Clock::Duration>(kRetryFailed, interval));
      spdlog::warn("ReplicationPolicy ns={} name={} cycle failed: {}", key.ns, key.name, message);
    }
  }

  // Figures that move with time.
  std::optional<Clock::TimePoint> last = TimeField(status, "lastReplicatedTime");
  bool rpo_met = false;
  if (failed_over) {
    // The recovery site runs the workload: no RPO here to measure or alert on.
    status.erase("currentRPOSeconds");
    if (metrics != nullptr) {
      metrics->rpo().Remove(labels);
      metrics->replication().RemovePolicy(key.ns, key.name);
    }
    SetStatusCondition(
        status,
        MakeCondition(api::kConditionRpoMet, true, "FailedOver",
                      "not measured: failed over to site " + failed_over_to, generation),
        now);
  } else if (last) {
    double current = std::max(0.0, std::chrono::duration<double>(now - *last).count());
    status["currentRPOSeconds"] = std::round(current * 1000.0) / 1000.0;
    rpo_met = current <= static_cast<double>(rpo->count()) / 1000.0;
    if (metrics != nullptr) {
      metrics->rpo().SetLastRecoveryPoint(
          labels, std::chrono::duration<double>(last->time_since_epoch()).count());
      metrics->replication().SetLag(key.ns, key.name, current);
    }
  }
  if (metrics != nullptr && !failed_over) {
    for (const api::Volume& v : policy.spec.volumes) {
      metrics->rpo().SetVolumeProtected(labels, v.name, last.has_value());
    }
  }
  if (!failed_over) {
    SetStatusCondition(status,
                       MakeCondition(api::kConditionRpoMet, rpo_met,
                                     rpo_met ? "WithinTarget"
                                     : last  ? "TargetExceeded"
                                             : "NoRecoveryPoint",
                                     last ? "current RPO " + status["currentRPOSeconds"].dump() +
                                                " s, target " + policy.spec.rpo
                                          : "no recovery point at the target yet",
                                     generation),
                       now);
  }

  const bool active = shared_->env().jobs->Active(JobKey(key));
  const std::string site = policy.spec.target_site_ref.name;
  std::optional<Clock::Duration> requeue;
  if (failed_over) {
    std::string message =
        "failed over to site " + failed_over_to + ": no replication until it fails back";
    SetStatusCondition(
        status,
        MakeCondition(api::kConditionSynchronizing, false, "FailedOver", message, generation), now);
    SetStatusCondition(
        status, MakeCondition(api::kConditionReady, true, "FailedOver", message, generation), now);
    if (!active) {
      status["message"] = message;
    }
  } else if (policy.spec.suspend.value_or(false) || failover_owned) {
    std::string why =
        failover_owned ? "phase " + phase + " is owned by the failover controller" : "suspended";
    SetStatusCondition(status,
                       MakeCondition(api::kConditionSynchronizing, false,
                                     failover_owned ? phase : "Suspended", why, generation),
                       now);
    if (!failover_owned) {
      SetStatusCondition(status,
                         MakeCondition(api::kConditionReady, last.has_value(), "Suspended",
                                       "replication is suspended", generation),
                         now);
    }
  } else if (active) {
    if (std::optional<Json> progress = shared_->Progress(key.ToString())) {
      if (status.value("phase", "") == "InitialReplication") {
        status["initialProgress"] = *progress;
      }
    }
  } else {
    Clock::TimePoint due = last ? *last + interval : now;
    if (std::optional<Clock::TimePoint> retry = shared_->RetryAt(key.ToString());
        retry && status.value("phase", "") == "Degraded") {
      due = std::max(due, *retry);
    }
    if (now >= due) {
      std::optional<Clock::TimePoint> last_app =
          TimeField(status.value("recoveryPoints", Json::object()), "latestAppConsistent");
      std::optional<Clock::TimePoint> tried = shared_->AppAttempt(key.ToString());
      if (tried && (!last_app || *tried > *last_app)) {
        last_app = tried;
      }
      bool app = app_every && policy.spec.hooks && (!last_app || now - *last_app >= *app_every);
      SiteProblem problem;
      std::optional<CyclePlan> plan = PlanCycle(
          client_, shared_->env(), key, policy,
          std::chrono::duration_cast<std::chrono::seconds>(*retention), app, clock_, &problem);
      if (!plan) {
        status["phase"] = last ? "Degraded" : status.value("phase", "InitialReplication");
        status["message"] = problem.message;
        if (SetStatusCondition(status,
                               MakeCondition(api::kConditionReady, false, problem.reason,
                                             problem.message, generation),
                               now)) {
          recorder_.Record(object, controller::EventType::kWarning, problem.reason,
                           problem.message);
        }
        requeue = kRetryFailed;
      } else {
        if (app) {
          shared_->SetAppAttempt(key.ToString(), now);
        }
        std::shared_ptr<Shared> shared = shared_;
        const Clock& clock = clock_;
        bool submitted = shared->SubmitCycle(
            key.ToString(),
            [shared, key, p = std::move(*plan), &clock](std::stop_token stop) mutable {
              CycleOutcome outcome = RunCycle(*shared, key, std::move(p), clock, stop);
              shared->PutCycle(key.ToString(), std::move(outcome));
              if (shared->env().enqueue) {
                shared->env().enqueue(kReplicationPolicyController, key);
              }
            });
        if (!submitted) {
          // A handover fenced the policy since this reconcile read it: the next one shows it.
          requeue = kFencedRecheck;
        } else if (!last) {
          status["phase"] = "InitialReplication";
          if (!status.contains("initialProgress")) {
            status["initialProgress"] = Json{{"bytesDone", 0}, {"percent", 0.0}};
          }
        }
        if (submitted) {
          SetStatusCondition(status,
                             MakeCondition(api::kConditionSynchronizing, true, "CycleRunning",
                                           std::string(app ? "application" : "crash") +
                                               "-consistent cycle to Site " + site,
                                           generation),
                             now);
        }
      }
    } else {
      requeue = due - now;
      SetStatusCondition(status,
                         MakeCondition(api::kConditionSynchronizing, false, "Idle",
                                       "next cycle at " + FormatRfc3339(due), generation),
                         now);
    }
  }
  if (last && status.value("phase", "") == "Protected") {
    SetStatusCondition(status,
                       MakeCondition(api::kConditionReady, true, "Protected",
                                     "replicating to Site " + site, generation),
                       now);
  } else if (!last && !active && !status.contains("conditions")) {
    SetStatusCondition(status,
                       MakeCondition(api::kConditionReady, false, "InitialReplication",
                                     "initial replication to Site " + site, generation),
                       now);
  } else if (!last && status.value("phase", "") == "InitialReplication") {
    SetStatusCondition(status,
                       MakeCondition(api::kConditionReady, false, "InitialReplication",
                                     "initial replication to Site " + site, generation),
                       now);
  }
  (void)published_event;
  RETURN_IF_ERROR(UpdateStatusIfChanged(client_, resource_, object, status));
  if (done) {
    shared_->ForgetCycle(key.ToString(), done->finished);
  }
  Result result;
  if (requeue) {
    result.requeue_after = std::max(milliseconds(1), duration_cast<milliseconds>(*requeue));
  } else if (last && !failed_over) {
    // Keep currentRPOSeconds and the lag metric fresh between cycles.
    result.requeue_after = std::min(duration_cast<milliseconds>(interval), milliseconds(30'000));
  }
  return result;
}

}  // namespace lifeboat::reconcilers::replication
