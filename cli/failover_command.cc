// `lifeboat failover`: runs a RecoveryPlan once (creates a Failover object) and follows it step
// by step until it succeeds or fails; `approve` answers a manual step; `ls` and `status` show
// what ran. The command only talks to the API server: the controller does the work, so stopping
// the command (Ctrl-C, --timeout) never stops the failover.
#include <pthread.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <cstdlib>
#include <deque>
#include <iomanip>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/duration.h"
#include "api/failover.h"
#include "api/json.h"
#include "api/recovery_plan.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "common/clock.h"
#include "controller/client_config.h"
#include "controller/kube_client.h"
#include "controller/rest_kube_client.h"
#include "reconcilers/kinds.h"

namespace lifeboat::cli {
namespace {

using controller::KubeClient;
using controller::ObjectKey;
using controller::ResourceRef;

constexpr char kCommand[] = "lifeboat failover";
constexpr int kExitFailed = 1;
constexpr int kExitUsage = 2;
// The command stopped following (--timeout); the Failover goes on.
constexpr int kExitStoppedFollowing = 3;
// The command was interrupted (Ctrl-C / SIGTERM); the Failover goes on.
constexpr int kExitInterrupted = 130;
// Lines of a failed exec action's output shown under its step.
constexpr size_t kOutputTailLines = 5;
// Read-modify-write attempts of `approve` against concurrent writers (409 Conflict).
constexpr int kApproveAttempts = 10;
constexpr char kDefaultTimeout[] = "30m";

const ResourceRef kFailovers{reconcilers::kLifeboatGroup, reconcilers::kLifeboatVersion,
                             "failovers", "Failover", true};
const ResourceRef kPlans{reconcilers::kLifeboatGroup, reconcilers::kLifeboatVersion,
                         "recoveryplans", "RecoveryPlan", true};

std::string Lower(std::string_view text) {
  std::string out(text);
  for (char& c : out) {
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  }
  return out;
}

// "test", "TEST", "Test" → Test.
std::optional<api::FailoverType> ParseType(std::string_view text) {
  const auto& names = api::EnumNames<api::FailoverType>::kNames;
  for (size_t i = 0; i < names.size(); ++i) {
    if (Lower(names[i]) == Lower(text)) {
      return static_cast<api::FailoverType>(i);
    }
  }
  return std::nullopt;
}

std::string ValidTypes() {
  std::string out;
  for (std::string_view name : api::EnumNames<api::FailoverType>::kNames) {
    out += (out.empty() ? "" : ", ") + std::string(name);
  }
  return out;
}

void AddClientFlags(FlagSet& flags) {
  flags.String("namespace", "n", "", "namespace (default: the kubeconfig context's namespace)");
  flags.String("kubeconfig", "", "",
               "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config; `lifeboat up` "
               "writes <data-dir>/kubeconfig)");
  flags.String("context", "", "", "kubeconfig context (default: current-context)");
}

struct Connection {
  std::unique_ptr<KubeClient> client;
  std::string ns;
};

StatusOr<Connection> Connect(const FlagSet& flags) {
  ASSIGN_OR_RETURN(controller::ClientConfig config,
                   controller::ResolveClientConfig(flags.Get("kubeconfig"), flags.Get("context")));
  std::string ns = flags.WasSet("namespace") ? flags.Get("namespace") : config.ns;
  if (ns.empty()) {
    return InvalidArgumentError("--namespace: must not be empty");
  }
  ASSIGN_OR_RETURN(std::unique_ptr<KubeClient> client,
                   controller::NewRestKubeClient(std::move(config)));
  return Connection{std::move(client), ns};
}

// A Failover as read from the API. Fields a newer server adds are ignored: following must keep
// working against a controller one version ahead.
api::Failover DecodeFailover(const Json& object) {
  api::Failover failover;
  (void)api::FromJson(object, &failover);
  return failover;
}

std::string Clock24(Clock::TimePoint t) {
  std::string text = FormatRfc3339(t);  // 2026-11-21T10:04:05Z
  return text.size() >= 19 ? text.substr(11, 8) : text;
}

std::string FormatSeconds(double seconds) {
  std::ostringstream out;
  if (seconds > 0 && seconds < 0.9995) {
    out << std::llround(seconds * 1000) << "ms";  // "135ms", not "0.1s"
  } else if (seconds < 60) {
    // Whole seconds as "2s" (API times have second precision), measured ones as "4.5s".
    bool whole = seconds == static_cast<double>(static_cast<int64_t>(seconds));
    out << std::fixed << std::setprecision(whole ? 0 : 1) << seconds << "s";
  } else {
    auto whole = static_cast<int64_t>(seconds);
    out << whole / 60 << "m" << std::setw(2) << std::setfill('0') << whole % 60 << "s";
  }
  return out.str();
}

bool IsTerminalStepPhase(const std::string& phase) {
  return phase == "Succeeded" || phase == "Failed" || phase == "Skipped";
}

bool IsFinished(const api::FailoverStatus& status) {
  return status.phase == api::FailoverPhase::kSucceeded ||
         status.phase == api::FailoverPhase::kFailed;
}

std::string StepKey(const api::FailoverStep& step) {
  return step.group.value_or("") + "/" +
         (step.stage ? std::string(api::EnumName(*step.stage)) : "") + "/" +
         step.action.value_or("");
}

std::string StepTitle(const api::FailoverStep& step) {
  std::string title = step.group.value_or("-");
  if (step.stage) {
    title += " " + std::string(api::EnumName(*step.stage));
  }
  return title + " " + step.action.value_or("-");
}

std::vector<std::string> LastLines(const std::string& text, size_t count) {
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    lines.push_back(line);
  }
  while (!lines.empty() && lines.back().empty()) {
    lines.pop_back();
  }
  if (lines.size() > count) {
    lines.erase(lines.begin(), lines.end() - static_cast<std::ptrdiff_t>(count));
  }
  return lines;
}

// The manual action `action` of the plan, if it is one.
const api::Action* FindAction(const api::RecoveryPlan& plan, const std::string& action) {
  for (const api::RecoveryGroup& group : plan.spec.groups) {
    for (const auto* list : {&group.pre_actions, &group.post_actions}) {
      for (const api::Action& a : *list) {
        if (a.name == action) {
          return &a;
        }
      }
    }
  }
  return nullptr;
}

std::vector<std::string> ManualActions(const api::RecoveryPlan& plan) {
  std::vector<std::string> names;
  for (const api::RecoveryGroup& group : plan.spec.groups) {
    for (const auto* list : {&group.pre_actions, &group.post_actions}) {
      for (const api::Action& a : *list) {
        if (a.manual) {
          names.push_back(a.name);
        }
      }
    }
  }
  return names;
}

std::string JoinOrNone(const std::vector<std::string>& items) {
  if (items.empty()) {
    return "none";
  }
  std::string out;
  for (const std::string& item : items) {
    out += (out.empty() ? "" : ", ") + item;
  }
  return out;
}

// Prints what changed between versions of one Failover: each step once when it starts and once
// when it ends, approval requests, phase changes and the outcome. Text or JSON lines.
class Reporter {
 public:
  Reporter(std::ostream& out, std::string name, std::string ns, bool json,
           std::optional<api::RecoveryPlan> plan)
      : out_(out),
        name_(std::move(name)),
        ns_(std::move(ns)),
        json_(json),
        plan_(std::move(plan)) {}

  void Observe(const api::Failover& failover) {
    const api::FailoverStatus& status = failover.status;
    const bool phase_changed = status.phase && status.phase != last_phase_;
    last_phase_ = status.phase;
    if (phase_changed && !IsFinished(status)) {
      PhaseLine(*status.phase, status.message);
    }
    for (const api::FailoverStep& step : status.steps) {
      ObserveStep(step);
    }
    if (phase_changed && status.phase == api::FailoverPhase::kWaitingForApproval &&
        !AnyStepWaiting(status)) {
      ApprovalLine(std::nullopt, status.message.value_or(""));
    }
  }

  // The final lines; returns the exit code.
  int Finish(const api::Failover& failover) {
    const api::FailoverStatus& status = failover.status;
    bool succeeded = status.phase == api::FailoverPhase::kSucceeded;
    if (json_) {
      Json event = Event("finished");
      event["phase"] = status.phase ? std::string(api::EnumName(*status.phase)) : "";
      if (status.rto_seconds) {
        event["rtoSeconds"] = *status.rto_seconds;
      }
      if (status.target_dir) {
        event["targetDir"] = *status.target_dir;
      }
      if (status.recovery_point_used) {
        event["recoveryPointUsed"] = *status.recovery_point_used;
      }
      if (status.message) {
        event["message"] = *status.message;
      }
      out_ << event.dump() << std::endl;
      return succeeded ? 0 : kExitFailed;
    }
    std::string line = "Failover " + name_ + " " +
                       (status.phase ? std::string(api::EnumName(*status.phase)) : "?");
    std::vector<std::string> facts;
    if (status.rto_seconds) {
      facts.push_back("RTO " + FormatSeconds(*status.rto_seconds));
    }
    if (status.recovery_point_used) {
      facts.push_back("recovery point " + *status.recovery_point_used);
    }
    if (status.target_dir) {
      facts.push_back("target dir " + *status.target_dir);
    }
    for (size_t i = 0; i < facts.size(); ++i) {
      line += (i == 0 ? ": " : ", ") + facts[i];
    }
    out_ << line << std::endl;
    if (!succeeded && status.message) {
      out_ << "  " << *status.message << std::endl;
    }
    return succeeded ? 0 : kExitFailed;
  }

 private:
  enum class Printed { kNothing, kStart, kEnd };

  static bool AnyStepWaiting(const api::FailoverStatus& status) {
    return std::any_of(status.steps.begin(), status.steps.end(),
                       [](const api::FailoverStep& s) { return s.phase == "WaitingForApproval"; });
  }

  Json Event(const std::string& type) const {
    Json event = Json::object();
    event["time"] = FormatRfc3339(
        std::chrono::time_point_cast<Clock::Duration>(std::chrono::system_clock::now()));
    event["event"] = type;
    event["failover"] = name_;
    event["namespace"] = ns_;
    return event;
  }

  void ObserveStep(const api::FailoverStep& step) {
    const std::string key = StepKey(step);
    Printed& printed = printed_[key];
    const std::string phase = step.phase.value_or("");
    if (printed == Printed::kNothing && !phase.empty()) {
      StepLine(step, /*end=*/false);
      printed = Printed::kStart;
    }
    if (phase == "WaitingForApproval" && asked_.insert(key).second) {
      ApprovalLine(step.action, step.message.value_or(""));
    }
    if (phase != "WaitingForApproval") {
      asked_.erase(key);
    }
    if (printed == Printed::kStart && IsTerminalStepPhase(phase)) {
      StepLine(step, /*end=*/true);
      printed = Printed::kEnd;
    }
  }

  void StepLine(const api::FailoverStep& step, bool end) {
    if (json_) {
      Json event = Event(end ? "stepEnded" : "stepStarted");
      event["step"] = api::ToJson(step);
      out_ << event.dump() << std::endl;
      return;
    }
    std::optional<Clock::TimePoint> at = end ? step.end_time : step.start_time;
    std::string when = Clock24(at.value_or(
        std::chrono::time_point_cast<Clock::Duration>(std::chrono::system_clock::now())));
    std::string line = when + "  " + StepTitle(step) + ": ";
    if (!end) {
      // A step first seen already ended (it ran between two versions) shows as "started" here.
      line += step.phase == "Running" ? "Running" : "started";
    } else {
      line += step.phase.value_or("");
      // durationSeconds is precise; the timestamps have whole seconds (metav1.Time).
      if (step.duration_seconds) {
        line += " in " + FormatSeconds(*step.duration_seconds);
      } else if (step.start_time && step.end_time) {
        line +=
            " in " +
            FormatSeconds(std::chrono::duration<double>(*step.end_time - *step.start_time).count());
      }
      if (step.recovery_point) {
        line += ", point " + *step.recovery_point;
        if (step.point_time) {
          line += " of " + FormatRfc3339(*step.point_time);
        }
      }
      if (step.exit_code && (step.phase == "Failed" || *step.exit_code != 0)) {
        line += ", exit code " + std::to_string(*step.exit_code);
      }
    }
    if (step.message && !step.message->empty() && (end || step.phase == "Running")) {
      line += " - " + *step.message;
    }
    out_ << line << std::endl;
    if (end && step.phase == "Failed" && step.output) {
      for (const std::string& l : LastLines(*step.output, kOutputTailLines)) {
        out_ << "    | " << l << std::endl;
      }
    }
  }

  void ApprovalLine(const std::optional<std::string>& action, const std::string& step_message) {
    std::string message = step_message;
    if (action && plan_) {
      if (const api::Action* a = FindAction(*plan_, *action); a && a->manual) {
        message = a->manual->message;
      }
    }
    std::string name = action.value_or("ACTION");
    std::string command = "lifeboat failover approve " + name_ + " " + name + " -n " + ns_;
    if (json_) {
      Json event = Event("waitingForApproval");
      event["action"] = name;
      event["message"] = message;
      event["approveCommand"] = command;
      out_ << event.dump() << std::endl;
      return;
    }
    out_ << "waiting for approval of " << name << ": " << message
         << " \u2014 approve with: " << command << std::endl;
  }

  void PhaseLine(api::FailoverPhase phase, const std::optional<std::string>& message) {
    if (json_) {
      Json event = Event("phase");
      event["phase"] = std::string(api::EnumName(phase));
      if (message) {
        event["message"] = *message;
      }
      out_ << event.dump() << std::endl;
      return;
    }
    if (phase == api::FailoverPhase::kWaitingForApproval) {
      return;  // the approval line says it, naming the action
    }
    std::string line =
        Clock24(std::chrono::time_point_cast<Clock::Duration>(std::chrono::system_clock::now())) +
        "  Failover " + name_ + " " + std::string(api::EnumName(phase));
    if (phase == api::FailoverPhase::kPending) {
      line += " (waiting for the controller to start it)";
    }
    out_ << line << std::endl;
  }

  std::ostream& out_;
  std::string name_;
  std::string ns_;
  bool json_;
  std::optional<api::RecoveryPlan> plan_;
  std::map<std::string, Printed> printed_;
  std::set<std::string> asked_;
  std::optional<api::FailoverPhase> last_phase_;
};

// What the follower waits for: a new version of the Failover, its deletion, a watch that gave
// up, or a stop signal.
struct Update {
  enum class Kind { kObject, kDeleted, kError, kInterrupted };
  Kind kind = Kind::kObject;
  Json object;
  Status error;
};

class UpdateQueue {
 public:
  void Push(Update update) {
    std::lock_guard<std::mutex> lock(mu_);
    updates_.push_back(std::move(update));
    cv_.notify_all();
  }
  // nullopt when the deadline passed first.
  std::optional<Update> Pop(std::optional<std::chrono::steady_clock::time_point> deadline) {
    std::unique_lock<std::mutex> lock(mu_);
    auto ready = [this] { return !updates_.empty(); };
    if (deadline) {
      if (!cv_.wait_until(lock, *deadline, ready)) {
        return std::nullopt;
      }
    } else {
      cv_.wait(lock, ready);
    }
    Update update = std::move(updates_.front());
    updates_.pop_front();
    return update;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Update> updates_;
};

// SIGINT/SIGTERM (StopSignals) stop the following.
class SignalWatcher {
 public:
  // Until `following` is set the command is in a request (reading the plan, creating the
  // Failover) that a signal cannot interrupt: it exits at once instead.
  SignalWatcher(UpdateQueue& queue, const std::atomic<bool>& following) : set_(StopSignals()) {
    pthread_sigmask(SIG_BLOCK, &set_, nullptr);
    thread_ = std::thread([this, &queue, &following] {
      int signal = 0;
      sigwait(&set_, &signal);
      if (signal == SIGUSR1) {
        return;
      }
      if (!following.load()) {
        std::cerr << kCommand << ": interrupted before following began; a Failover may have "
                  << "been created (lifeboat failover ls)" << std::endl;
        std::_Exit(kExitInterrupted);
      }
      queue.Push(Update{Update::Kind::kInterrupted, Json(), OkStatus()});
    });
  }
  ~SignalWatcher() {
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  sigset_t set_;
  std::thread thread_;
};

// Streams versions of Failover ns/name newer than `resource_version` into `queue` (relisting
// when the revision expired) until stopped or the watch fails for good.
void WatchFailover(KubeClient& client, const ObjectKey& key, std::string resource_version,
                   std::stop_token stop, UpdateQueue& queue) {
  while (!stop.stop_requested()) {
    controller::WatchOptions options;
    options.ns = key.ns;
    options.resource_version = resource_version;
    options.field_selector = "metadata.name=" + key.name;
    Status s = client.Watch(kFailovers, options, stop, [&](controller::WatchEvent&& event) {
      if (event.type == controller::WatchEventType::kBookmark) {
        resource_version =
            event.object.value("/metadata/resourceVersion"_json_pointer, resource_version);
        return;
      }
      if (event.object.value("/metadata/name"_json_pointer, "") != key.name) {
        return;
      }
      resource_version =
          event.object.value("/metadata/resourceVersion"_json_pointer, resource_version);
      queue.Push(Update{event.type == controller::WatchEventType::kDeleted ? Update::Kind::kDeleted
                                                                           : Update::Kind::kObject,
                        std::move(event.object), OkStatus()});
    });
    if (stop.stop_requested()) {
      return;
    }
    if (s.code() == StatusCode::kOutOfRange) {
      auto current = client.Get(kFailovers, key);
      if (!current.ok()) {
        queue.Push(Update{current.status().code() == StatusCode::kNotFound ? Update::Kind::kDeleted
                                                                           : Update::Kind::kError,
                          Json(), current.status()});
        return;
      }
      resource_version = current->value("/metadata/resourceVersion"_json_pointer, "");
      queue.Push(Update{Update::Kind::kObject, std::move(*current), OkStatus()});
      continue;
    }
    queue.Push(Update{Update::Kind::kError, Json(), s});
    return;
  }
}

struct FollowOptions {
  std::optional<std::chrono::milliseconds> timeout;  // nullopt = until it ends
  std::string timeout_text;
  bool json = false;
};

// Follows Failover ns/name from `initial` until it ends; returns the exit code.
int Follow(KubeClient& client, UpdateQueue& queue, const Json& initial, const std::string& ns,
           std::optional<api::RecoveryPlan> plan, const FollowOptions& options) {
  api::Failover failover = DecodeFailover(initial);
  const std::string name = failover.metadata.name;
  const std::string status_hint = "lifeboat failover status " + name + " -n " + ns;
  Reporter reporter(std::cout, name, ns, options.json, std::move(plan));
  std::optional<std::chrono::steady_clock::time_point> deadline;
  if (options.timeout) {
    deadline = std::chrono::steady_clock::now() + *options.timeout;
  }
  std::jthread watcher([&client, &queue, key = ObjectKey{ns, name},
                        rv = failover.metadata.resource_version](std::stop_token stop) {
    WatchFailover(client, key, rv, stop, queue);
  });
  reporter.Observe(failover);
  while (!IsFinished(failover.status)) {
    std::optional<Update> update = queue.Pop(deadline);
    if (!update) {
      std::cerr << kCommand << ": stopped following after --timeout " << options.timeout_text
                << ": Failover " << ns << "/" << name << " is still "
                << (failover.status.phase ? std::string(api::EnumName(*failover.status.phase))
                                          : std::string("Pending"))
                << "; it keeps running (" << status_hint << ")\n";
      return kExitStoppedFollowing;
    }
    switch (update->kind) {
      case Update::Kind::kInterrupted:
        std::cerr << kCommand << ": stopped following; Failover " << ns << "/" << name
                  << " keeps running (" << status_hint << ")\n";
        return kExitInterrupted;
      case Update::Kind::kDeleted:
        std::cerr << kCommand << ": Failover " << ns << "/" << name
                  << " was deleted before it finished\n";
        return kExitFailed;
      case Update::Kind::kError:
        std::cerr << kCommand << ": lost track of Failover " << ns << "/" << name << ": "
                  << update->error.message() << " (it keeps running: " << status_hint << ")\n";
        return kExitFailed;
      case Update::Kind::kObject:
        failover = DecodeFailover(update->object);
        reporter.Observe(failover);
        break;
    }
  }
  return reporter.Finish(failover);
}

StatusOr<std::optional<api::RecoveryPlan>> GetPlan(KubeClient& client, const std::string& ns,
                                                   const std::string& name) {
  auto got = client.Get(kPlans, ObjectKey{ns, name});
  if (!got.ok()) {
    if (got.status().code() == StatusCode::kNotFound) {
      return std::optional<api::RecoveryPlan>();
    }
    return got.status();
  }
  api::RecoveryPlan plan;
  (void)api::FromJson(*got, &plan);
  return std::optional<api::RecoveryPlan>(std::move(plan));
}

int Fail(const std::string& message) {
  std::cerr << kCommand << ": " << message << "\n";
  return kExitFailed;
}

int Usage(const std::string& message) {
  std::cerr << kCommand << ": " << message << " (see " << kCommand << " --help)\n";
  return kExitUsage;
}

int RunApprove(const Args& args) {
  FlagSet flags("lifeboat failover approve", "lifeboat failover approve FAILOVER ACTION [-n NS]",
                "Approves the manual action ACTION of a running Failover (adds it to "
                "spec.approvals); the controller then goes on with the plan.");
  AddClientFlags(flags);
  AddLogFlags(flags);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  if (flags.positionals().size() != 2) {
    std::cerr << "lifeboat failover approve: expected FAILOVER ACTION, got "
              << flags.positionals().size() << " arguments\n";
    return kExitUsage;
  }
  const std::string& name = flags.positionals()[0];
  const std::string& action = flags.positionals()[1];
  auto connection = Connect(flags);
  if (!connection.ok()) {
    return Fail(connection.status().message());
  }
  KubeClient& client = *connection->client;
  const ObjectKey key{connection->ns, name};
  for (int attempt = 0; attempt < kApproveAttempts; ++attempt) {
    auto current = client.Get(kFailovers, key);
    if (!current.ok()) {
      return Fail(current.status().code() == StatusCode::kNotFound
                      ? "Failover \"" + name + "\" not found in namespace \"" + key.ns + "\""
                      : current.status().message());
    }
    api::Failover failover = DecodeFailover(*current);
    if (attempt == 0) {
      auto plan = GetPlan(client, key.ns, failover.spec.plan_ref.name);
      if (plan.ok() && plan->has_value()) {
        const api::Action* a = FindAction(**plan, action);
        if (a == nullptr || !a->manual) {
          return Fail("RecoveryPlan \"" + failover.spec.plan_ref.name +
                      "\" has no manual action \"" + action +
                      "\"; its manual actions: " + JoinOrNone(ManualActions(**plan)));
        }
      }
    }
    const auto& approvals = failover.spec.approvals;
    if (std::find(approvals.begin(), approvals.end(), action) != approvals.end()) {
      std::cout << "Action " << action << " of Failover " << name << " was already approved\n";
      return 0;
    }
    if (IsFinished(failover.status)) {
      return Fail("Failover \"" + name + "\" already " +
                  std::string(api::EnumName(*failover.status.phase)) + "; nothing to approve");
    }
    Json updated = *current;
    if (!updated["spec"].contains("approvals") || !updated["spec"]["approvals"].is_array()) {
      updated["spec"]["approvals"] = Json::array();
    }
    updated["spec"]["approvals"].push_back(action);
    // The read resourceVersion makes this a compare-and-swap: a concurrent change (the
    // controller, another approver) is a 409 and the approval is re-applied to the new version.
    auto written = client.Update(kFailovers, updated);
    if (written.ok()) {
      std::cout << "Approved " << action << " of Failover " << name << "\n";
      return 0;
    }
    if (written.status().code() != StatusCode::kAborted) {
      return Fail(written.status().message());
    }
  }
  return Fail("Failover \"" + name + "\" kept changing; approval not written after " +
              std::to_string(kApproveAttempts) + " attempts");
}

std::string Age(const std::optional<Clock::TimePoint>& t) {
  if (!t) {
    return "-";
  }
  auto seconds =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now() - *t)
          .count();
  if (seconds < 120) {
    return std::to_string(std::max<int64_t>(seconds, 0)) + "s";
  }
  if (seconds < 2 * 3600) {
    return std::to_string(seconds / 60) + "m";
  }
  if (seconds < 2 * 86400) {
    return std::to_string(seconds / 3600) + "h";
  }
  return std::to_string(seconds / 86400) + "d";
}

int RunList(const Args& args) {
  FlagSet flags("lifeboat failover ls", "lifeboat failover ls [-n NS] [--plan PLAN]",
                "Lists the Failovers of a namespace, oldest first.");
  AddClientFlags(flags);
  flags.String("plan", "", "", "only the Failovers of this RecoveryPlan");
  AddLogFlags(flags);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  if (!flags.positionals().empty()) {
    return Usage("ls takes no arguments, got \"" + flags.positionals()[0] + "\"");
  }
  auto connection = Connect(flags);
  if (!connection.ok()) {
    return Fail(connection.status().message());
  }
  auto list = connection->client->List(kFailovers, connection->ns, {});
  if (!list.ok()) {
    return Fail(list.status().message());
  }
  std::vector<api::Failover> failovers;
  for (const Json& item : list->items) {
    api::Failover f = DecodeFailover(item);
    if (!flags.WasSet("plan") || f.spec.plan_ref.name == flags.Get("plan")) {
      failovers.push_back(std::move(f));
    }
  }
  std::stable_sort(failovers.begin(), failovers.end(), [](const auto& a, const auto& b) {
    return a.metadata.creation_timestamp < b.metadata.creation_timestamp;
  });
  if (failovers.empty()) {
    std::cout << "No Failovers in namespace " << connection->ns << "\n";
    return 0;
  }
  std::vector<std::vector<std::string>> rows = {
      {"NAME", "PLAN", "TYPE", "PHASE", "RTO", "STEPS", "AGE", "MESSAGE"}};
  for (const api::Failover& f : failovers) {
    const api::FailoverStatus& s = f.status;
    size_t done = std::count_if(s.steps.begin(), s.steps.end(), [](const api::FailoverStep& st) {
      return IsTerminalStepPhase(st.phase.value_or(""));
    });
    rows.push_back({f.metadata.name, f.spec.plan_ref.name, std::string(api::EnumName(f.spec.type)),
                    s.phase ? std::string(api::EnumName(*s.phase)) : "Pending",
                    s.rto_seconds ? FormatSeconds(*s.rto_seconds) : "-",
                    std::to_string(done) + "/" + std::to_string(s.steps.size()),
                    Age(f.metadata.creation_timestamp), s.message.value_or("")});
  }
  std::vector<size_t> widths(rows[0].size(), 0);
  for (const auto& row : rows) {
    for (size_t i = 0; i < row.size(); ++i) {
      widths[i] = std::max(widths[i], row[i].size());
    }
  }
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) {
        line += std::string(widths[i] - row[i].size() + 2, ' ');
      }
    }
    while (!line.empty() && line.back() == ' ') {
      line.pop_back();
    }
    std::cout << line << "\n";
  }
  return 0;
}

int RunStatus(const Args& args) {
  FlagSet flags("lifeboat failover status", "lifeboat failover status FAILOVER [-n NS] [--json]",
                "Shows the steps of a Failover so far and its outcome. Exit code: 0 Succeeded, "
                "1 Failed, 3 still running.");
  AddClientFlags(flags);
  flags.Bool("json", "", "print JSON lines instead of text");
  AddLogFlags(flags);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  if (flags.positionals().size() != 1) {
    return Usage("status takes one FAILOVER name");
  }
  const std::string& name = flags.positionals()[0];
  auto connection = Connect(flags);
  if (!connection.ok()) {
    return Fail(connection.status().message());
  }
  auto got = connection->client->Get(kFailovers, ObjectKey{connection->ns, name});
  if (!got.ok()) {
    return Fail(got.status().code() == StatusCode::kNotFound
                    ? "Failover \"" + name + "\" not found in namespace \"" + connection->ns + "\""
                    : got.status().message());
  }
  api::Failover failover = DecodeFailover(*got);
  auto plan = GetPlan(*connection->client, connection->ns, failover.spec.plan_ref.name);
  Reporter reporter(std::cout, name, connection->ns, flags.GetBool("json"),
                    plan.ok() ? std::move(*plan) : std::nullopt);
  reporter.Observe(failover);
  if (IsFinished(failover.status)) {
    return reporter.Finish(failover);
  }
  return kExitStoppedFollowing;
}

int RunStart(const Args& args) {
  FlagSet flags(
      kCommand,
      "lifeboat failover PLAN --type TYPE [-n NS] [--recovery-point POINT] [--name NAME] "
      "[--no-wait] [--timeout 30m] [--json]\n"
      "       lifeboat failover approve FAILOVER ACTION [-n NS]\n"
      "       lifeboat failover ls [-n NS] [--plan PLAN]\n"
      "       lifeboat failover status FAILOVER [-n NS]",
      "Runs the RecoveryPlan PLAN once: creates a Failover of TYPE (" + ValidTypes() +
          "; any case) and follows it, printing each step when it starts and ends, manual "
          "steps waiting for approval, and the outcome with the achieved RTO.\n"
          "Exit code: 0 Succeeded, 1 Failed, 2 usage error, 3 --timeout passed, 130 "
          "interrupted. Ctrl-C and --timeout stop the following only: the Failover goes on.");
  flags.String("type", "t", "",
               "Test, Planned, Unplanned, Commit, CleanupTest, Reprotect or "
               "Failback (required)");
  flags.String("recovery-point", "", "",
               "Latest, LatestAppConsistent or an RFC 3339 time (default: Latest)");
  flags.String("name", "", "", "name of the Failover (default: generated, <plan>-<type>-xxxxx)");
  AddClientFlags(flags);
  flags.Bool("no-wait", "", "print the Failover's name and exit without following it");
  flags.String("timeout", "", kDefaultTimeout, "stop following after this long (0 = no limit)");
  flags.Bool("json", "", "print one JSON object per event instead of text");
  AddLogFlags(flags);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  if (flags.positionals().size() != 1) {
    return Usage(flags.positionals().empty()
                     ? "expected the RecoveryPlan name"
                     : "expected one RecoveryPlan name, got " +
                           std::to_string(flags.positionals().size()) + " arguments");
  }
  const std::string& plan_name = flags.positionals()[0];
  if (!flags.WasSet("type")) {
    return Usage("--type is required: one of " + ValidTypes());
  }
  std::optional<api::FailoverType> type = ParseType(flags.Get("type"));
  if (!type) {
    return Usage("--type: unknown type \"" + flags.Get("type") +
                 "\"; valid types: " + ValidTypes());
  }
  FollowOptions follow;
  follow.json = flags.GetBool("json");
  follow.timeout_text = flags.Get("timeout");
  if (follow.timeout_text != "0") {
    auto timeout = api::ParseDuration(follow.timeout_text);
    if (!timeout.ok()) {
      return Usage("--timeout: " + timeout.status().message());
    }
    follow.timeout = *timeout;
  }
  api::Failover failover;
  failover.spec.plan_ref.name = plan_name;
  failover.spec.type = *type;
  if (flags.WasSet("recovery-point")) {
    failover.spec.recovery_point = flags.Get("recovery-point");
  }
  if (flags.WasSet("name")) {
    failover.metadata.name = flags.Get("name");
  } else {
    failover.metadata.generate_name = plan_name + "-" + Lower(api::EnumName(*type)) + "-";
  }

  // Blocks the stop signals before the client starts any thread.
  UpdateQueue queue;
  std::atomic<bool> following{false};
  SignalWatcher signals(queue, following);
  auto connection = Connect(flags);
  if (!connection.ok()) {
    return Fail(connection.status().message());
  }
  KubeClient& client = *connection->client;
  const std::string& ns = connection->ns;
  failover.metadata.namespace_ = ns;
  if (api::FieldErrors errors = api::Validate(failover); !errors.empty()) {
    const api::FieldError& error = errors.front();
    std::string field = error.path == "metadata.name"           ? "--name"
                        : error.path == "metadata.generateName" ? "PLAN"
                        : error.path == "spec.recoveryPoint"    ? "--recovery-point"
                                                                : error.path;
    return Usage(field + ": " + error.message);
  }
  auto plan = GetPlan(client, ns, plan_name);
  if (!plan.ok()) {
    return Fail("reading RecoveryPlan \"" + plan_name + "\": " + plan.status().message());
  }
  if (!plan->has_value()) {
    return Fail("RecoveryPlan \"" + plan_name + "\" not found in namespace \"" + ns + "\"");
  }
  auto created = client.Create(kFailovers, api::ToJson(failover));
  if (!created.ok()) {
    return Fail("creating the Failover of RecoveryPlan \"" + plan_name +
                "\": " + created.status().message());
  }
  following = true;  // from here on, Ctrl-C ends the following (the Failover exists)
  const std::string name = created->value("/metadata/name"_json_pointer, "");
  if (flags.GetBool("no-wait")) {
    std::cout << name << "\n";
    return 0;
  }
  if (follow.json) {
    Json event = {{"event", "created"},
                  {"failover", name},
                  {"namespace", ns},
                  {"plan", plan_name},
                  {"type", std::string(api::EnumName(*type))}};
    std::cout << event.dump() << std::endl;
  } else {
    std::cout << "Created Failover " << name << " (" << api::EnumName(*type) << " of RecoveryPlan "
              << plan_name << " in namespace " << ns
              << "); following it (Ctrl-C stops following, the failover goes on)" << std::endl;
  }
  return Follow(client, queue, *created, ns, std::move(*plan), follow);
}

}  // namespace

int RunFailover(const Args& args) {
  if (!args.empty() && args[0] == "approve") {
    return RunApprove(Args(args.begin() + 1, args.end()));
  }
  if (!args.empty() && args[0] == "ls") {
    return RunList(Args(args.begin() + 1, args.end()));
  }
  if (!args.empty() && args[0] == "status") {
    return RunStatus(Args(args.begin() + 1, args.end()));
  }
  return RunStart(args);
}

}  // namespace lifeboat::cli
