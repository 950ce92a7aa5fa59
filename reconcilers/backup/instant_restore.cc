#include "reconcilers/backup/instant_restore.h"

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <memory>
#include <vector>

#include "engines/snapshot/snapshot.h"
#include "reconcilers/backup/common.h"
#include "reconcilers/snapshot/snapshot_reconciler.h"

namespace lifeboat::reconcilers::backup {
namespace {

namespace fs = std::filesystem;

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

std::string Sanitise(const std::string& s) {
  std::string out;
  for (char c : s) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_';
    out += ok ? c : '_';
  }
  return out;
}

}  // namespace

std::map<std::string, std::string> ParseSnapshotsAnnotation(const std::string& value) {
  std::map<std::string, std::string> out;
  size_t start = 0;
  while (start < value.size()) {
    size_t comma = value.find(',', start);
    if (comma == std::string::npos) comma = value.size();
    std::string entry = value.substr(start, comma - start);
    size_t eq = entry.find('=');
    if (eq != std::string::npos && eq > 0 && eq + 1 < entry.size()) {
      out[entry.substr(0, eq)] = entry.substr(eq + 1);
    }
    start = comma + 1;
  }
  return out;
}

std::string FormatSnapshotsAnnotation(const std::map<std::string, std::string>& ids) {
  std::string out;
  for (const auto& [volume, id] : ids) out += (out.empty() ? "" : ",") + volume + "=" + id;
  return out;
}

std::map<std::string, std::string> PointSnapshots(const Json& point) {
  Json annotations = point.value("/metadata/annotations"_json_pointer, Json::object());
  auto it = annotations.find(kSnapshotsAnnotation);
  if (it == annotations.end() || !it->is_string()) return {};
  return ParseSnapshotsAnnotation(it->get<std::string>());
}

std::string InstantVolumeName(const std::string& ns, const std::string& policy,
                              const std::string& volume) {
  std::string name = "rp." + Sanitise(ns) + "." + Sanitise(policy) + "." + Sanitise(volume);
  return name.size() <= 128 ? name : name.substr(0, 128);
}

Status DeleteSnapshots(const EngineEnv& env, const std::map<std::string, std::string>& ids) {
  if (ids.empty()) return OkStatus();
  ASSIGN_OR_RETURN(auto store,
                   lifeboat::snapshot::SnapshotStore::Open(snapshot::SnapshotStoreDir(env)));
  Status first;
  for (const auto& [volume, id] : ids) {
    auto deleted = store->Delete(id);
    if (!deleted.ok() && !IsNotFound(deleted.status()) && first.ok()) {
      first = Status(deleted.status().code(),
                     "snapshot " + id + " of volume " + volume + ": " + deleted.status().message());
    }
  }
  return first;
}

Status ApplySnapshotRetention(controller::KubeClient& client, const EngineEnv& env,
                              const std::string& ns, const std::string& policy,
                              const std::string& current, int64_t keep) {
  ASSIGN_OR_RETURN(std::vector<Json> points, PointsOfPolicy(client, ns, policy));
  struct Holder {
    std::string start;
    std::string name;
    std::map<std::string, std::string> ids;
  };
  std::vector<Holder> holders;
  for (const Json& p : points) {
    auto ids = PointSnapshots(p);
    std::string name = p.value("/metadata/name"_json_pointer, "");
    if (ids.empty() || name == current) continue;
    holders.push_back({p.value("/status/startTime"_json_pointer, ""), name, std::move(ids)});
  }
  // Newest first; the current point is the newest of all and takes one of the `keep` places.
  std::sort(holders.begin(), holders.end(), [](const Holder& a, const Holder& b) {
    return a.start != b.start ? a.start > b.start : a.name > b.name;
  });
  Status first;
  for (size_t i = 0; i < holders.size(); ++i) {
    if (static_cast<int64_t>(i) + 1 < keep) continue;
    Status deleted = DeleteSnapshots(env, holders[i].ids);
    if (!deleted.ok()) {
      if (first.ok()) first = deleted;
      continue;
    }
    Json patch = {{"metadata", {{"annotations", {{kSnapshotsAnnotation, nullptr}}}}}};
    auto patched = client.Patch(kRecoveryPoints, controller::ObjectKey{ns, holders[i].name},
                                controller::PatchType::kMerge, patch);
    if (!patched.ok() && !IsNotFound(patched.status()) && first.ok()) first = patched.status();
  }
  return first;
}

PlaceResult MoveStagedIntoPlace(const fs::path& staging, const fs::path& target,
                                api::Overwrite overwrite) {
  PlaceResult result;
  std::error_code ec;
  for (auto it = fs::recursive_directory_iterator(staging, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path rel = it->path().lexically_relative(staging);
    const fs::path dest = target / rel;
    struct stat staged {
    }, existing{};
    ::lstat(it->path().c_str(), &staged);
    bool exists = ::lstat(dest.c_str(), &existing) == 0;
    if (S_ISDIR(staged.st_mode)) {
      if (!exists) {
        fs::create_directory(dest, it->path(), ec);
        if (ec) break;
      }
      continue;
    }
    if (exists) {
      bool replace = overwrite == api::Overwrite::kAlways ||
                     (overwrite == api::Overwrite::kIfNewer && MtimeNs(staged) > MtimeNs(existing));
      if (!replace || S_ISDIR(existing.st_mode)) {
        ++result.skipped;
        continue;
      }
    }
    if (::rename(it->path().c_str(), dest.c_str()) != 0) {
      result.error = dest.string() + ": " + std::strerror(errno);
      break;
    }
    if (S_ISREG(staged.st_mode)) result.bytes += staged.st_size;
    result.placed[rel.string()] = dest;
  }
  if (ec && result.error.empty()) result.error = staging.string() + ": " + ec.message();
  return result;
}

}  // namespace lifeboat::reconcilers::backup
