#include "controller/informer.h"

#include <spdlog/spdlog.h>

#include <map>

namespace lifeboat::controller {
namespace {
constexpr std::chrono::milliseconds kBackoffInitial{100};
constexpr std::chrono::milliseconds kBackoffMax{30'000};

std::string ResourceVersionOf(const Json& object) {
  auto meta = object.find("metadata");
  if (meta == object.end() || !meta->is_object()) {
    return "";
  }
  return meta->value("resourceVersion", "");
}
}  // namespace

Informer::Informer(KubeClient& client, const Clock& clock, InformerOptions options)
    : client_(client), clock_(clock), options_(std::move(options)) {}

Informer::~Informer() { Stop(); }

void Informer::AddEventHandlers(EventHandlers handlers) {
  wants_old_ = wants_old_ || static_cast<bool>(handlers.on_update);
  handlers_.push_back(std::move(handlers));
}

void Informer::Start() {
  run_thread_ = std::jthread([this](std::stop_token stop) { Run(stop); });
  if (options_.resync_period > Clock::Duration::zero()) {
    resync_thread_ = std::jthread([this](std::stop_token stop) { ResyncLoop(stop); });
  }
}

void Informer::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    stopped_ = true;
    cv_.notify_all();
  }
  for (std::jthread* t : {&run_thread_, &resync_thread_}) {
    if (t->joinable()) {
      t->request_stop();
      t->join();
    }
  }
}

bool Informer::HasSynced() const {
  std::lock_guard<std::mutex> lock(mu_);
  return synced_;
}

bool Informer::WaitForSync(Clock::Duration timeout) {
  std::unique_lock<std::mutex> lock(mu_);
  clock_.WaitUntil(lock, cv_, clock_.Now() + timeout, [&] { return synced_ || stopped_; });
  return synced_;
}

InformerStats Informer::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  return stats_;
}

std::string Informer::last_resource_version() const {
  std::lock_guard<std::mutex> lock(mu_);
  return resource_version_;
}

bool Informer::WaitStoppable(std::stop_token stop, Clock::Duration delay) {
  // Registered before taking the lock: it runs at once when stop was already requested.
  std::stop_callback wake(stop, [this] {
    std::lock_guard<std::mutex> l(mu_);
    cv_.notify_all();
  });
  std::unique_lock<std::mutex> lock(mu_);
  clock_.WaitUntil(lock, cv_, clock_.Now() + delay,
                   [&] { return stop.stop_requested() || stopped_; });
  return !stop.stop_requested();
}

void Informer::Run(std::stop_token stop) {
  Clock::Duration backoff = kBackoffInitial;
  const std::string what = options_.resource.GroupResource();
  while (!stop.stop_requested()) {
    Status s = ListAndWatch(stop);
    if (stop.stop_requested()) {
      break;
    }
    if (s.code() == StatusCode::kOutOfRange) {
      spdlog::info("Relisted {} after the watch expired rv={}", what, last_resource_version());
      std::lock_guard<std::mutex> lock(mu_);
      ++stats_.relists_on_expiry;
      backoff = kBackoffInitial;
      continue;
    }
    spdlog::warn("Failed to list and watch {} retry_in={}ms: {}", what,
                 std::chrono::duration_cast<std::chrono::milliseconds>(backoff).count(),
                 s.ToString());
    if (!WaitStoppable(stop, backoff)) {
      break;
    }
    backoff = std::min<Clock::Duration>(backoff * 2, kBackoffMax);
  }
}

Status Informer::ListAndWatch(std::stop_token stop) {
  // Pages are encoded as they arrive and their trees dropped: the whole list never exists as
  // trees at once (10,000 BackupPolicies would be ~90 MiB transient).
  Store::Contents fresh;
  ListOptions list_options;
  list_options.label_selector = options_.label_selector;
  list_options.limit = options_.page_size;
  std::string list_version;
  do {
    ASSIGN_OR_RETURN(ObjectList page, client_.List(options_.resource, options_.ns, list_options));
    for (Json& item : page.items) {
      fresh.emplace(KeyOf(item), Store::Encode(item));
    }
    list_version = page.resource_version;
    list_options.continue_token = page.continue_token;
    if (stop.stop_requested()) {
      return CancelledError("informer stopped");
    }
  } while (!list_options.continue_token.empty());

  Store::Contents previous = store_.Replace(fresh);
  if (!handlers_.empty()) {
    for (const auto& [key, encoded] : fresh) {
      ObjectPtr object = Store::Decode(encoded);
      auto old = previous.find(key);
      ObjectPtr old_object =
          old != previous.end() && wants_old_ ? Store::Decode(old->second) : nullptr;
      for (const EventHandlers& h : handlers_) {
        if (old == previous.end()) {
          if (h.on_add) h.on_add(object);
        } else if (h.on_update) {
          h.on_update(old_object, object);
        }
      }
    }
    for (const auto& [key, encoded] : previous) {
      if (fresh.count(key) == 0) {
        ObjectPtr object = Store::Decode(encoded);
        for (const EventHandlers& h : handlers_) {
          if (h.on_delete) h.on_delete(object);
        }
      }
    }
  }
  const size_t listed = fresh.size();
  previous.clear();
  fresh.clear();
  {
    std::lock_guard<std::mutex> lock(mu_);
    ++stats_.lists;
    resource_version_ = list_version;
    synced_ = true;
    cv_.notify_all();
  }
  spdlog::debug("Listed {} objects={} rv={}", options_.resource.GroupResource(), listed,
                list_version);

  WatchOptions watch;
  watch.ns = options_.ns;
  watch.label_selector = options_.label_selector;
  watch.resource_version = list_version;
  watch.request_timeout = options_.watch_timeout;
  return client_.Watch(options_.resource, watch, stop,
                       [this](WatchEvent&& event) { Apply(std::move(event)); });
}

void Informer::Apply(WatchEvent&& event) {
  std::string version = ResourceVersionOf(event.object);
  if (event.type != WatchEventType::kBookmark) {
    auto object = std::make_shared<const Json>(std::move(event.object));
    std::string key = KeyOf(*object);
    if (event.type == WatchEventType::kDeleted) {
      store_.Remove(key);
      for (const EventHandlers& h : handlers_) {
        if (h.on_delete) h.on_delete(object);
      }
    } else {
      Store::Encoded old = store_.Upsert(key, Store::Encode(*object), object.get());
      const bool existed = old != nullptr;
      ObjectPtr old_object = existed && wants_old_ ? Store::Decode(old) : nullptr;
      old.reset();
      for (const EventHandlers& h : handlers_) {
        if (!existed) {
          if (h.on_add) h.on_add(object);
        } else if (h.on_update) {
          h.on_update(old_object, object);
        }
      }
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!version.empty()) {
    resource_version_ = version;
  }
  if (event.type != WatchEventType::kBookmark) {
    ++stats_.watch_events;
  }
}

void Informer::ResyncLoop(std::stop_token stop) {
  while (WaitStoppable(stop, options_.resync_period)) {
    if (!HasSynced()) {
      continue;
    }
    // One object decoded at a time: the cache never exists as trees all at once.
    for (const std::string& key : store_.Keys()) {
      if (stop.stop_requested()) {
        return;
      }
      ObjectPtr object = store_.Get(key);
      if (object == nullptr) {
        continue;  // deleted meanwhile
      }
      for (const EventHandlers& h : handlers_) {
        if (h.on_update) h.on_update(object, object);
      }
    }
  }
}

}  // namespace lifeboat::controller
