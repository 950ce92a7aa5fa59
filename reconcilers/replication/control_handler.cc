#include "reconcilers/replication/control_handler.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <stdio.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <optional>
#include <stop_token>
#include <thread>

#include "api/duration.h"
#include "api/manifest.h"
#include "api/replication_policy.h"
#include "engines/replication/fs_util.h"
#include "engines/replication/receiver.h"
#include "engines/replication/store.h"
#include "reconcilers/replication/cycle.h"

namespace lifeboat::reconcilers::replication {
namespace {

namespace fs = std::filesystem;
namespace rep = lifeboat::replication;
using rep::ControlPhase;
using rep::ControlState;

constexpr auto kPollEvery = std::chrono::milliseconds(20);
constexpr char kStagingSuffix[] = ".lifeboat-failback";
constexpr int kPatchAttempts = 5;

std::string OpJobKey(const std::string& key) { return "replicationcontrol/" + key; }

std::string Annotation(const Json& object, const char* name) {
  return object.value("/metadata/annotations"_json_pointer, Json::object()).value(name, "");
}

// The point id begins with its commit time in milliseconds (store.cc: "%013lld-<hex>").
int64_t TimeFromPointId(const std::string& id) {
  size_t dash = id.find('-');
  if (dash == std::string::npos || dash == 0) {
    return 0;
  }
  int64_t ms = 0;
  for (size_t i = 0; i < dash; ++i) {
    if (id[i] < '0' || id[i] > '9') {
      return 0;
    }
    ms = ms * 10 + (id[i] - '0');
  }
  return ms;
}

// Waits until no job runs under `job_key`; false when `stop` was requested first.
bool WaitIdle(JobRunner& jobs, const std::string& job_key, const std::stop_token& stop) {
  while (jobs.Active(job_key)) {
    if (stop.stop_requested()) {
      return false;
    }
    std::this_thread::sleep_for(kPollEvery);
  }
  return true;
}

// Puts `fresh` in the place of `path` in one step where the filesystem can (renameat2
// RENAME_EXCHANGE, the old content then sits at `fresh`), else old aside then new in. Either
// way a crash leaves a whole old or a whole new volume, never a half-written one.
Status SwapIn(const fs::path& fresh, const fs::path& path, const fs::path& aside) {
  std::error_code ec;
  if (!fs::exists(fs::symlink_status(path, ec))) {
    fs::rename(fresh, path, ec);
    return ec ? UnavailableError("cannot move " + fresh.string() + " to " + path.string() + ": " +
                                 ec.message())
              : OkStatus();
  }
  if (::renameat2(AT_FDCWD, fresh.c_str(), AT_FDCWD, path.c_str(), RENAME_EXCHANGE) == 0) {
    return OkStatus();
  }
  if (errno != EINVAL && errno != ENOSYS && errno != ENOTSUP) {
    return rep::ErrnoStatus("swap " + fresh.string() + " with " + path.string());
  }
  fs::rename(path, aside, ec);
  if (ec) {
    return UnavailableError("cannot move " + path.string() + " aside: " + ec.message());
  }
  fs::rename(fresh, path, ec);
  if (ec) {
    return UnavailableError("cannot move " + fresh.string() + " to " + path.string() + ": " +
                            ec.message());
  }
  return OkStatus();
}

ControlState Failed(const std::string& site_id, std::string message) {
  ControlState s;
  s.phase = ControlPhase::kFailed;
  s.site_id = site_id;
  s.message = std::move(message);
  return s;
}

}  // namespace

struct PolicyControlHandler::Ops {
  struct Op {
    std::string request;
    ControlState state;
    bool failure_reported = false;
  };
  // The state of `request` on `key` when it is the one known: Running and Succeeded every time,
  // Failed once (the next identical call starts it again). Requires `mu`.
  std::optional<ControlState> Answer(const std::string& key, const std::string& request) {
    auto it = by_policy.find(key);
    if (it == by_policy.end() || it->second.request != request) {
      return std::nullopt;
    }
    if (it->second.state.phase == ControlPhase::kFailed) {
      if (it->second.failure_reported) {
        return std::nullopt;
      }
      it->second.failure_reported = true;
    }
    return it->second.state;
  }
  std::mutex mu;
  std::map<std::string, Op> by_policy;  // "ns/policy"
};

PolicyControlHandler::PolicyControlHandler(controller::KubeClient& client,
                                           std::shared_ptr<Shared> shared, const Clock& clock,
                                           rep::Receiver& receiver)
    : client_(client),
      shared_(std::move(shared)),
      clock_(clock),
      receiver_(receiver),
      ops_(std::make_shared<Ops>()) {
  receiver_.SetControlHandler(this);
}

PolicyControlHandler::~PolicyControlHandler() {
  receiver_.SetControlHandler(nullptr);
  std::vector<std::string> keys;
  {
    std::lock_guard<std::mutex> lock(ops_->mu);
    for (const auto& [key, op] : ops_->by_policy) {
      keys.push_back(OpJobKey(key));
    }
  }
  JobRunner& jobs = *shared_->env().jobs;
  for (const std::string& k : keys) {
    jobs.Cancel(k);
  }
  for (const std::string& k : keys) {
    while (jobs.Active(k)) {
      std::this_thread::sleep_for(kPollEvery);
    }
  }
}

StatusOr<ControlState> PolicyControlHandler::StartOrAnswer(
    const std::string& key, const std::string& request,
    std::function<ControlState(std::stop_token)> job) {
  std::lock_guard<std::mutex> lock(ops_->mu);
  if (std::optional<ControlState> known = ops_->Answer(key, request)) {
    return *known;
  }
  auto it = ops_->by_policy.find(key);
  if (it != ops_->by_policy.end()) {
    if (it->second.state.phase == ControlPhase::kRunning) {
      return FailedPreconditionError(it->second.request + " of ReplicationPolicy " + key +
                                     " is running: wait until it ends, then ask again");
    }
  }
  ControlState running;
  running.phase = ControlPhase::kRunning;
  running.site_id = LocalSiteId(shared_->env());
  running.message = request + " started";
  std::shared_ptr<Ops> ops = ops_;
  bool submitted = shared_->env().jobs->Submit(
      OpJobKey(key), [ops, key, request, job = std::move(job)](std::stop_token stop) {
        ControlState outcome = job(stop);
        std::lock_guard<std::mutex> lock(ops->mu);
        auto op = ops->by_policy.find(key);
        if (op != ops->by_policy.end() && op->second.request == request) {
          op->second.state = std::move(outcome);
        }
      });
  if (!submitted) {
    return UnavailableError("the previous operation on ReplicationPolicy " + key +
                            " is still finishing (or this site is shutting down): ask again");
  }
  ops_->by_policy[key] = Ops::Op{request, running};
  spdlog::info("Started failover control ReplicationPolicy={} operation=\"{}\"", key, request);
  return running;
}

namespace {

struct PolicyRead {
  Json object;
  api::ReplicationPolicy policy;
};

StatusOr<PolicyRead> ReadPolicy(controller::KubeClient& client, const std::string& ns,
                                const std::string& name, const std::string& site_id) {
  auto object = client.Get(kReplicationPolicies, {ns, name});
  if (!object.ok()) {
    if (IsNotFound(object.status())) {
      return NotFoundError("ReplicationPolicy " + ns + "/" + name + " does not exist at site " +
                           site_id);
    }
    return UnavailableError("reading ReplicationPolicy " + ns + "/" + name + ": " +
                            object.status().message());
  }
  PolicyRead read;
  read.object = std::move(*object);
  if (api::FieldErrors errors = api::FromJson(read.object, &read.policy); !errors.empty()) {
    return FailedPreconditionError("ReplicationPolicy " + ns + "/" + name +
                                   " is invalid: " + errors.front().ToString());
  }
  return read;
}

Status PatchAnnotations(controller::KubeClient& client, const std::string& ns,
                        const std::string& name, const Json& annotations) {
  Json patch = {{"metadata", {{"annotations", annotations}}}};
  auto patched =
      client.Patch(kReplicationPolicies, {ns, name}, controller::PatchType::kMerge, patch);
  // A merge patch carries no resourceVersion, but a server may still answer 409 when the
  // controllers' status writes race it: try again a few times.
  for (int attempt = 1;
       !patched.ok() && patched.status().code() == StatusCode::kAborted && attempt < kPatchAttempts;
       ++attempt) {
    patched = client.Patch(kReplicationPolicies, {ns, name}, controller::PatchType::kMerge, patch);
  }
  if (!patched.ok()) {
    return Status(patched.status().code(), "annotating ReplicationPolicy " + ns + "/" + name +
                                               ": " + patched.status().message());
  }
  return OkStatus();
}

// Where the policy is handed over to: the annotation, or the fence while it is being written.
std::string HandedOverTo(Shared& shared, const std::string& key, const Json& object) {
  if (std::optional<std::string> fenced = shared.FencedTo(key)) {
    return *fenced;
  }
  return Annotation(object, kFailedOverToAnnotation);
}

Status RequireHandover(Shared& shared, const std::string& key, const Json& object,
                       const std::string& site, const char* op) {
  std::string to = HandedOverTo(shared, key, object);
  if (to.empty()) {
    return FailedPreconditionError(std::string(op) + ": ReplicationPolicy " + key +
                                   " is not handed over: request a handover to site " + site +
                                   " first");
  }
  if (to != site) {
    return FailedPreconditionError(std::string(op) + ": ReplicationPolicy " + key +
                                   " is handed over to site " + to + ", not " + site);
  }
  return OkStatus();
}

}  // namespace

StatusOr<ControlState> PolicyControlHandler::Handover(const rep::HandoverRequest& request) {
  const std::string key = request.ns + "/" + request.policy;
  const std::string site_id = LocalSiteId(shared_->env());
  // One outcome per target site: a repeated handover to it answers the first one's outcome.
  const std::string description = "handover to site " + request.to_site;
  ASSIGN_OR_RETURN(PolicyRead read, ReadPolicy(client_, request.ns, request.policy, site_id));
  std::string to = HandedOverTo(*shared_, key, read.object);
  if (!to.empty() && to != request.to_site) {
    return FailedPreconditionError("ReplicationPolicy " + key + " is handed over to site " + to +
                                   ": fail back from it before handing over to " + request.to_site);
  }
  // Handed over before this process started (its answer survives in the annotations).
  std::string persisted = Annotation(read.object, kHandoverPointAnnotation);
  if (to == request.to_site && !persisted.empty()) {
    std::lock_guard<std::mutex> lock(ops_->mu);
    if (!ops_->by_policy.contains(key)) {
      ControlState done;
      done.phase = ControlPhase::kSucceeded;
      done.point = persisted;
      const std::string time_ms = Annotation(read.object, kHandoverPointTimeAnnotation);
      done.point_time_ms =
          time_ms.empty() ? TimeFromPointId(persisted) : std::atoll(time_ms.c_str());
      done.site_id = site_id;
      done.message = "handed over to site " + request.to_site + " (point " + persisted + ")";
      ops_->by_policy[key] = Ops::Op{description, done};
      return done;
    }
  }
  std::shared_ptr<Shared> shared = shared_;
  auto state = StartOrAnswer(
      key, description,
      [this, request, key, site_id, shared](std::stop_token stop) -> ControlState {
        const std::string& ns = request.ns;
        const std::string& name = request.policy;
        controller::ObjectKey object_key{ns, name};
        auto poke = [&] {
          if (shared->env().enqueue) {
            shared->env().enqueue(kReplicationPolicyController, object_key);
          }
        };
        // Lifts a handover that could not complete: the policy replicates as before.
        auto give_up = [&](const std::string& why) {
          Status lifted = PatchAnnotations(client_, ns, name,
                                           {{kFailedOverToAnnotation, nullptr},
                                            {kHandoverPointAnnotation, nullptr},
                                            {kHandoverPointTimeAnnotation, nullptr}});
          shared->Unfence(key);
          poke();
          return Failed(site_id, why + (lifted.ok() ? "; the policy replicates again, repeat the "
                                                      "handover once that is fixed"
                                                    : "; lifting the handover failed too: " +
                                                          lifted.message()));
        };
        shared->Fence(key, request.to_site);
        if (Status s = PatchAnnotations(client_, ns, name,
                                        {{kFailedOverToAnnotation, request.to_site},
                                         {kHandoverPointAnnotation, nullptr},
                                         {kHandoverPointTimeAnnotation, nullptr}});
            !s.ok()) {
          shared->Unfence(key);
          poke();
          return Failed(site_id, "handover: " + s.message());
        }
        poke();
        JobRunner& jobs = *shared->env().jobs;
        rep::PointInfo point;
        std::string how;
        if (request.final_sync) {
          // A cycle queued or running is stopped (what it uploaded stays at the target): the
          // final sync redoes it at once, and a queued one could otherwise wait behind this job
          // forever on a one-thread runner.
          jobs.Cancel(CycleJobKey(key));
          if (!WaitIdle(jobs, CycleJobKey(key), stop)) {
            return Failed(site_id, "handover interrupted: this site is shutting down; repeat it");
          }
          auto read = ReadPolicy(client_, ns, name, site_id);
          if (!read.ok()) {
            return give_up("final sync: " + read.status().message());
          }
          auto retention = api::ParseDuration(read->policy.spec.recovery_point_retention.value_or(
              std::string(api::kDefaultRecoveryPointRetention)));
          bool app = read->policy.spec.hooks.has_value() &&
                     read->policy.spec.app_consistent_frequency.has_value();
          SiteProblem problem;
          std::optional<CyclePlan> plan =
              PlanCycle(client_, shared->env(), object_key, read->policy,
                        std::chrono::duration_cast<std::chrono::seconds>(
                            retention.ok() ? *retention : std::chrono::milliseconds(0)),
                        app, clock_, &problem);
          if (!plan) {
            return give_up("final sync: " + problem.message);
          }
          CycleOutcome outcome = RunCycle(*shared, object_key, std::move(*plan), clock_, stop);
          Status cycle = outcome.status;
          point = outcome.result.point;
          shared->PutCycle(key, std::move(outcome));
          poke();
          if (!cycle.ok()) {
            if (stop.stop_requested()) {
              return Failed(site_id, "handover interrupted: this site is shutting down; repeat it");
            }
            return give_up("final sync to site " + request.to_site + " failed: " + cycle.message());
          }
          how = " after a final sync";
        } else {
          jobs.Cancel(CycleJobKey(key));
          if (!WaitIdle(jobs, CycleJobKey(key), stop)) {
            return Failed(site_id, "handover interrupted: this site is shutting down; repeat it");
          }
          if (std::optional<rep::PointInfo> last = shared->LastPoint(key)) {
            point = *last;
          } else if (auto read = ReadPolicy(client_, ns, name, site_id); read.ok()) {
            point.id = read->object.value("/status/lastReplicatedPoint"_json_pointer, "");
            Clock::TimePoint t;
            if (ParseRfc3339(read->object.value("/status/lastReplicatedTime"_json_pointer, ""),
                             &t)) {
              point.time_ms =
                  std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch())
                      .count();
            } else {
              point.time_ms = TimeFromPointId(point.id);
            }
          }
          how = point.id.empty() ? " (no point was ever replicated)" : "";
        }
        if (!point.id.empty()) {
          if (Status s =
                  PatchAnnotations(client_, ns, name,
                                   {{kHandoverPointAnnotation, point.id},
                                    {kHandoverPointTimeAnnotation, std::to_string(point.time_ms)}});
              !s.ok()) {
            // The fence stands (the annotation above); a repeated call finds no recorded point and
            // runs the handover again.
            return Failed(site_id, "handover: " + s.message());
          }
        }
        poke();
        ControlState done;
        done.phase = ControlPhase::kSucceeded;
        done.point = point.id;
        done.point_time_ms = point.time_ms;
        done.site_id = site_id;
        done.message = "handed over to site " + request.to_site + how +
                       (point.id.empty() ? "" : ": last point " + point.id);
        spdlog::info("Handed over ReplicationPolicy ns={} name={} to_site={} point={}", ns, name,
                     request.to_site, point.id);
        return done;
      });
  if (state.ok() && state->phase == ControlPhase::kRunning) {
    shared_->Fence(key, request.to_site);
  }
  return state;
}

StatusOr<ControlState> PolicyControlHandler::Seed(const rep::SeedRequest& request) {
  const std::string key = request.ns + "/" + request.policy;
  const std::string site_id = LocalSiteId(shared_->env());
  const std::string description = "seed for site " + request.site;
  ASSIGN_OR_RETURN(PolicyRead read, ReadPolicy(client_, request.ns, request.policy, site_id));
  {
    std::lock_guard<std::mutex> lock(ops_->mu);
    if (std::optional<ControlState> known = ops_->Answer(key, description)) {
      return *known;
    }
  }
  RETURN_IF_ERROR(RequireHandover(*shared_, key, read.object, request.site, "seed"));
  std::shared_ptr<Shared> shared = shared_;
  return StartOrAnswer(
      key, description,
      [this, request, key, site_id, shared](std::stop_token stop) -> ControlState {
        auto read = ReadPolicy(client_, request.ns, request.policy, site_id);
        if (!read.ok()) {
          return Failed(site_id, "seed: " + read.status().message());
        }
        std::atomic<bool> cancel{false};
        std::stop_callback on_stop(stop, [&cancel] { cancel = true; });
        // A state directory of its own, empty: every hash is negotiated, so the seed is complete
        // whatever the replica held before.
        fs::path state_dir = shared->env().data_dir / "replication" / "seed" / request.site /
                             request.ns / request.policy;
        std::error_code ec;
        fs::remove_all(state_dir, ec);
        rep::ReplicateOptions o;
        o.site = request.site;
        o.ns = request.ns;
        o.policy = request.policy;
        o.state_dir = state_dir;
        o.consistency = rep::Consistency::kCrash;
        o.cancel = &cancel;
        o.clock = &clock_;
        auto r = rep::Replicate(PolicyVolumes(read->policy), receiver_.LoopbackEndpoint(), o);
        fs::remove_all(state_dir, ec);
        if (!r.ok()) {
          return Failed(site_id, "seed of the replica of site " + request.site +
                                     " failed: " + r.status().message());
        }
        ControlState done;
        done.phase = ControlPhase::kSucceeded;
        done.point = r->point.id;
        done.point_time_ms = r->point.time_ms;
        done.site_id = site_id;
        done.message = "seeded the replica of site " + request.site +
                       " from the local volumes: " + std::to_string(r->files) + " files, " +
                       std::to_string(r->bytes_scanned) + " bytes";
        spdlog::info(
            "Seeded reverse replica ReplicationPolicy ns={} name={} site={} point={} bytes={}",
            request.ns, request.policy, request.site, r->point.id, r->bytes_scanned);
        return done;
      });
}

StatusOr<ControlState> PolicyControlHandler::Failback(const rep::FailbackRequest& request) {
  const std::string key = request.ns + "/" + request.policy;
  const std::string site_id = LocalSiteId(shared_->env());
  const std::string description =
      "failback from site " + request.site + " to point " + request.point;
  {
    std::lock_guard<std::mutex> lock(ops_->mu);
    if (std::optional<ControlState> known = ops_->Answer(key, description)) {
      return *known;
    }
  }
  ASSIGN_OR_RETURN(PolicyRead read, ReadPolicy(client_, request.ns, request.policy, site_id));
  RETURN_IF_ERROR(RequireHandover(*shared_, key, read.object, request.site, "failback"));
  rep::PointRef ref{receiver_.repos().root(), request.site, request.ns, request.policy};
  std::error_code ec;
  if (!fs::is_directory(ref.root / ref.site / ref.ns / ref.policy / "points", ec)) {
    return FailedPreconditionError("failback: no replica of ReplicationPolicy " + key +
                                   " from site " + request.site +
                                   " here: seed it and replicate back first");
  }
  ASSIGN_OR_RETURN(std::shared_ptr<rep::Repo> repo,
                   receiver_.repos().Share(request.site, request.ns, request.policy));
  std::vector<rep::PointInfo> points = repo->Points();
  auto found = std::find_if(points.begin(), points.end(),
                            [&](const rep::PointInfo& p) { return p.id == request.point; });
  if (found == points.end()) {
    return FailedPreconditionError(
        "failback: point " + request.point + " is not in the replica of " + key + " from site " +
        request.site +
        (points.empty() ? std::string(" (it holds none): replicate back first")
                        : " (latest: " + points.back().id + ")"));
  }
  const int64_t point_time = found->time_ms;
  std::shared_ptr<Shared> shared = shared_;
  return StartOrAnswer(
      key, description,
      [this, request, key, site_id, shared, point_time](std::stop_token stop) -> ControlState {
        auto read = ReadPolicy(client_, request.ns, request.policy, site_id);
        if (!read.ok()) {
          return Failed(site_id, "failback: " + read.status().message());
        }
        auto repo = receiver_.repos().Share(request.site, request.ns, request.policy);
        if (!repo.ok()) {
          return Failed(site_id, "failback: " + repo.status().message());
        }
        std::vector<rep::Volume> volumes = PolicyVolumes(read->policy);
        for (const rep::Volume& v : volumes) {
          if (stop.stop_requested()) {
            return Failed(site_id, "failback interrupted: this site is shutting down; repeat it");
          }
          const std::string name = v.name.empty() ? v.path.filename().string() : v.name;
          const fs::path path = v.path.lexically_normal();
          // Beside the volume: the same filesystem, so the swap is a rename.
          const fs::path staging =
              path.parent_path() / ("." + path.filename().string() + kStagingSuffix);
          std::error_code ec;
          fs::remove_all(staging, ec);
          rep::MaterializeOptions options;
          options.volume = name;
          auto made = (*repo)->Materialize(request.point, staging, options);
          if (!made.ok()) {
            fs::remove_all(staging, ec);
            return Failed(site_id, "failback: materialising volume " + name + " of point " +
                                       request.point + ": " + made.status().message());
          }
          Status swapped = SwapIn(staging / name, path, staging / ".previous");
          if (!swapped.ok()) {
            return Failed(site_id, "failback: volume " + name + ": " + swapped.message());
          }
          fs::remove_all(staging, ec);
          if (Status synced = rep::SyncDir(path.parent_path()); !synced.ok()) {
            return Failed(site_id, "failback: volume " + name + ": " + synced.message());
          }
          spdlog::info(
              "Failed back volume ReplicationPolicy={} volume={} path={} point={} bytes={}", key,
              name, path.string(), request.point, made->bytes);
        }
        if (Status s = PatchAnnotations(client_, request.ns, request.policy,
                                        {{kFailedOverToAnnotation, nullptr},
                                         {kHandoverPointAnnotation, nullptr},
                                         {kHandoverPointTimeAnnotation, nullptr}});
            !s.ok()) {
          return Failed(site_id, "failback: the volumes hold point " + request.point +
                                     " but lifting the handover failed: " + s.message());
        }
        shared->Unfence(key);
        if (shared->env().enqueue) {
          shared->env().enqueue(kReplicationPolicyController,
                                controller::ObjectKey{request.ns, request.policy});
        }
        std::string cleanup;
        if (Status removed = receiver_.repos().Remove(request.site, request.ns, request.policy);
            !removed.ok()) {
          cleanup = " (deleting the reverse replica failed: " + removed.message() + ")";
        }
        ControlState done;
        done.phase = ControlPhase::kSucceeded;
        done.point = request.point;
        done.point_time_ms = point_time;
        done.site_id = site_id;
        done.message = "failed back from site " + request.site + ": " +
                       std::to_string(volumes.size()) + " volumes hold point " + request.point +
                       "; replication resumes" + cleanup;
        return done;
      });
}

}  // namespace lifeboat::reconcilers::replication
