#include "controller/event_recorder.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <functional>

#include "controller/object_key.h"

namespace lifeboat::controller {
namespace {
// Bound on remembered aggregation keys; the oldest half is dropped beyond it.
constexpr size_t kMaxSeen = 4096;
}  // namespace

ResourceRef EventResource() { return ResourceRef{"", "v1", "events", "Event", true}; }

EventRecorder::EventRecorder(KubeClient& client, const Clock& clock, std::string component)
    : client_(client), clock_(clock), component_(std::move(component)) {}

void EventRecorder::Record(const Json& involved_object, EventType type, const std::string& reason,
                           const std::string& message) {
  ObjectKey key = ObjectKey::Of(involved_object);
  const Json meta = involved_object.value("metadata", Json::object());
  std::string uid = meta.value("uid", "");
  std::string kind = involved_object.value("kind", "");
  std::string type_name = type == EventType::kWarning ? "Warning" : "Normal";
  std::string aggregation =
      kind + "/" + key.ToString() + "/" + uid + "/" + type_name + "/" + reason + "/" + message;
  std::string now = FormatRfc3339(clock_.Now());
  std::string ns = key.ns.empty() ? "default" : key.ns;

  std::unique_lock<std::mutex> lock(mu_);
  auto it = seen_.find(aggregation);
  if (it != seen_.end()) {
    Seen seen = it->second;
    lock.unlock();
    Json patch = {{"count", seen.count + 1}, {"lastTimestamp", now}};
    auto patched =
        client_.Patch(EventResource(), ObjectKey{ns, seen.name}, PatchType::kMerge, patch);
    if (patched.ok()) {
      std::lock_guard<std::mutex> relock(mu_);
      seen_[aggregation].count = seen.count + 1;
      return;
    }
    if (!IsNotFound(patched.status())) {
      spdlog::warn("Failed to update Event ns={} name={}: {}", ns, seen.name,
                   patched.status().ToString());
      return;
    }
    lock.lock();
    seen_.erase(aggregation);  // the Event expired; create a new one
  }
  if (seen_.size() >= kMaxSeen) {
    seen_.clear();
  }
  lock.unlock();

  char suffix[17];
  std::snprintf(suffix, sizeof(suffix), "%016zx", std::hash<std::string>{}(aggregation + now));
  std::string name = (key.name.empty() ? "object" : key.name) + "." + suffix;
  Json event = {
      {"apiVersion", "v1"},
      {"kind", "Event"},
      {"metadata", {{"name", name}, {"namespace", ns}}},
      {"involvedObject",
       {{"apiVersion", involved_object.value("apiVersion", "")},
        {"kind", kind},
        {"name", key.name},
        {"namespace", key.ns},
        {"uid", uid},
        {"resourceVersion", meta.value("resourceVersion", "")}}},
      {"reason", reason},
      {"message", message},
      {"type", type_name},
      {"count", 1},
      {"firstTimestamp", now},
      {"lastTimestamp", now},
      {"source", {{"component", component_}}},
      {"reportingComponent", component_},
  };
  auto created = client_.Create(EventResource(), event);
  if (!created.ok()) {
    spdlog::warn("Failed to record Event ns={} object={} reason={}: {}", ns, key.name, reason,
                 created.status().ToString());
    return;
  }
  std::lock_guard<std::mutex> relock(mu_);
  seen_[aggregation] = Seen{name, 1};
}

}  // namespace lifeboat::controller
