#include "controller/manager.h"

#include <spdlog/spdlog.h>

namespace lifeboat::controller {
namespace {

bool EqualExcept(const Json& a, const Json& b, std::initializer_list<const char*> ignored) {
  if (!a.is_object() || !b.is_object()) {
    return a == b;
  }
  auto skip = [&](const std::string& key) {
    for (const char* i : ignored) {
      if (key == i) return true;
    }
    return false;
  };
  size_t compared = 0;
  for (auto it = a.begin(); it != a.end(); ++it) {
    if (skip(it.key())) continue;
    auto other = b.find(it.key());
    if (other == b.end() || *other != it.value()) return false;
    ++compared;
  }
  size_t in_b = 0;
  for (auto it = b.begin(); it != b.end(); ++it) {
    if (!skip(it.key())) ++in_b;
  }
  return compared == in_b;
}

}  // namespace

bool OnlyStatusChanged(const Json& old, const Json& updated) {
  static const Json kNone = Json::object();
  auto meta = [](const Json& o) -> const Json& {
    auto it = o.find("metadata");
    return it != o.end() ? *it : kNone;
  };
  const Json& old_meta = meta(old);
  const Json& new_meta = meta(updated);
  if (old_meta.value("resourceVersion", "") == new_meta.value("resourceVersion", "")) {
    return false;  // a resync, not a change
  }
  return EqualExcept(old, updated, {"status", "metadata"}) &&
         EqualExcept(old_meta, new_meta, {"resourceVersion", "managedFields"});
}

Manager::Manager(KubeClient& client, ManagerOptions options)
    : client_(client),
      options_(std::move(options)),
      clock_(options_.clock != nullptr ? *options_.clock : SystemClock()),
      recorder_(client, clock_, options_.component) {
  if (options_.leader_election.identity.empty()) {
    options_.leader_election.identity = DefaultIdentity();
  }
}

Manager::~Manager() { Stop(); }

Informer& Manager::InformerFor(const ResourceRef& resource) {
  std::string group_resource = resource.GroupResource();
  auto it = informers_.find(group_resource);
  if (it == informers_.end()) {
    InformerOptions informer_options;
    informer_options.resource = resource;
    informer_options.ns = resource.namespaced ? options_.ns : "";
    informer_options.resync_period = options_.resync_period;
    it = informers_
             .emplace(group_resource,
                      std::make_unique<Informer>(client_, clock_, std::move(informer_options)))
             .first;
  }
  return *it->second;
}

Status Manager::AddController(ControllerSpec spec, ReconcilerFactory factory) {
  std::lock_guard<std::mutex> lock(mu_);
  if (started_) {
    return FailedPreconditionError("controller " + spec.name + ": added after Start()");
  }
  if (spec.name.empty() || spec.resource.resource.empty() || spec.resource.version.empty() ||
      !factory) {
    return InvalidArgumentError("controller \"" + spec.name +
                                "\": name, resource, version and a reconciler factory are "
                                "required");
  }
  for (const auto& c : controllers_) {
    if (c->spec.name == spec.name) {
      return AlreadyExistsError("controller " + spec.name + " is already registered");
    }
  }
  for (const ControllerSpec::Watch& watch : spec.watches) {
    if (watch.resource.resource.empty() || !watch.map) {
      return InvalidArgumentError("controller \"" + spec.name +
                                  "\": a watch needs a resource and a map function");
    }
  }
  Informer& informer = InformerFor(spec.resource);
  for (auto& [name, values] : spec.indexes) {
    informer.mutable_store().AddIndex(name, values);
  }
  for (const ControllerSpec::Watch& watch : spec.watches) {
    if (!watch.through_index.empty() && spec.indexes.count(watch.through_index) == 0) {
      return InvalidArgumentError("controller \"" + spec.name +
                                  "\": a watch goes through index \"" + watch.through_index +
                                  "\", which it does not declare");
    }
  }
  auto controller = std::make_unique<Controller>();
  controller->spec = std::move(spec);
  if (controller->spec.workers <= 0) {
    controller->spec.workers = options_.workers > 0 ? options_.workers : 1;
  }
  controller->factory = std::move(factory);
  controller->queue = std::make_unique<WorkQueue>(
      clock_, WorkQueueOptions{controller->spec.name, options_.rate_limits});
  ControllerContext context{client_,
                            informer.store(),
                            recorder_,
                            clock_,
                            informer.options().resource,
                            [this](const ResourceRef& r) { return StoreFor(r); }};
  controller->reconciler = controller->factory(context);
  if (controller->reconciler == nullptr) {
    return InvalidArgumentError("controller " + controller->spec.name +
                                ": the factory returned no reconciler");
  }
  WorkQueue* queue = controller->queue.get();
  auto enqueue = [queue](const ObjectPtr& object) { queue->Add(KeyOf(*object)); };
  auto on_update = [queue, ignore = controller->spec.ignore_status_only_updates](
                       const ObjectPtr& old, const ObjectPtr& object) {
    if (ignore && old != nullptr && OnlyStatusChanged(*old, *object)) {
      return;
    }
    queue->Add(KeyOf(*object));
  };
  informer.AddEventHandlers(EventHandlers{enqueue, on_update, enqueue});
  for (const ControllerSpec::Watch& watch : controller->spec.watches) {
    const Store* own = &informer.store();
    auto map = [queue, fn = watch.map, index = watch.through_index, own](const ObjectPtr& object) {
      for (const std::string& value : fn(*object)) {
        if (index.empty()) {
          queue->Add(value);
          continue;
        }
        for (const ObjectPtr& target : own->ByIndex(index, value)) queue->Add(KeyOf(*target));
      }
    };
    InformerFor(watch.resource)
        .AddEventHandlers(EventHandlers{
            map, [map](const ObjectPtr&, const ObjectPtr& object) { map(object); }, map});
  }
  controllers_.push_back(std::move(controller));
  return OkStatus();
}

Status Manager::Start() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (started_) {
      return FailedPreconditionError("manager already started");
    }
    started_ = true;
  }
  if (options_.leader_elect) {
    RETURN_IF_ERROR(LeaderElector::ValidateOptions(options_.leader_election));
  }
  for (auto& [name, informer] : informers_) {
    informer->Start();
  }
  for (auto& [name, informer] : informers_) {
    if (!informer->WaitForSync(options_.cache_sync_timeout)) {
      {
        std::lock_guard<std::mutex> lock(mu_);
        if (stopped_) {
          return CancelledError("manager stopped before the caches synced");
        }
      }
      return DeadlineExceededError("cache of " + name +
                                   " did not sync (is the resource served "
                                   "and readable?)");
    }
  }
  spdlog::info("Synced caches resources={} controllers={}", informers_.size(), controllers_.size());
  if (!options_.leader_elect) {
    StartWorkers();
    return OkStatus();
  }
  LeaderCallbacks callbacks;
  callbacks.on_started_leading = [this] { StartWorkers(); };
  callbacks.on_stopped_leading = [this] { OnLostLeadership(); };
  callbacks.on_new_leader = [](const std::string& identity) {
    spdlog::info("Observed leader identity={}", identity);
  };
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) {
      return CancelledError("manager stopped before leader election started");
    }
  }
  elector_ = std::make_unique<LeaderElector>(client_, clock_, options_.leader_election,
                                             std::move(callbacks));
  spdlog::info("Started leader election lease={}/{} identity={}",
               options_.leader_election.lease_namespace, options_.leader_election.lease_name,
               options_.leader_election.identity);
  elector_->Start();
  return OkStatus();
}

void Manager::StartWorkers() {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopped_ || workers_started_) {
    return;
  }
  workers_started_ = true;
  for (auto& c : controllers_) {
    Controller* controller = c.get();
    for (int i = 0; i < controller->spec.workers; ++i) {
      controller->workers.emplace_back([this, controller] { Work(*controller); });
    }
  }
  spdlog::info("Started workers controllers={} workers_per_controller={}", controllers_.size(),
               options_.workers);
  cv_.notify_all();
}

void Manager::Work(Controller& controller) {
  WorkQueue& queue = *controller.queue;
  metrics::ReconcileRecorder* recorder = options_.reconcile_metrics;
  const std::string& name = controller.spec.name;
  while (std::optional<std::string> key = queue.Get()) {
    if (recorder != nullptr) {
      recorder->SetQueueDepth(name, static_cast<double>(queue.Len()));
    }
    ObjectKey object_key = ObjectKey::Parse(*key);
    auto started = std::chrono::steady_clock::now();
    StatusOr<reconcilers::Result> result = InternalError("reconcile did not run");
    try {
      result = controller.reconciler->Reconcile(object_key);
    } catch (const std::exception& e) {
      result = InternalError(std::string("reconciler threw: ") + e.what());
    }
    double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    controller.reconciles.fetch_add(1, std::memory_order_relaxed);
    std::string outcome = "success";
    if (result.ok()) {
      queue.Forget(*key);
      if (result->requeue_after.count() > 0) {
        queue.AddAfter(*key, result->requeue_after);
        outcome = "requeue";
      }
    } else {
      outcome = "error";
      controller.errors.fetch_add(1, std::memory_order_relaxed);
      StatusCode code = result.status().code();
      if (code == StatusCode::kInvalidArgument || code == StatusCode::kFailedPrecondition) {
        queue.Forget(*key);
        spdlog::warn("Failed to reconcile {} key={} (terminal until the object changes): {}", name,
                     *key, result.status().ToString());
      } else {
        auto level = code == StatusCode::kAborted ? spdlog::level::debug : spdlog::level::warn;
        spdlog::log(level, "Failed to reconcile {} key={} requeues={}: {}", name, *key,
                    queue.NumRequeues(*key), result.status().ToString());
        queue.AddRateLimited(*key);
      }
    }
    if (recorder != nullptr) {
      recorder->ObserveReconcile(name, outcome, seconds);
    }
    queue.Done(*key);
  }
}

void Manager::OnLostLeadership() {
  std::lock_guard<std::mutex> lock(mu_);
  lost_lease_ = true;
  for (auto& c : controllers_) {
    c->queue->ShutDown();
  }
  cv_.notify_all();
}

void Manager::Stop() {
  std::lock_guard<std::mutex> stopping(stop_mu_);
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopped_) {
      return;
    }
    stopped_ = true;
    for (auto& c : controllers_) {
      c->queue->ShutDown();
    }
    cv_.notify_all();
  }
  for (auto& c : controllers_) {
    for (std::jthread& worker : c->workers) {
      if (worker.joinable()) {
        worker.join();
      }
    }
  }
  if (elector_) {
    elector_->Stop();
  }
  for (auto& [name, informer] : informers_) {
    informer->Stop();
  }
  spdlog::info("Stopped controllers");
}

Status Manager::Wait() {
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return stopped_ || lost_lease_; });
  if (lost_lease_) {
    return AbortedError("lost the leader election Lease " +
                        options_.leader_election.lease_namespace + "/" +
                        options_.leader_election.lease_name);
  }
  return OkStatus();
}

bool Manager::IsLeader() const { return elector_ ? elector_->IsLeader() : WorkersStarted(); }

bool Manager::WorkersStarted() const {
  std::lock_guard<std::mutex> lock(mu_);
  return workers_started_;
}

StatusOr<ControllerStats> Manager::Stats(const std::string& name) const {
  for (const auto& c : controllers_) {
    if (c->spec.name == name) {
      return ControllerStats{c->reconciles.load(), c->errors.load()};
    }
  }
  return NotFoundError("controller " + name + " is not registered");
}

const Store* Manager::StoreFor(const ResourceRef& resource) const {
  auto it = informers_.find(resource.GroupResource());
  return it == informers_.end() ? nullptr : &it->second->store();
}

WorkQueue* Manager::QueueFor(const std::string& name) {
  for (auto& c : controllers_) {
    if (c->spec.name == name) {
      return c->queue.get();
    }
  }
  return nullptr;
}

}  // namespace lifeboat::controller
