#pragma once

// Records core/v1 Events about objects, aggregating repeats: the same (object, type, reason,
// message) bumps `count` and `lastTimestamp` of one Event instead of creating another.
// Recording is best effort: failures are logged, never returned.
#include <map>
#include <mutex>
#include <string>

#include "api/json.h"
#include "common/clock.h"
#include "controller/kube_client.h"

namespace lifeboat::controller {

enum class EventType { kNormal, kWarning };

ResourceRef EventResource();

class EventRecorder {
 public:
  // `component` is the reporting component ("lifeboat-controller").
  EventRecorder(KubeClient& client, const Clock& clock, std::string component);

  void Record(const Json& involved_object, EventType type, const std::string& reason,
              const std::string& message);

 private:
  struct Seen {
    std::string name;
    int64_t count = 0;
  };

  KubeClient& client_;
  const Clock& clock_;
  const std::string component_;
  std::mutex mu_;
  std::map<std::string, Seen> seen_;  // aggregation key → Event name and count
};

}  // namespace lifeboat::controller
