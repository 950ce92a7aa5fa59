#include "reconcilers/backup/restore_reconciler.h"

#include <fcntl.h>
#include <spdlog/spdlog.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <set>
#include <thread>

#include "api/codec.h"
#include "api/manifest.h"
#include "api/restore.h"
#include "engines/snapshot/snapshot.h"
#include "engines/vault/cli_support.h"
#include "engines/vault/lock.h"
#include "engines/vault/vault.h"
#include "reconcilers/backup/common.h"
#include "reconcilers/backup/instant_restore.h"
#include "reconcilers/backup/progress.h"
#include "reconcilers/conditions.h"
#include "reconcilers/finalizer.h"
#include "reconcilers/kinds.h"
#include "reconcilers/snapshot/snapshot_reconciler.h"
#include "reconcilers/spec_reconciler.h"

namespace lifeboat::reconcilers::backup {
namespace {

namespace fs = std::filesystem;

constexpr auto kWaitForPoint = std::chrono::minutes(30);

std::string JobKey(const ObjectKey& key) { return "restore/" + key.ToString(); }

std::string Str(const Json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

bool Usable(const std::string& phase) { return phase == "Completed" || phase == "PartiallyFailed"; }

struct Source {
  std::string point_name;  // the RecoveryPoint
  std::string point_id;    // the vault's manifest ID
  std::string vault;
};

// Reads `path` back and checks it against the manifest's node: same size, and every chunk's
// keyed hash equal to its extent's ID. Returns "" when it matches.
std::string VerifyFile(const vault::Repository& repo, const fs::path& path,
                       const vault::Node& node) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return path.string() + ": " + std::strerror(errno);
  struct stat st {};
  ::fstat(fd, &st);
  std::string error;
  if (static_cast<uint64_t>(st.st_size) != node.size) {
    error = path.string() + ": size " + std::to_string(st.st_size) + ", the point has " +
            std::to_string(node.size);
  }
  uint64_t offset = 0;
  std::string buffer;
  for (const vault::Extent& e : node.content) {
    if (!error.empty()) break;
    if (e.is_hole()) {
      offset += e.hole;
      continue;
    }
    auto loc = repo.Lookup(e.id);
    if (!loc.has_value()) {
      error = path.string() + ": chunk " + vault::ToHex(e.id) + " is not in the vault's index";
      break;
    }
    buffer.resize(loc->entry.raw_length);
    ssize_t n = ::pread(fd, buffer.data(), buffer.size(), static_cast<off_t>(offset));
    if (n != static_cast<ssize_t>(buffer.size()) || repo.hmac().Sum(buffer) != e.id) {
      error = path.string() + ": bytes at offset " + std::to_string(offset) +
              " differ from the recovery point";
      break;
    }
    offset += buffer.size();
  }
  ::close(fd);
  if (error.empty() && offset != node.size) {
    error = path.string() + ": the point's chunks cover " + std::to_string(offset) + " of " +
            std::to_string(node.size) + " bytes";
  }
  return error;
}

}  // namespace

RestoreReconciler::RestoreReconciler(const controller::ControllerContext& ctx,
                                     std::shared_ptr<Shared> shared)
    : client_(ctx.client),
      store_(ctx.store),
      recorder_(ctx.recorder),
      clock_(ctx.clock),
      shared_(std::move(shared)) {}

StatusOr<Result> RestoreReconciler::Reconcile(const ObjectKey& key) {
  JobRunner& jobs = *shared_->env().jobs;
  controller::ObjectPtr cached = store_.Get(key.ToString());
  if (cached == nullptr) {
    jobs.Cancel(JobKey(key));
    return Result{};
  }
  const Json& object = *cached;
  if (metrics::Metrics* metrics = shared_->env().metrics) metrics->backup().InitRestores(key.ns);
  const std::string phase = object.value("/status/phase"_json_pointer, "");
  if (phase == "Completed" || phase == "Failed" || jobs.Active(JobKey(key))) {
    return Result{};
  }
  if (api::FieldErrors errors = api::ValidateObject(object); !errors.empty()) {
    return FailInvalidSpec(client_, recorder_, clock_, kRestores, key, object, errors);
  }
  jobs.Submit(JobKey(key), [this, key](std::stop_token stop) { Run(key, stop); });
  return Result{};
}

void RestoreReconciler::Run(const ObjectKey& key, std::stop_token stop) {
  auto fresh = client_.Get(kRestores, key);
  if (!fresh.ok()) {
    if (!IsNotFound(fresh.status())) shared_->Enqueue(kRestoreController, key.ns, key.name);
    return;
  }
  const Json object = *fresh;
  const int64_t generation = GenerationOf(object);
  api::Restore restore;
  api::FromJson(object, &restore);
  auto started = std::chrono::steady_clock::now();
  Json status = object.value("status", Json::object());
  auto publish = [&](const Json& fields) {
    for (auto it = fields.begin(); it != fields.end(); ++it) status[it.key()] = it.value();
    Status s = PatchStatus(client_, kRestores, key, fields);
    if (!s.ok() && !IsNotFound(s)) {
      spdlog::warn("Restore ns={} name={} status: {}", key.ns, key.name, s.ToString());
    }
  };
  auto finish = [&](bool ok, const std::string& reason, const std::string& message, Json extra) {
    extra["phase"] = ok ? "Completed" : "Failed";
    extra["message"] = message;
    extra["completionTime"] = FormatRfc3339(clock_.Now());
    extra["observedGeneration"] = generation;
    Json holder = {{"conditions", status.value("conditions", Json::array())}};
    SetStatusCondition(holder, MakeCondition(api::kConditionReady, ok, reason, message, generation),
                       clock_.Now());
    extra["conditions"] = holder["conditions"];
    recorder_.Record(object, ok ? controller::EventType::kNormal : controller::EventType::kWarning,
                     ok ? "RestoreCompleted" : "RestoreFailed", message);
    spdlog::log(ok ? spdlog::level::info : spdlog::level::warn, "Restore ns={} name={} {}", key.ns,
                key.name, message);
    if (metrics::Metrics* metrics = shared_->env().metrics) {
      metrics->backup().ObserveRestore(
          key.ns, ok ? "completed" : "failed",
          std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count(),
          extra.value("restoredBytes", 0.0));
    }
    // Events and metrics first: whoever sees the final phase also finds them.
    publish(extra);
  };

  // The source point.
  const api::RestoreSource& src = restore.spec.source;
  const fs::path target = restore.spec.target.path;
  const api::Overwrite overwrite = restore.spec.overwrite.value_or(api::Overwrite::kNever);
  // The snapshot tier: materialises each snapshot (volume → `<target>/<volume>`) into a staging
  // directory inside the target and moves the result into place following `overwrite`, like the
  // vault tier. Whole volumes only. Materialize re-hashes every block it reads and fails on any
  // mismatch (kDataLoss), so a completed restore is verified without a second pass.
  // Returns false, having changed nothing, when a snapshot went away meanwhile (instant-restore
  // retention) and `vault_fallback` is set: the caller then restores from the vault.
  auto from_snapshots = [&](const std::map<std::string, std::string>& ids, const std::string& what,
                            bool vault_fallback) -> bool {
    publish({{"phase", "Running"},
             {"tier", "Snapshot"},
             {"startTime", FormatRfc3339(clock_.Now())},
             {"message", "restoring " + what + " from the snapshot tier to " + target.string()}});
    auto store =
        lifeboat::snapshot::SnapshotStore::Open(snapshot::SnapshotStoreDir(shared_->env()));
    if (!store.ok()) {
      finish(false, "SnapshotStoreUnavailable", "snapshot store: " + store.status().message(), {});
      return true;
    }
    std::error_code ec;
    fs::create_directories(target, ec);
    if (ec) {
      finish(false, "TargetUnwritable", "target.path: " + target.string() + ": " + ec.message(),
             {});
      return true;
    }
    const fs::path staging = target / (".lifeboat-restore-" + key.name);
    fs::remove_all(staging, ec);
    fs::create_directories(staging, ec);
    if (ec) {
      finish(false, "TargetUnwritable", "target.path: " + staging.string() + ": " + ec.message(),
             {});
      return true;
    }
    uint64_t verified_bytes = 0;
    for (const auto& [volume, id] : ids) {
      if (stop.stop_requested()) {
        fs::remove_all(staging, ec);
        return true;
      }
      lifeboat::snapshot::MaterializeOptions options;
      options.id = id;
      options.target = staging / volume;
      auto made = (*store)->Materialize(options);
      if (!made.ok()) {
        fs::remove_all(staging, ec);
        StatusCode code = made.status().code();
        if (code == StatusCode::kNotFound && vault_fallback) return false;
        finish(false,
               code == StatusCode::kNotFound   ? "SnapshotMissing"
               : code == StatusCode::kDataLoss ? "VerificationFailed"
                                               : "RestoreFailed",
               "materialising snapshot " + id + " of volume " + volume + ": " +
                   made.status().message(),
               {});
        return true;
      }
      verified_bytes += made->bytes_written;
    }
    PlaceResult moved = MoveStagedIntoPlace(staging, target, overwrite);
    fs::remove_all(staging, ec);
    if (!moved.error.empty()) {
      finish(false, "RestoreFailed", "moving restored files into place: " + moved.error, {});
      return true;
    }
    std::string message = "restored " + std::to_string(moved.placed.size()) + " entries (" +
                          vault::HumanBytes(moved.bytes) + ") of " + what +
                          " from the snapshot tier to " + target.string() + ", " +
                          vault::HumanBytes(verified_bytes) + " of block data verified";
    if (moved.skipped > 0) {
      message += "; kept " + std::to_string(moved.skipped) +
                 " existing files (overwrite: " + std::string(api::EnumName(overwrite)) + ")";
    }
    finish(true, "Completed", message,
           {{"tier", "Snapshot"},
            {"restoredFiles", static_cast<int64_t>(moved.placed.size())},
            {"restoredBytes", static_cast<int64_t>(moved.bytes)},
            {"verified", true}});
    return true;
  };

  if (src.snapshot_ref.has_value()) {
    const std::string name = src.snapshot_ref->name;
    std::string id, volume, wait_message;
    for (auto waited = std::chrono::steady_clock::now();;) {
      auto snap = client_.Get(kSnapshots, ObjectKey{key.ns, name});
      if (!snap.ok()) {
        finish(
            false, "SnapshotNotFound",
            "source.snapshotRef: Snapshot " + key.ns + "/" + name + ": " + snap.status().message(),
            {});
        return;
      }
      const Json snap_status = snap->value("status", Json::object());
      volume = snap->value("/spec/source/name"_json_pointer, "");
      if (snap_status.value("readyToUse", false) && !Str(snap_status, "snapshotID").empty()) {
        id = Str(snap_status, "snapshotID");
        break;
      }
      const Json* ready = nullptr;
      for (const Json& c : snap_status.value("conditions", Json::array())) {
        if (c.value("type", "") == std::string(api::kConditionReady)) ready = &c;
      }
      std::string reason = ready != nullptr ? ready->value("reason", "") : "";
      if (IsBeingDeleted(*snap) || (!reason.empty() && reason != "Creating")) {
        finish(false, "SnapshotNotReady",
               "source.snapshotRef: Snapshot " + name + " is not usable (" +
                   (IsBeingDeleted(*snap) ? std::string("being deleted")
                                          : reason + ": " + ready->value("message", "")) +
                   ")",
               {});
        return;
      }
      if (stop.stop_requested()) return;  // runs again after a restart
      if (std::chrono::steady_clock::now() - waited > kWaitForPoint) {
        finish(false, "SnapshotNotReady", "gave up waiting for Snapshot " + name, {});
        return;
      }
      if (wait_message.empty()) {
        wait_message = "waiting for Snapshot " + name;
        publish({{"phase", "Pending"}, {"message", wait_message}});
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(500));
    }
    if (volume.empty()) {
      finish(false, "SnapshotIncomplete", "Snapshot " + name + " names no source volume", {});
      return;
    }
    for (const std::string& v : restore.spec.volumes) {
      if (v != volume) {
        finish(false, "VolumeNotInSnapshot",
               "volumes: \"" + v + "\" is not in Snapshot " + name + " (it has: " + volume + ")",
               {});
        return;
      }
    }
    if (!restore.spec.paths.empty()) {
      finish(false, "InvalidSpec",
             "paths: a Snapshot restores a whole volume; restore some paths from a RecoveryPoint",
             {});
      return;
    }
    from_snapshots({{volume, id}}, "Snapshot " + name, false);
    return;
  }
  // Resolves the point; waits while the one asked for is still being made.
  std::string last_waiting_for;
  Json point_object;
  std::string fail_reason, fail_message, waiting_for;
  auto resolve = [&]() -> bool {  // true: decided (point_object set, or fail_reason)
    waiting_for.clear();
    if (src.recovery_point_ref.has_value()) {
      auto p = client_.Get(kRecoveryPoints, ObjectKey{key.ns, src.recovery_point_ref->name});
      if (!p.ok()) {
        fail_reason = "RecoveryPointNotFound";
        fail_message = "source.recoveryPointRef: RecoveryPoint " + key.ns + "/" +
                       src.recovery_point_ref->name + ": " + p.status().message();
        return true;
      }
      std::string phase = p->value("/status/phase"_json_pointer, "");
      if (Usable(phase)) {
        point_object = *p;
        return true;
      }
      if (phase == "Failed") {
        fail_reason = "RecoveryPointFailed";
        fail_message = "source.recoveryPointRef: RecoveryPoint " + src.recovery_point_ref->name +
                       " failed: " + p->value("/status/message"_json_pointer, "");
        return true;
      }
      waiting_for = "RecoveryPoint " + src.recovery_point_ref->name;
      return false;
    }
    auto points = PointsOfPolicy(client_, key.ns, src.policy_ref->name);
    if (!points.ok()) return false;
    std::string newest_start;
    bool in_progress = false;
    for (const Json& p : *points) {
      std::string phase = p.value("/status/phase"_json_pointer, "");
      std::string start = p.value("/status/startTime"_json_pointer, "");
      if (IsBeingDeleted(p)) continue;
      in_progress |= phase.empty() || phase == "Pending" || phase == "Running";
      if (Usable(phase) && start > newest_start) {
        newest_start = start;
        point_object = p;
      }
    }
    if (!point_object.is_null()) return true;
    if (in_progress) {
      waiting_for = "the first recovery point of BackupPolicy " + src.policy_ref->name;
      return false;
    }
    fail_reason = "NoRecoveryPoint";
    fail_message = "source.policyRef: BackupPolicy " + src.policy_ref->name +
                   " has no completed recovery point yet";
    return true;
  };
  for (auto waited = std::chrono::steady_clock::now(); !resolve();) {
    if (stop.stop_requested() || std::chrono::steady_clock::now() - waited > kWaitForPoint) {
      if (stop.stop_requested()) return;  // runs again after a restart
      fail_reason = "RecoveryPointNotReady";
      fail_message = "gave up waiting for " + waiting_for;
      break;
    }
    if (Str(status, "message").empty() || waiting_for != last_waiting_for) {
      publish({{"phase", "Pending"}, {"message", "waiting for " + waiting_for}});
      last_waiting_for = waiting_for;
    }
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
  if (!fail_reason.empty()) {
    finish(false, fail_reason, fail_message, {});
    return;
  }
  Source source;
  source.point_name = point_object.value("/metadata/name"_json_pointer, "");
  source.point_id = point_object.value("/status/snapshotID"_json_pointer, "");
  source.vault = point_object.value("/spec/vaultRef/name"_json_pointer, "");
  if (source.vault.empty()) {
    source.vault = point_object.value("/metadata/annotations"_json_pointer, Json::object())
                       .value(kVaultAnnotation, "");
  }
  if (source.vault.empty() || source.point_id.empty()) {
    finish(false, "RecoveryPointIncomplete",
           "RecoveryPoint " + source.point_name + " names no vault point", {});
    return;
  }
  // A point that still has its instant-restore snapshots for every volume asked for uses the
  // snapshot tier. Path restores always use the vault tier: it restores just those paths,
  // where the snapshot tier would have to materialise whole volumes to pick a few files.
  if (std::map<std::string, std::string> ids = PointSnapshots(point_object);
      !ids.empty() && restore.spec.paths.empty()) {
    std::map<std::string, std::string> wanted;
    bool all = true;
    if (restore.spec.volumes.empty()) {
      wanted = ids;
    } else {
      for (const std::string& v : restore.spec.volumes) {
        auto it = ids.find(v);
        if (it == ids.end()) {
          all = false;
          break;
        }
        wanted[v] = it->second;
      }
    }
    if (all) {
      auto store =
          lifeboat::snapshot::SnapshotStore::Open(snapshot::SnapshotStoreDir(shared_->env()));
      for (const auto& [volume, id] : wanted) {
        all = all && store.ok() && (*store)->Get(id).ok();
      }
    }
    if (all && from_snapshots(wanted, "RecoveryPoint " + source.point_name, true)) return;
  }
  publish({{"phase", "Running"},
           {"tier", "Vault"},
           {"startTime", FormatRfc3339(clock_.Now())},
           {"message", "restoring RecoveryPoint " + source.point_name + " from vault " +
                           source.vault + " to " + target.string()}});

  VaultProblem problem;
  auto opened = OpenVault(client_, key.ns, source.vault,
                          OpenVaultOptions{.allow_secondary_only = true}, &problem);
  if (!opened.has_value()) {
    finish(false, problem.reason, "vault " + source.vault + ": " + problem.message, {});
    return;
  }
  vault::Repository& repo = *opened->repo;
  auto manifest = vault::FindPoint(repo, source.point_id);
  if (!manifest.ok()) {
    finish(false, "PointMissing",
           "vault " + source.vault + " no longer has point " + source.point_id + ": " +
               manifest.status().message(),
           {});
    return;
  }
  // The volumes of the point: its root entries.
  std::set<std::string> roots;
  {
    auto tree = repo.LoadBlob(manifest->tree);
    auto nodes =
        tree.ok() ? vault::DecodeTree(*tree) : StatusOr<std::vector<vault::Node>>(tree.status());
    if (!nodes.ok()) {
      finish(false, "VaultDamaged", "point " + source.point_id + ": " + nodes.status().message(),
             {});
      return;
    }
    for (const vault::Node& n : *nodes) roots.insert(n.name);
  }
  std::vector<std::string> volumes = restore.spec.volumes;
  for (const std::string& v : volumes) {
    if (roots.count(v) == 0) {
      std::string have;
      for (const std::string& r : roots) have += (have.empty() ? "" : ", ") + r;
      finish(false, "VolumeNotInPoint",
             "volumes: \"" + v + "\" is not in RecoveryPoint " + source.point_name +
                 " (it has: " + have + ")",
             {});
      return;
    }
  }
  if (volumes.empty()) volumes.assign(roots.begin(), roots.end());
  std::vector<std::string> include;
  for (const std::string& v : volumes) {
    if (restore.spec.paths.empty()) {
      include.push_back(v);
    } else {
      for (std::string p : restore.spec.paths) {
        while (!p.empty() && p.front() == '/') p.erase(0, 1);
        include.push_back(v + "/" + p);
      }
    }
  }

  // Restore into a staging directory inside the target, then move into place.
  std::error_code ec;
  fs::create_directories(target, ec);
  if (ec) {
    finish(false, "TargetUnwritable", "target.path: " + target.string() + ": " + ec.message(), {});
    return;
  }
  const fs::path staging = target / (".lifeboat-restore-" + key.name);
  fs::remove_all(staging, ec);
  vault::RestoreOptions options;
  options.point = source.point_id;
  options.include = include;
  options.target = staging.string();
  ProgressThrottle throttle([&](const Json& progress) { publish({{"progress", progress}}); });
  options.progress = [&throttle](const vault::Progress& p) { throttle(p); };
  // Hold the vault shared while reading it, so a prune cannot remove packs under the restore;
  // a prune holds it exclusively for a short while: wait for it.
  auto lock = vault::VaultLock::Acquire(repo.store(), vault::LockKind::kShared, clock_);
  for (auto waited = std::chrono::steady_clock::now();
       !lock.ok() && lock.status().code() == StatusCode::kUnavailable && !stop.stop_requested() &&
       std::chrono::steady_clock::now() - waited < std::chrono::minutes(10);) {
    publish({{"message", "waiting for the vault: " + lock.status().message()}});
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    lock = vault::VaultLock::Acquire(repo.store(), vault::LockKind::kShared, clock_);
  }
  if (!lock.ok()) {
    finish(false, "VaultBusy", "vault " + source.vault + ": " + lock.status().message(), {});
    return;
  }
  if (Status s = repo.LoadIndex(); !s.ok()) {  // a prune may have repacked meanwhile
    finish(false, "VaultDamaged", "vault " + source.vault + ": " + s.message(), {});
    return;
  }
  auto restored = vault::Restore(repo, options);
  lock->reset();
  if (!restored.ok() || !restored->errors.empty()) {
    std::string message =
        !restored.ok() ? restored.status().message()
                       : std::to_string(restored->errors.size()) +
                             " files could not be restored; first: " + restored->errors[0].path +
                             ": " + restored->errors[0].error;
    fs::remove_all(staging, ec);
    finish(false, "RestoreFailed", message, {});
    return;
  }
  if (restored->files + restored->dirs == 0) {
    fs::remove_all(staging, ec);
    finish(false, "NothingMatched",
           "paths: nothing in RecoveryPoint " + source.point_name + " matches", {});
    return;
  }

  PlaceResult moved = MoveStagedIntoPlace(staging, target, overwrite);
  fs::remove_all(staging, ec);
  if (!moved.error.empty()) {
    finish(false, "RestoreFailed", "moving restored files into place: " + moved.error, {});
    return;
  }
  const std::map<std::string, fs::path>& placed = moved.placed;
  const uint64_t skipped = moved.skipped, bytes = moved.bytes;

  // Read every restored file back and compare it with the point.
  std::string verify_error;
  uint64_t verified = 0;
  Status listed = vault::Ls(repo, source.point_id, "", [&](const vault::Entry& e) {
    if (!verify_error.empty() || e.node.type != vault::NodeType::kFile) return;
    auto it = placed.find(e.path);
    if (it == placed.end()) return;
    verify_error = VerifyFile(repo, it->second, e.node);
    ++verified;
  });
  if (!listed.ok() && verify_error.empty()) verify_error = listed.message();
  Json extra = {{"restoredFiles", static_cast<int64_t>(placed.size())},
                {"restoredBytes", static_cast<int64_t>(bytes)},
                {"verified", verify_error.empty()},
                {"progress", throttle.Final()}};
  if (!verify_error.empty()) {
    finish(false, "VerificationFailed", "restored data does not match the point: " + verify_error,
           std::move(extra));
    return;
  }
  std::string message = "restored " + std::to_string(placed.size()) + " entries (" +
                        vault::HumanBytes(bytes) + ") of RecoveryPoint " + source.point_name +
                        " to " + target.string() + ", " + std::to_string(verified) +
                        " files verified";
  if (!opened->primary_problem.empty()) {
    message += " (read from the secondary storage: " + opened->primary_problem + ")";
  }
  if (skipped > 0) {
    message += "; kept " + std::to_string(skipped) +
               " existing files (overwrite: " + std::string(api::EnumName(overwrite)) + ")";
  }
  finish(true, "Completed", message, std::move(extra));
}

}  // namespace lifeboat::reconcilers::backup
