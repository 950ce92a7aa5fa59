#pragma once

// Informer: list + watch one resource into a read-only Store and tell handlers what changed
// (client-go's shared informer, STYLE.md §1).
//  - Start() lists (paged), fills the Store, fires add/update/delete for the difference with
//    what the Store held, marks the informer synced, then watches from the list's revision.
//  - A watch that reports 410 Gone (kOutOfRange) triggers a relist; other failures back off
//    (100 ms doubling to 30 s) and relist. Disconnects are survived inside KubeClient::Watch.
//  - Every `resync_period` each cached object is re-delivered as an update(old == new).
// Handlers run on the informer's threads and must be quick (they usually enqueue a key).
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/clock.h"
#include "controller/kube_client.h"
#include "controller/store.h"

namespace lifeboat::controller {

struct InformerOptions {
  ResourceRef resource;
  std::string ns;  // "" = all namespaces
  std::string label_selector;
  Clock::Duration resync_period = std::chrono::minutes(10);  // zero = never
  int64_t page_size = 500;
  std::chrono::seconds watch_timeout{300};
};

struct EventHandlers {
  std::function<void(const ObjectPtr& object)> on_add;
  std::function<void(const ObjectPtr& old_object, const ObjectPtr& new_object)> on_update;
  std::function<void(const ObjectPtr& last_known)> on_delete;
};

struct InformerStats {
  uint64_t lists = 0;              // complete lists (the first one included)
  uint64_t relists_on_expiry = 0;  // lists caused by 410 Gone
  uint64_t watch_events = 0;       // events applied (bookmarks excluded)
};

class Informer {
 public:
  Informer(KubeClient& client, const Clock& clock, InformerOptions options);
  ~Informer();
  Informer(const Informer&) = delete;
  Informer& operator=(const Informer&) = delete;

  // Call before Start().
  void AddEventHandlers(EventHandlers handlers);
  void Start();
  // Stops the watch and the resync loop; idempotent.
  void Stop();

  bool HasSynced() const;
  // Waits until synced, stopped, or `timeout` elapsed on the clock. Returns HasSynced().
  bool WaitForSync(Clock::Duration timeout);

  const Store& store() const { return store_; }
  // For indexes added before Start().
  Store& mutable_store() { return store_; }
  const InformerOptions& options() const { return options_; }
  InformerStats stats() const;
  // The last revision the cache reflects (list, event or bookmark).
  std::string last_resource_version() const;

 private:
  void Run(std::stop_token stop);
  void ResyncLoop(std::stop_token stop);
  Status ListAndWatch(std::stop_token stop);
  void Apply(WatchEvent&& event);
  bool WaitStoppable(std::stop_token stop, Clock::Duration delay);

  KubeClient& client_;
  const Clock& clock_;
  const InformerOptions options_;
  Store store_;
  std::vector<EventHandlers> handlers_;
  bool wants_old_ = false;  // some handler has on_update: decode the previous version

  mutable std::mutex mu_;
  std::condition_variable cv_;
  bool synced_ = false;
  bool stopped_ = false;
  InformerStats stats_;
  std::string resource_version_;

  std::jthread run_thread_;
  std::jthread resync_thread_;
};

}  // namespace lifeboat::controller
