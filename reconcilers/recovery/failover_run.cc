#include "reconcilers/recovery/failover_run.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <atomic>
#include <system_error>
#include <thread>

#include "api/codec.h"
#include "api/duration.h"
#include "engines/hooks/from_api.h"
#include "engines/replication/control.h"
#include "engines/replication/sender.h"
#include "engines/vault/cli_support.h"
#include "reconcilers/backup/common.h"
#include "reconcilers/conditions.h"
#include "reconcilers/replication/shared.h"

namespace lifeboat::reconcilers::recovery {
namespace {

namespace fs = std::filesystem;
namespace rep = lifeboat::replication;
using api::FailoverType;
using api::StepStage;
using std::chrono::duration_cast;
using std::chrono::milliseconds;

constexpr char kStepRunning[] = "Running";
constexpr char kStepSucceeded[] = "Succeeded";
constexpr char kStepFailed[] = "Failed";
constexpr char kStepWaiting[] = "WaitingForApproval";
constexpr size_t kOutputTail = 2048;
constexpr auto kControlTimeout = std::chrono::minutes(30);
constexpr auto kControlPoll = milliseconds(50);  // a handover is a few hundred ms
// How long the protected site keeps the points replicated back to it.
constexpr std::chrono::seconds kReverseRetention = std::chrono::hours(24);

Clock::TimePoint FromMs(int64_t ms) { return Clock::TimePoint(milliseconds(ms)); }

std::string Tail(const std::string& s) {
  return s.size() <= kOutputTail ? s : s.substr(s.size() - kOutputTail);
}

std::string Seconds(Clock::Duration d) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.2fs", duration_cast<milliseconds>(d).count() / 1000.0);
  return buf;
}

bool HasActions(FailoverType type) {
  return type == FailoverType::kTest || type == FailoverType::kPlanned ||
         type == FailoverType::kUnplanned || type == FailoverType::kFailback;
}

struct StepDef {
  std::string group;
  StepStage stage = StepStage::kWorkloads;
  std::string name;  // the action's name, or the policy's
  const api::Action* action = nullptr;
};

std::vector<StepDef> StepsOf(const api::RecoveryPlan& plan, FailoverType type) {
  std::vector<StepDef> steps;
  const bool actions = HasActions(type);
  for (const api::RecoveryGroup& g : plan.spec.groups) {
    if (actions) {
      for (const api::Action& a : g.pre_actions) {
        steps.push_back({g.name, StepStage::kPre, a.name, &a});
      }
    }
    for (const std::string& p : g.replication_policies) {
      steps.push_back({g.name, StepStage::kWorkloads, p, nullptr});
    }
    if (actions) {
      for (const api::Action& a : g.post_actions) {
        steps.push_back({g.name, StepStage::kPost, a.name, &a});
      }
    }
  }
  return steps;
}

bool SameStep(const api::FailoverStep& s, const StepDef& d) {
  return s.group.value_or("") == d.group && s.stage == d.stage && s.action.value_or("") == d.name;
}

Clock::Duration ActionTimeout(const api::Action& action) {
  auto t = api::ParseDuration(action.timeout.value_or(std::string(api::kDefaultActionTimeout)));
  return t.ok() ? Clock::Duration(*t) : Clock::Duration(std::chrono::minutes(5));
}

// Why a step failed: the Failover's Ready reason and a message a person can act on.
struct StepFailure {
  std::string reason;
  std::string message;
};

class Run {
 public:
  Run(const FailoverRunContext& ctx, std::stop_token stop)
      : ctx_(ctx), env_(ctx.shared.env()), stop_(std::move(stop)) {}

  void Go();

 private:
  bool Load();
  std::optional<StepFailure> CheckOrder();
  std::optional<StepFailure> Preflight();
  std::optional<StepFailure> RunStep(const StepDef& def, api::FailoverStep& step);
  std::optional<StepFailure> RunAction(const api::Action& action, api::FailoverStep& step);
  std::optional<StepFailure> RunScale(const api::ScaleAction& scale, Clock::Duration timeout,
                                      api::FailoverStep& step);
  std::optional<StepFailure> RunWorkload(const std::string& policy, api::FailoverStep& step);
  std::optional<StepFailure> Protected(rep::TargetEndpoint* out);
  StatusOr<rep::ControlState> Control(const std::function<StatusOr<rep::ControlState>()>& call);
  StatusOr<rep::ReplicateResult> ReplicateBack(const std::string& policy);
  void Finish();
  void Fail(const StepFailure& failure);
  void Wait(const api::Action& action, api::FailoverStep& step);
  void PatchFailover();
  void SetReady(bool ok, const std::string& reason, const std::string& message);
  Json Operation(api::FailoverPhase phase) const;
  void PatchPlan(Json status);
  std::map<std::string, std::string> ActionEnv(const std::string& group) const;
  bool Stopped() const { return stop_.stop_requested(); }
  // Adds the time since the last call (or the start of this run) to the RTO. Called before an
  // action starts and at the end; after an action, `segment_` restarts.
  void CountTowardsRto() {
    auto now = ctx_.clock.Now();
    rto_ += std::chrono::duration<double>(now - segment_).count();
    segment_ = now;
    fo_.status.rto_seconds = rto_;
  }

  const FailoverRunContext& ctx_;
  const EngineEnv& env_;
  std::stop_token stop_;
  std::atomic<bool> cancel_{false};
  Json object_;
  api::Failover fo_;
  api::RecoveryPlan plan_;
  fs::path root_;
  std::string local_site_;
  // Precise RTO so far (status keeps it across resumes; its times have second precision).
  double rto_ = 0;
  Clock::TimePoint segment_;
};

bool Run::Load() {
  auto object = ctx_.client.Get(kFailovers, ctx_.key);
  if (!object.ok()) {
    if (object.status().code() != StatusCode::kNotFound) {
      spdlog::warn("Failover ns={} name={}: cannot read it: {}", ctx_.key.ns, ctx_.key.name,
                   object.status().message());
    }
    return false;
  }
  object_ = *object;
  if (!api::FromJson(object_, &fo_).empty()) {
    return false;  // the reconciler reports invalid specs
  }
  local_site_ = replication::LocalSiteId(env_);
  rto_ = fo_.status.rto_seconds.value_or(0);
  segment_ = ctx_.clock.Now();
  return true;
}

void Run::PatchFailover() {
  Json status = api::ToJson(fo_.status);
  Status s = backup::PatchStatus(ctx_.client, kFailovers, ctx_.key, status);
  if (!s.ok()) {
    spdlog::warn("Failover ns={} name={}: cannot write status: {}", ctx_.key.ns, ctx_.key.name,
                 s.message());
  }
}

void Run::SetReady(bool ok, const std::string& reason, const std::string& message) {
  Json holder = {{"conditions", Json::array()}};
  for (const api::Condition& c : fo_.status.conditions) {
    holder["conditions"].push_back(api::ToJson(c));
  }
  SetStatusCondition(holder,
                     MakeCondition(api::kConditionReady, ok, reason, message,
                                   fo_.metadata.generation.value_or(0)),
                     ctx_.clock.Now());
  fo_.status.conditions.clear();
  for (const Json& c : holder["conditions"]) {
    api::Condition cond;
    if (api::FromJson(c, &cond).empty()) {
      fo_.status.conditions.push_back(cond);
    }
  }
}

Json Run::Operation(api::FailoverPhase phase) const {
  return {{"name", fo_.metadata.name},
          {"type", std::string(api::EnumName(fo_.spec.type))},
          {"phase", std::string(api::EnumName(phase))},
          {"time", FormatRfc3339(ctx_.clock.Now())}};
}

void Run::PatchPlan(Json status) {
  Status s = backup::PatchStatus(ctx_.client, kRecoveryPlans,
                                 {ctx_.key.ns, fo_.spec.plan_ref.name}, status);
  if (!s.ok()) {
    spdlog::warn("RecoveryPlan ns={} name={}: cannot write status: {}", ctx_.key.ns,
                 fo_.spec.plan_ref.name, s.message());
  }
}

std::map<std::string, std::string> Run::ActionEnv(const std::string& group) const {
  std::map<std::string, std::string> env = {
      {"LIFEBOAT_FAILOVER_TYPE", std::string(api::EnumName(fo_.spec.type))},
      {"LIFEBOAT_FAILOVER", fo_.metadata.name},
      {"LIFEBOAT_PLAN", plan_.metadata.name},
      {"LIFEBOAT_NAMESPACE", ctx_.key.ns},
      {"LIFEBOAT_GROUP", group},
  };
  if (fo_.spec.type == FailoverType::kTest) {
    env["LIFEBOAT_TARGET_DIR"] = TestDir(root_, fo_.metadata.name).string();
  } else if (fo_.spec.type != FailoverType::kFailback) {
    env["LIFEBOAT_TARGET_DIR"] = (root_ / "live").string();
  }
  return env;
}

std::optional<StepFailure> Run::CheckOrder() {
  const std::string state = plan_.status.state.value_or(kStateProtected);
  const FailoverType type = fo_.spec.type;
  auto wrong = [&](const std::string& why) {
    return StepFailure{"WrongOrder", "RecoveryPlan " + plan_.metadata.name + " is " + state +
                                         ": " + why};
  };
  const bool needs_site = type == FailoverType::kPlanned || type == FailoverType::kReprotect ||
                          type == FailoverType::kFailback;
  if (needs_site && !plan_.spec.protected_site_ref) {
    return StepFailure{"ProtectedSiteNotSet",
                       std::string(api::EnumName(type)) +
                           " needs the protected site: set spec.protectedSiteRef of RecoveryPlan " +
                           plan_.metadata.name + " to a Site reaching its replication endpoint"};
  }
  switch (type) {
    case FailoverType::kTest:
      if (state != kStateProtected) {
        return wrong("a Test failover drills a plan that is Protected; fail back first");
      }
      if (plan_.status.active_test && *plan_.status.active_test != fo_.metadata.name) {
        // The copies of a test that did not succeed are cleaned up here; a successful one must
        // be removed on purpose.
        auto other = ctx_.client.Get(kFailovers, {ctx_.key.ns, *plan_.status.active_test});
        bool succeeded = other.ok() && other->value("/status/phase"_json_pointer, "") ==
                                           std::string(api::EnumName(api::FailoverPhase::kSucceeded));
        if (succeeded) {
          return wrong("the copies of test " + *plan_.status.active_test +
                       " still exist; run a CleanupTest failover first");
        }
        std::error_code ec;
        fs::remove_all(TestDir(root_, *plan_.status.active_test), ec);
      }
      return std::nullopt;
    case FailoverType::kPlanned:
    case FailoverType::kUnplanned:
      if (state != kStateProtected && state != kStateFailedOver) {
        return wrong("fail over from a Protected plan (or again, with another point, before "
                     "Commit)");
      }
      return std::nullopt;
    case FailoverType::kCommit:
      if (state != kStateFailedOver) {
        return wrong("Commit follows a Planned or Unplanned failover");
      }
      return std::nullopt;
    case FailoverType::kCleanupTest:
      return std::nullopt;
    case FailoverType::kReprotect:
      if (state != kStateCommitted && state != kStateReprotected) {
        return wrong("Reprotect follows Commit (fail over, then commit, then reprotect)");
      }
      return std::nullopt;
    case FailoverType::kFailback:
      if (state != kStateReprotected) {
        return wrong("Failback follows Reprotect (the protected site must hold a recent copy)");
      }
      return std::nullopt;
  }
  return std::nullopt;
}

// What can be known before the first action runs: every replica and the chosen point of each
// (Test, Unplanned), and the protected site's Site with its credentials (Planned, Reprotect,
// Failback). A missing point must not leave the application half stopped.
std::optional<StepFailure> Run::Preflight() {
  const FailoverType type = fo_.spec.type;
  if (type == FailoverType::kTest || type == FailoverType::kUnplanned ||
      type == FailoverType::kPlanned) {
    for (const api::RecoveryGroup& g : plan_.spec.groups) {
      for (const std::string& policy : g.replication_policies) {
        auto replica = FindReplica(env_, ctx_.key.ns, policy);
        if (!replica.ok()) {
          return StepFailure{"ReplicaNotFound", replica.status().message()};
        }
        if (type == FailoverType::kPlanned) {
          continue;  // the handover makes the point
        }
        auto point =
            ChoosePoint(replica->repo->Points(), fo_.spec.recovery_point.value_or(""), policy);
        if (!point.ok()) {
          return StepFailure{"NoRecoveryPoint", point.status().message()};
        }
      }
    }
  }
  if (type == FailoverType::kPlanned || type == FailoverType::kReprotect ||
      type == FailoverType::kFailback) {
    rep::TargetEndpoint target;
    if (auto failure = Protected(&target)) {
      return failure;
    }
  }
  return std::nullopt;
}

std::optional<StepFailure> Run::Protected(rep::TargetEndpoint* out) {
  replication::SiteProblem problem;
  auto target = replication::ResolveSite(ctx_.client, env_, ctx_.key.ns,
                                         plan_.spec.protected_site_ref->name, &problem);
  if (!target) {
    return StepFailure{problem.reason, "protected site " + plan_.spec.protected_site_ref->name +
                                           ": " + problem.message};
  }
  *out = *target;
  return std::nullopt;
}

StatusOr<rep::ControlState> Run::Control(
    const std::function<StatusOr<rep::ControlState>()>& call) {
  std::stop_callback on_stop(stop_, [this] { cancel_ = true; });
  return rep::AwaitControl(call, kControlPoll, kControlTimeout, &cancel_);
}

StatusOr<rep::ReplicateResult> Run::ReplicateBack(const std::string& policy) {
  std::stop_callback on_stop(stop_, [this] { cancel_ = true; });
  return recovery::ReplicateBack(ctx_.client, env_, ctx_.clock, ctx_.key.ns, plan_, policy,
                                 &cancel_);
}

}  // namespace

StatusOr<rep::ReplicateResult> ReplicateBack(controller::KubeClient& client, const EngineEnv& env,
                                             const Clock& clock, const std::string& ns,
                                             const api::RecoveryPlan& plan,
                                             const std::string& policy,
                                             const std::atomic<bool>* cancel) {
  if (!plan.spec.protected_site_ref) {
    return FailedPreconditionError("RecoveryPlan " + plan.metadata.name +
                                   " has no spec.protectedSiteRef");
  }
  replication::SiteProblem problem;
  auto target =
      replication::ResolveSite(client, env, ns, plan.spec.protected_site_ref->name, &problem);
  if (!target) {
    return UnavailableError("protected site " + plan.spec.protected_site_ref->name + ": " +
                            problem.message);
  }
  fs::path live = LiveDir(PlanRoot(env, ns, plan), policy);
  std::vector<rep::Volume> volumes;
  std::error_code ec;
  for (fs::directory_iterator it(live, ec), end; !ec && it != end; it.increment(ec)) {
    std::string name = it->path().filename().string();
    if (!name.empty() && name.front() != '.') {
      volumes.push_back({name, it->path()});
    }
  }
  if (volumes.empty()) {
    return FailedPreconditionError("no volume of " + policy + " is live at " + live.string());
  }
  std::sort(volumes.begin(), volumes.end(),
            [](const rep::Volume& a, const rep::Volume& b) { return a.name < b.name; });
  rep::ReplicateOptions options;
  options.site = replication::LocalSiteId(env);
  options.ns = ns;
  options.policy = policy;
  options.state_dir = env.data_dir / "failover" / ".reverse-state" / ns / policy;
  options.consistency = rep::Consistency::kCrash;
  options.retention = kReverseRetention;
  options.clock = &clock;
  options.cancel = cancel;
  return rep::Replicate(volumes, *target, options);
}

namespace {

std::optional<StepFailure> Run::RunWorkload(const std::string& policy, api::FailoverStep& step) {
  const FailoverType type = fo_.spec.type;
  const std::string selector = fo_.spec.recovery_point.value_or("");
  auto record_point = [&](const rep::PointInfo& p) {
    step.recovery_point = p.id;
    step.point_time = FromMs(p.time_ms);
  };
  auto bring_up = [&](const Replica& replica, const rep::PointInfo& point,
                      const fs::path& dir) -> std::optional<StepFailure> {
    record_point(point);
    auto start = ctx_.clock.Now();
    auto stats = MaterializeInto(*replica.repo, point.id, dir);
    if (!stats.ok()) {
      return StepFailure{"MaterializeFailed", policy + ": cannot bring up point " + point.id +
                                                  " in " + dir.string() + ": " +
                                                  stats.status().message()};
    }
    step.message = "brought up point " + point.id + " (captured " +
                   FormatRfc3339(FromMs(point.time_ms)) + ", " + std::to_string(stats->files) +
                   " files, " + vault::HumanBytes(stats->bytes) + ") in " + dir.string() + " in " +
                   Seconds(ctx_.clock.Now() - start);
    return std::nullopt;
  };
  auto find = [&](Replica* out) -> std::optional<StepFailure> {
    auto replica = FindReplica(env_, ctx_.key.ns, policy);
    if (!replica.ok()) {
      return StepFailure{"ReplicaNotFound", replica.status().message()};
    }
    *out = *replica;
    return std::nullopt;
  };

  switch (type) {
    case FailoverType::kTest:
    case FailoverType::kUnplanned: {
      Replica replica;
      if (auto f = find(&replica)) return f;
      auto point = ChoosePoint(replica.repo->Points(), selector, policy);
      if (!point.ok()) {
        return StepFailure{"NoRecoveryPoint", point.status().message()};
      }
      fs::path dir = type == FailoverType::kTest
                         ? TestDir(root_, fo_.metadata.name) / policy
                         : LiveDir(root_, policy);
      return bring_up(replica, *point, dir);
    }
    case FailoverType::kPlanned: {
      Replica replica;
      if (auto f = find(&replica)) return f;
      rep::TargetEndpoint target;
      if (auto f = Protected(&target)) return f;
      rep::HandoverRequest request{ctx_.key.ns, policy, local_site_, true};
      auto state = Control([&] { return rep::RequestHandover(target, request); });
      if (!state.ok()) {
        return StepFailure{"ProtectedSiteUnavailable",
                           policy + ": the protected site did not hand over (" +
                               state.status().message() +
                               "); if it is gone, run an Unplanned failover instead"};
      }
      if (state->phase != rep::ControlPhase::kSucceeded) {
        return StepFailure{"HandoverFailed", policy + ": the protected site could not hand over: " +
                                                 state->message};
      }
      rep::PointInfo final_point;
      bool found = false;
      for (const rep::PointInfo& p : replica.repo->Points()) {
        if (p.id == state->point) {
          final_point = p;
          found = true;
        }
      }
      if (!found) {
        return StepFailure{"NoRecoveryPoint", policy + ": the final point " + state->point +
                                                  " is not in the replica at this site"};
      }
      return bring_up(replica, final_point, LiveDir(root_, policy));
    }
    case FailoverType::kCommit: {
      if (!plan_.spec.protected_site_ref) {
        step.message = "committed; no protectedSiteRef: Reprotect will fence the protected site";
        return std::nullopt;
      }
      rep::TargetEndpoint target;
      if (auto f = Protected(&target)) {
        step.message = "committed; the protected site is not reachable (" + f->message +
                       "): Reprotect will fence it";
        return std::nullopt;
      }
      rep::HandoverRequest request{ctx_.key.ns, policy, local_site_, false};
      auto state = rep::RequestHandover(target, request);
      step.message = state.ok() && state->phase != rep::ControlPhase::kFailed
                         ? "committed; the protected site stopped replicating " + policy
                         : "committed; the protected site did not answer (" +
                               (state.ok() ? state->message : state.status().message()) +
                               "): Reprotect will fence it";
      return std::nullopt;
    }
    case FailoverType::kCleanupTest: {
      std::string test = plan_.status.active_test.value_or("");
      if (test.empty()) {
        step.message = "no test copies to remove";
        return std::nullopt;
      }
      fs::path dir = TestDir(root_, test) / policy;
      std::error_code ec;
      uintmax_t removed = fs::remove_all(dir, ec);
      if (ec) {
        return StepFailure{"CleanupFailed", "cannot remove " + dir.string() + ": " + ec.message()};
      }
      step.message = "removed " + dir.string() + " (" + std::to_string(removed) + " entries)";
      return std::nullopt;
    }
    case FailoverType::kReprotect: {
      rep::TargetEndpoint target;
      if (auto f = Protected(&target)) return f;
      auto fence = Control([&] {
        return rep::RequestHandover(target, {ctx_.key.ns, policy, local_site_, false});
      });
      if (!fence.ok() || fence->phase != rep::ControlPhase::kSucceeded) {
        return StepFailure{"ProtectedSiteUnavailable",
                           policy + ": cannot fence the protected site before replicating back: " +
                               (fence.ok() ? fence->message : fence.status().message())};
      }
      auto seed = Control([&] { return rep::RequestSeed(target, {ctx_.key.ns, policy, local_site_}); });
      if (!seed.ok() || seed->phase != rep::ControlPhase::kSucceeded) {
        return StepFailure{"SeedFailed",
                           policy + ": the protected site could not seed the reverse replica: " +
                               (seed.ok() ? seed->message : seed.status().message())};
      }
      auto result = ReplicateBack(policy);
      if (!result.ok()) {
        return StepFailure{"ReplicationFailed",
                           policy + ": replicating back failed: " + result.status().message()};
      }
      record_point(result->point);
      step.bytes_sent = static_cast<int64_t>(result->data_bytes_sent);
      step.message = "replicated back: " + vault::HumanBytes(result->data_bytes_sent) + " of " +
                     vault::HumanBytes(result->bytes_scanned) +
                     " sent (the rest was already at the protected site), point " +
                     result->point.id;
      return std::nullopt;
    }
    case FailoverType::kFailback: {
      rep::TargetEndpoint target;
      if (auto f = Protected(&target)) return f;
      auto result = ReplicateBack(policy);
      if (!result.ok()) {
        return StepFailure{"ReplicationFailed",
                           policy + ": final replication back failed: " + result.status().message()};
      }
      record_point(result->point);
      step.bytes_sent = static_cast<int64_t>(result->data_bytes_sent);
      auto state = Control([&] {
        return rep::RequestFailback(target, {ctx_.key.ns, policy, local_site_, result->point.id});
      });
      if (!state.ok() || state->phase != rep::ControlPhase::kSucceeded) {
        return StepFailure{"FailbackFailed",
                           policy + ": the protected site could not take the data back: " +
                               (state.ok() ? state->message : state.status().message())};
      }
      step.message = "sent " + vault::HumanBytes(result->data_bytes_sent) +
                     "; the protected site runs point " + result->point.id + " and replicates again";
      return std::nullopt;
    }
  }
  return std::nullopt;
}

std::optional<StepFailure> Run::RunScale(const api::ScaleAction& scale, Clock::Duration timeout,
                                         api::FailoverStep& step) {
  const bool deployment = scale.kind == api::ScaleKind::kDeployment;
  controller::ObjectKey key{scale.namespace_.value_or(ctx_.key.ns), scale.name};
  std::string what = std::string(api::EnumName(scale.kind)) + " " + key.ToString();
  Json patch = {{"spec", {{"replicas", scale.replicas}}}};
  auto patched = deployment
                     ? ctx_.client.Patch(kDeployments, key, controller::PatchType::kMerge, patch)
                     : ctx_.client.Patch(kStatefulSets, key, controller::PatchType::kMerge, patch);
  if (!patched.ok()) {
    std::string hint = patched.status().code() == StatusCode::kNotFound
                           ? " (scale actions need the workload in the Kubernetes cluster this "
                             "controller talks to)"
                           : "";
    return StepFailure{"ActionFailed", "scale " + what + ": " + patched.status().message() + hint};
  }
  auto deadline = ctx_.clock.Now() + timeout;
  while (!Stopped()) {
    auto object = deployment ? ctx_.client.Get(kDeployments, key)
                             : ctx_.client.Get(kStatefulSets, key);
    if (object.ok()) {
      int64_t ready = object->value("/status/readyReplicas"_json_pointer, int64_t{0});
      int64_t observed = object->value("/status/observedGeneration"_json_pointer, int64_t{0});
      int64_t generation = object->value("/metadata/generation"_json_pointer, int64_t{0});
      if (observed >= generation && ready == scale.replicas) {
        step.message = "scaled " + what + " to " + std::to_string(scale.replicas) + " ready";
        return std::nullopt;
      }
    }
    if (ctx_.clock.Now() >= deadline) {
      return StepFailure{"ActionTimedOut", "scale " + what + ": not " +
                                               std::to_string(scale.replicas) + " ready within " +
                                               Seconds(timeout)};
    }
    std::this_thread::sleep_for(milliseconds(500));
  }
  return StepFailure{"Stopped", "stopped"};
}

std::optional<StepFailure> Run::RunAction(const api::Action& action, api::FailoverStep& step) {
  Clock::Duration timeout = ActionTimeout(action);
  if (action.scale) {
    return RunScale(*action.scale, timeout, step);
  }
  api::Hook hook;
  hook.exec = action.exec;
  hook.http = action.http;
  hook.timeout = action.timeout.value_or(std::string(api::kDefaultActionTimeout));
  auto spec = hooks::HookSpecFromApi(hook, action.name);
  if (!spec.ok()) {
    return StepFailure{"InvalidSpec", spec.status().message()};
  }
  // Deleting the Failover (or stopping the controller) stops a running command too.
  std::stop_callback on_stop(stop_, [this] { cancel_ = true; });
  spec->cancel = &cancel_;
  auto result = ctx_.shared.hooks().Run(*spec, ActionEnv(step.group.value_or("")));
  if (!result.ok()) {
    return StepFailure{"ActionFailed", action.name + ": " + result.status().message()};
  }
  step.exit_code = result->exit_code;
  if (!result->output.empty()) {
    step.output = Tail(result->output);
  }
  step.message = result->message;
  if (!result->succeeded) {
    return StepFailure{result->timed_out ? "ActionTimedOut" : "ActionFailed",
                       "group " + step.group.value_or("") + ": " + result->message};
  }
  return std::nullopt;
}

std::optional<StepFailure> Run::RunStep(const StepDef& def, api::FailoverStep& step) {
  if (def.action == nullptr) {
    return RunWorkload(def.name, step);
  }
  return RunAction(*def.action, step);
}

void Run::Wait(const api::Action& action, api::FailoverStep& step) {
  step.phase = kStepWaiting;
  step.message = "waiting for approval: " + action.manual->message;
  fo_.status.phase = api::FailoverPhase::kWaitingForApproval;
  fo_.status.message = "group " + step.group.value_or("") + ": waiting for approval of " +
                       action.name + ": " + action.manual->message + " (add \"" + action.name +
                       "\" to spec.approvals)";
  SetReady(false, "WaitingForApproval", *fo_.status.message);
  PatchFailover();
  ctx_.recorder.Record(object_, controller::EventType::kNormal, "WaitingForApproval",
                       *fo_.status.message);
  PatchPlan({{"lastOperation",
              Operation(api::FailoverPhase::kWaitingForApproval)}});
}

void Run::Fail(const StepFailure& failure) {
  auto now = ctx_.clock.Now();
  fo_.status.phase = api::FailoverPhase::kFailed;
  fo_.status.completion_time = now;
  fo_.status.message = failure.message;
  SetReady(false, failure.reason, failure.message);
  PatchPlan({{"lastOperation",
              Operation(api::FailoverPhase::kFailed)},
             {"message", "Failover " + fo_.metadata.name + " failed: " + failure.message}});
  PatchFailover();
  ctx_.recorder.Record(object_, controller::EventType::kWarning, failure.reason, failure.message);
  spdlog::warn("Failover ns={} name={} type={} failed reason={}: {}", ctx_.key.ns,
               ctx_.key.name, api::EnumName(fo_.spec.type), failure.reason, failure.message);
}

void Run::Finish() {
  auto now = ctx_.clock.Now();
  const FailoverType type = fo_.spec.type;
  // RTO: the time this operation itself took, without the user's actions and approvals.
  CountTowardsRto();
  std::optional<Clock::TimePoint> oldest_point;
  for (const api::FailoverStep& s : fo_.status.steps) {
    if (s.point_time && (!oldest_point || *s.point_time < *oldest_point)) {
      oldest_point = s.point_time;
    }
  }
  double rto = rto_;
  fo_.status.phase = api::FailoverPhase::kSucceeded;
  fo_.status.completion_time = now;
  fo_.status.rto_seconds = rto;
  if (oldest_point) {
    fo_.status.recovery_point_used = FormatRfc3339(*oldest_point);
  }
  std::string target_dir;
  if (type == FailoverType::kTest) {
    target_dir = TestDir(root_, fo_.metadata.name).string();
  } else if (type == FailoverType::kPlanned || type == FailoverType::kUnplanned) {
    target_dir = (root_ / "live").string();
  }
  if (!target_dir.empty()) {
    fo_.status.target_dir = target_dir;
  }
  char rto_text[32];
  std::snprintf(rto_text, sizeof(rto_text), "%.2f", rto);
  std::string done = std::string(api::EnumName(type)) + " of RecoveryPlan " +
                     plan_.metadata.name + " succeeded";
  if (HasActions(type)) {
    done += " in " + std::string(rto_text) + " s (RTO, without the time in actions)";
  }
  if (!target_dir.empty()) {
    done += "; volumes in " + target_dir;
  }
  fo_.status.message = done;
  SetReady(true, "Succeeded", done);
  // The plan's new state first: whoever sees the Failover Succeeded sees the plan after it.
  Json plan_status;
  std::string group_state;
  switch (type) {
    case FailoverType::kTest:
      plan_status["activeTest"] = fo_.metadata.name;
      group_state = "TestFailedOver";
      break;
    case FailoverType::kCleanupTest: {
      std::error_code ec;
      if (plan_.status.active_test) {
        fs::remove_all(TestDir(root_, *plan_.status.active_test), ec);
      }
      plan_status["activeTest"] = nullptr;
      break;
    }
    case FailoverType::kPlanned:
    case FailoverType::kUnplanned:
      plan_status["state"] = kStateFailedOver;
      plan_status["activeSite"] = local_site_;
      plan_status["targetDir"] = (root_ / "live").string();
      group_state = kStateFailedOver;
      break;
    case FailoverType::kCommit:
      plan_status["state"] = kStateCommitted;
      group_state = kStateCommitted;
      break;
    case FailoverType::kReprotect: {
      plan_status["state"] = kStateReprotected;
      group_state = kStateReprotected;
      // This run was the first reverse cycle: the periodic ones follow kReverseEvery later.
      ReverseOutcome outcome;
      outcome.at = now;
      for (const api::FailoverStep& s : fo_.status.steps) {
        outcome.bytes_sent += static_cast<uint64_t>(s.bytes_sent.value_or(0));
      }
      ctx_.shared.PutReverse(PlanJobKey(ctx_.key.ns, plan_.metadata.name), outcome);
      break;
    }
    case FailoverType::kFailback: {
      plan_status["state"] = kStateProtected;
      plan_status["targetDir"] = nullptr;
      group_state = kStateProtected;
      // The data runs at the protected site again: the copies here are stale.
      std::error_code ec;
      fs::remove_all(root_ / "live", ec);
      fs::remove_all(env_.data_dir / "failover" / ".reverse-state" / ctx_.key.ns, ec);
      auto any = plan_.spec.groups.empty() || plan_.spec.groups[0].replication_policies.empty()
                     ? StatusOr<Replica>(NotFoundError(""))
                     : FindReplica(env_, ctx_.key.ns, plan_.spec.groups[0].replication_policies[0]);
      if (any.ok()) {
        plan_status["activeSite"] = any->source_site;
      }
      break;
    }
  }
  if (!group_state.empty()) {
    Json groups = Json::array();
    for (const api::RecoveryGroup& g : plan_.spec.groups) {
      groups.push_back({{"name", g.name}, {"state", group_state}});
    }
    plan_status["groups"] = groups;
  }
  plan_status["lastOperation"] = Operation(api::FailoverPhase::kSucceeded);
  plan_status["message"] = done;
  PatchPlan(plan_status);
  PatchFailover();
  if (env_.metrics != nullptr && HasActions(type)) {
    env_.metrics->replication().ObserveFailoverRto(ctx_.key.ns, plan_.metadata.name,
                                                   std::string(api::EnumName(type)), rto);
  }
  ctx_.recorder.Record(object_, controller::EventType::kNormal, "Succeeded", done);
  spdlog::info("Failover ns={} name={} type={} succeeded rto_seconds={:.2f}", ctx_.key.ns,
               ctx_.key.name, api::EnumName(type), rto);
}

void Run::Go() {
  if (!Load()) {
    return;
  }
  if (fo_.status.phase == api::FailoverPhase::kSucceeded ||
      fo_.status.phase == api::FailoverPhase::kFailed) {
    return;
  }
  auto plan_object = ctx_.client.Get(kRecoveryPlans, {ctx_.key.ns, fo_.spec.plan_ref.name});
  if (!plan_object.ok()) {
    Fail({"PlanNotFound", "RecoveryPlan " + ctx_.key.ns + "/" + fo_.spec.plan_ref.name + ": " +
                              plan_object.status().message()});
    return;
  }
  if (api::FieldErrors errors = api::FromJson(*plan_object, &plan_); !errors.empty()) {
    Fail({"PlanInvalid", "RecoveryPlan " + fo_.spec.plan_ref.name + " cannot be read"});
    return;
  }
  root_ = PlanRoot(env_, ctx_.key.ns, plan_);
  const bool fresh = fo_.status.steps.empty() &&
                     fo_.status.phase.value_or(api::FailoverPhase::kPending) ==
                         api::FailoverPhase::kPending;
  if (fresh) {
    if (auto failure = CheckOrder()) {
      Fail(*failure);
      return;
    }
    if (auto failure = Preflight()) {
      Fail(*failure);
      return;
    }
    fo_.status.start_time = ctx_.clock.Now();
  }
  fo_.status.phase = api::FailoverPhase::kRunning;
  fo_.status.message = std::string(api::EnumName(fo_.spec.type)) + " of RecoveryPlan " +
                       plan_.metadata.name + " running";
  fo_.status.observed_generation = fo_.metadata.generation;
  PatchFailover();
  if (fresh) {
    ctx_.recorder.Record(object_, controller::EventType::kNormal, "Started",
                         std::string(api::EnumName(fo_.spec.type)) + " of RecoveryPlan " +
                             plan_.metadata.name + " started");
    Json plan_status = {{"lastOperation",
                         Operation(api::FailoverPhase::kRunning)}};
    if (fo_.spec.type == FailoverType::kTest) {
      plan_status["activeTest"] = fo_.metadata.name;  // CleanupTest removes even a partial test
    }
    PatchPlan(plan_status);
  }

  for (const StepDef& def : StepsOf(plan_, fo_.spec.type)) {
    if (Stopped()) {
      return;
    }
    auto existing = std::find_if(fo_.status.steps.begin(), fo_.status.steps.end(),
                                 [&](const api::FailoverStep& s) { return SameStep(s, def); });
    if (existing != fo_.status.steps.end()) {
      std::string phase = existing->phase.value_or("");
      bool continue_on_error = def.action != nullptr && def.action->continue_on_error.value_or(false);
      if (phase == kStepSucceeded || (phase == kStepFailed && continue_on_error)) {
        continue;
      }
    } else {
      api::FailoverStep step;
      step.group = def.group;
      step.stage = def.stage;
      step.action = def.name;
      fo_.status.steps.push_back(step);
      existing = fo_.status.steps.end() - 1;
    }
    api::FailoverStep& step = *existing;
    size_t index = static_cast<size_t>(existing - fo_.status.steps.begin());
    auto now = ctx_.clock.Now();
    if (def.action != nullptr) {
      CountTowardsRto();
    }
    if (def.action != nullptr && def.action->manual) {
      if (!step.start_time) {
        step.start_time = now;
      }
      const auto& approvals = fo_.spec.approvals;
      if (std::find(approvals.begin(), approvals.end(), def.name) != approvals.end()) {
        step.phase = kStepSucceeded;
        step.end_time = now;
        step.message = "approved";
        step.duration_seconds = std::chrono::duration<double>(now - *step.start_time).count();
        segment_ = ctx_.clock.Now();
        PatchFailover();
        continue;
      }
      if (now - *step.start_time >= ActionTimeout(*def.action)) {
        step.phase = kStepFailed;
        step.end_time = now;
        step.message = "not approved within " + Seconds(ActionTimeout(*def.action));
        PatchFailover();
        if (def.action->continue_on_error.value_or(false)) {
          continue;
        }
        Fail({"ApprovalTimedOut", "group " + def.group + ": " + def.name + " was not approved within " +
                                      Seconds(ActionTimeout(*def.action)) +
                                      "; create a new Failover to try again"});
        return;
      }
      Wait(*def.action, step);
      return;
    }
    step.phase = kStepRunning;
    step.start_time = now;
    step.end_time.reset();
    step.exit_code.reset();
    step.output.reset();
    step.message = def.action != nullptr ? "running " + def.name
                                         : "bringing up " + def.name;
    PatchFailover();
    std::optional<StepFailure> failure = RunStep(def, fo_.status.steps[index]);
    api::FailoverStep& done = fo_.status.steps[index];
    if (Stopped()) {
      return;  // resumed by the next run: the step runs again
    }
    done.end_time = ctx_.clock.Now();
    done.duration_seconds = std::chrono::duration<double>(*done.end_time - now).count();
    if (def.action != nullptr) {
      segment_ = *done.end_time;  // the action's own time does not count
    }
    done.phase = failure ? kStepFailed : kStepSucceeded;
    if (failure) {
      done.message = failure->message;
    }
    PatchFailover();
    if (failure) {
      if (def.action != nullptr && def.action->continue_on_error.value_or(false)) {
        ctx_.recorder.Record(object_, controller::EventType::kWarning, failure->reason,
                             failure->message + " (continueOnError: going on)");
        continue;
      }
      Fail(*failure);
      return;
    }
  }
  Finish();
}

}  // namespace

void RunFailover(const FailoverRunContext& ctx, std::stop_token stop) {
  Run run(ctx, std::move(stop));
  run.Go();
}

std::optional<PendingApproval> WaitingApproval(const api::Failover& failover,
                                               const api::RecoveryPlan& plan) {
  if (failover.status.phase != api::FailoverPhase::kWaitingForApproval) {
    return std::nullopt;
  }
  for (const api::FailoverStep& s : failover.status.steps) {
    if (s.phase.value_or("") != kStepWaiting || !s.start_time) {
      continue;
    }
    for (const api::RecoveryGroup& g : plan.spec.groups) {
      if (g.name != s.group.value_or("")) continue;
      for (const auto* list : {&g.pre_actions, &g.post_actions}) {
        for (const api::Action& a : *list) {
          if (a.name == s.action.value_or("") && a.manual) {
            return PendingApproval{a.name, *s.start_time + ActionTimeout(a)};
          }
        }
      }
    }
  }
  return std::nullopt;
}

}  // namespace lifeboat::reconcilers::recovery
