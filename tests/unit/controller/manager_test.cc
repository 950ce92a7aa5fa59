// Manager + the Lifeboat reconcilers against the real embedded API server: Ready and
// observedGeneration end to end, InvalidSpec with an Event, no write without a change, and
// leader election between two managers.
#include "controller/manager.h"

#include <gtest/gtest.h>

#include <map>
#include <mutex>
#include <thread>

#include "controller/event_recorder.h"
#include "reconcilers/conditions.h"
#include "reconcilers/lifeboat_manager.h"
#include "tests/unit/controller/api_server_fixture.h"

namespace lifeboat::controller {
namespace {

using testing::ApiServerFixture;
using testing::BackupPolicy;
using testing::kBackupPolicies;
using testing::WaitFor;

class ManagerTest : public ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    writer_ = NewClient();
    ASSERT_NE(writer_, nullptr);
    CreateNamespace(*writer_, "prod");
  }

  // The Ready condition of prod/<name> once it reflects `generation`.
  std::optional<api::Condition> WaitForReady(const std::string& name, int64_t generation) {
    std::optional<api::Condition> ready;
    WaitFor([&] {
      auto object = writer_->Get(kBackupPolicies, {"prod", name});
      if (!object.ok() || !object->contains("status")) {
        return false;
      }
      const Json& status = (*object)["status"];
      if (status.value("observedGeneration", int64_t{0}) != generation) {
        return false;
      }
      ready = reconcilers::GetStatusCondition(status, api::kConditionReady);
      return ready.has_value() && ready->observed_generation == generation;
    });
    return ready;
  }

  std::unique_ptr<KubeClient> writer_;
};

TEST_F(ManagerTest, ReconcilerPublishesReadyAndObservedGeneration) {
  auto client = NewClient();
  ManagerOptions options;
  options.workers = 2;
  auto manager = reconcilers::NewLifeboatManager(*client, options);
  ASSERT_TRUE(manager.ok()) << manager.status();
  ASSERT_TRUE((*manager)->Start().ok());
  EXPECT_TRUE((*manager)->WorkersStarted());

  auto created = writer_->Create(kBackupPolicies, BackupPolicy("prod", "db"));
  ASSERT_TRUE(created.ok()) << created.status();
  auto ready = WaitForReady("db", 1);
  ASSERT_TRUE(ready.has_value()) << "Ready never reflected generation 1";
  EXPECT_EQ(ready->status, api::ConditionStatus::kTrue);
  EXPECT_EQ(ready->reason, "Valid");
  api::Time first_transition = ready->last_transition_time;

  // A spec change bumps the generation; Ready stays True, its transition time stays put.
  auto current = writer_->Get(kBackupPolicies, {"prod", "db"});
  ASSERT_TRUE(current.ok());
  (*current)["spec"]["rpo"] = "6h";
  ASSERT_TRUE(writer_->Update(kBackupPolicies, *current).ok());
  ready = WaitForReady("db", 2);
  ASSERT_TRUE(ready.has_value()) << "Ready never reflected generation 2";
  EXPECT_EQ(ready->status, api::ConditionStatus::kTrue);
  EXPECT_EQ(ready->last_transition_time, first_transition);

  // Reconciling an up-to-date object writes nothing.
  auto settled = writer_->Get(kBackupPolicies, {"prod", "db"});
  ASSERT_TRUE(settled.ok());
  std::string version = (*settled)["metadata"]["resourceVersion"];
  uint64_t before = (*manager)->Stats("backuppolicy")->reconciles;
  (*manager)->QueueFor("backuppolicy")->Add("prod/db");
  EXPECT_TRUE(WaitFor([&] { return (*manager)->Stats("backuppolicy")->reconciles > before; }));
  auto after = writer_->Get(kBackupPolicies, {"prod", "db"});
  ASSERT_TRUE(after.ok());
  EXPECT_EQ((*after)["metadata"]["resourceVersion"], version);
  (*manager)->Stop();
  EXPECT_TRUE((*manager)->Wait().ok());
}

TEST_F(ManagerTest, InvalidSpecBecomesReadyFalseWithTheFieldAndAWarningEvent) {
  auto client = NewClient();
  auto manager = reconcilers::NewLifeboatManager(*client, ManagerOptions{});
  ASSERT_TRUE(manager.ok());
  ASSERT_TRUE((*manager)->Start().ok());
  // Passes the CRD schema (a pattern), fails semantic validation (no such IANA zone).
  auto created = writer_->Create(kBackupPolicies, BackupPolicy("prod", "odd", "Mars/Olympus"));
  ASSERT_TRUE(created.ok()) << created.status();
  auto ready = WaitForReady("odd", 1);
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->status, api::ConditionStatus::kFalse);
  EXPECT_EQ(ready->reason, "InvalidSpec");
  EXPECT_NE(ready->message.find("spec.schedule.timeZone"), std::string::npos) << ready->message;

  bool found_event = WaitFor([&] {
    auto events = writer_->List(EventResource(), "prod", {});
    if (!events.ok()) {
      return false;
    }
    for (const Json& e : events->items) {
      if (e.value("reason", "") == "InvalidSpec" && e["involvedObject"]["name"] == "odd" &&
          e.value("type", "") == "Warning") {
        return true;
      }
    }
    return false;
  });
  EXPECT_TRUE(found_event);

  // Fixing the spec flips Ready to True.
  auto current = writer_->Get(kBackupPolicies, {"prod", "odd"});
  ASSERT_TRUE(current.ok());
  (*current)["spec"]["schedule"]["timeZone"] = "Europe/Paris";
  ASSERT_TRUE(writer_->Update(kBackupPolicies, *current).ok());
  ready = WaitForReady("odd", 2);
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->status, api::ConditionStatus::kTrue);
}

// Collects what the manager reports (the Prometheus implementation lives in metrics/).
class CollectingReconcileRecorder final : public metrics::ReconcileRecorder {
 public:
  void ObserveReconcile(const std::string& controller, const std::string& result,
                        double seconds) override {
    std::lock_guard<std::mutex> l(mu_);
    results_[controller + "/" + result]++;
    EXPECT_GE(seconds, 0.0);
  }
  void SetQueueDepth(const std::string& controller, double depth) override {
    EXPECT_GE(depth, 0.0);
  }
  int Count(const std::string& key) {
    std::lock_guard<std::mutex> l(mu_);
    return results_[key];
  }

 private:
  std::mutex mu_;
  std::map<std::string, int> results_;
};

TEST_F(ManagerTest, ReportsReconcilesToTheMetricsRecorder) {
  auto client = NewClient();
  CollectingReconcileRecorder recorder;
  ManagerOptions options;
  options.reconcile_metrics = &recorder;
  auto manager = reconcilers::NewLifeboatManager(*client, options);
  ASSERT_TRUE(manager.ok());
  ASSERT_TRUE((*manager)->Start().ok());
  ASSERT_TRUE(writer_->Create(kBackupPolicies, BackupPolicy("prod", "db")).ok());
  ASSERT_TRUE(WaitForReady("db", 1).has_value());
  EXPECT_TRUE(WaitFor([&] { return recorder.Count("backuppolicy/success") >= 1; }));
  (*manager)->Stop();
}

TEST_F(ManagerTest, EventRecorderAggregatesRepeatsIntoOneEventWithACount) {
  auto client = NewClient();
  auto created = writer_->Create(kBackupPolicies, BackupPolicy("prod", "db"));
  ASSERT_TRUE(created.ok());
  EventRecorder recorder(*client, SystemClock(), "test");
  recorder.Record(*created, EventType::kWarning, "VaultUnreachable", "vault main: timeout");
  recorder.Record(*created, EventType::kWarning, "VaultUnreachable", "vault main: timeout");
  recorder.Record(*created, EventType::kWarning, "VaultUnreachable", "vault main: timeout");
  recorder.Record(*created, EventType::kNormal, "Reconciled", "ok");
  auto events = writer_->List(EventResource(), "prod", {});
  ASSERT_TRUE(events.ok()) << events.status();
  int unreachable = 0;
  for (const Json& e : events->items) {
    if (e.value("reason", "") == "VaultUnreachable") {
      ++unreachable;
      EXPECT_EQ(e["count"], 3);
      EXPECT_EQ(e["involvedObject"]["kind"], "BackupPolicy");
      EXPECT_EQ(e["involvedObject"]["uid"], (*created)["metadata"]["uid"]);
      EXPECT_EQ(e["type"], "Warning");
    }
  }
  EXPECT_EQ(unreachable, 1);
  EXPECT_EQ(events->items.size(), 2u);
}

TEST_F(ManagerTest, EveryLifeboatKindIsItsOwnController) {
  auto client = NewClient();
  auto manager = reconcilers::NewLifeboatManager(*client, ManagerOptions{});
  ASSERT_TRUE(manager.ok());
  for (const char* name : {"vault", "backuppolicy", "recoverypoint", "restore", "snapshot", "site",
                           "replicationpolicy", "recoveryplan", "failover"}) {
    EXPECT_TRUE((*manager)->Stats(name).ok()) << name;
  }
  auto overridden =
      reconcilers::NewLifeboatManager(*client, ManagerOptions{}, {{"NoSuchKind", nullptr}});
  EXPECT_EQ(overridden.status().code(), StatusCode::kInvalidArgument);
}

TEST_F(ManagerTest, OnlyTheLeaderReconcilesAndAReleasedLeaseIsTakenOverAtOnce) {
  auto make_options = [](const std::string& identity) {
    ManagerOptions options;
    options.leader_elect = true;
    options.leader_election.identity = identity;
    options.leader_election.lease_namespace = "prod";
    options.leader_election.lease_duration = std::chrono::seconds(4);
    options.leader_election.renew_deadline = std::chrono::seconds(3);
    options.leader_election.retry_period = std::chrono::milliseconds(200);
    return options;
  };
  auto client_a = NewClient();
  auto client_b = NewClient();
  auto a = reconcilers::NewLifeboatManager(*client_a, make_options("a"));
  ASSERT_TRUE(a.ok());
  ASSERT_TRUE((*a)->Start().ok());
  ASSERT_TRUE(WaitFor([&] { return (*a)->IsLeader(); }));
  auto b = reconcilers::NewLifeboatManager(*client_b, make_options("b"));
  ASSERT_TRUE(b.ok());
  ASSERT_TRUE((*b)->Start().ok());

  ASSERT_TRUE(writer_->Create(kBackupPolicies, BackupPolicy("prod", "db")).ok());
  ASSERT_TRUE(WaitForReady("db", 1).has_value());
  EXPECT_FALSE((*b)->IsLeader());
  EXPECT_FALSE((*b)->WorkersStarted());
  EXPECT_EQ((*b)->Stats("backuppolicy")->reconciles, 0u);

  auto started = std::chrono::steady_clock::now();
  (*a)->Stop();  // graceful: releases the Lease
  ASSERT_TRUE(WaitFor([&] { return (*b)->IsLeader(); }));
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(2))
      << "a released Lease is taken over without waiting for it to expire";
  auto lease = writer_->Get(LeaseResource(), {"prod", "lifeboat-controller"});
  ASSERT_TRUE(lease.ok());
  EXPECT_EQ((*lease)["spec"]["holderIdentity"], "b");
  EXPECT_GE((*lease)["spec"]["leaseTransitions"].get<int>(), 0);
  (*b)->Stop();
}

TEST(OnlyStatusChangedTest, StatusAndResourceVersionOnlyVersusEverythingElse) {
  Json old = BackupPolicy("prod", "db");
  old["metadata"]["resourceVersion"] = "10";
  old["metadata"]["generation"] = 1;
  Json status_only = old;
  status_only["metadata"]["resourceVersion"] = "11";
  status_only["status"] = {{"observedGeneration", 1}};
  EXPECT_TRUE(OnlyStatusChanged(old, status_only));
  EXPECT_FALSE(OnlyStatusChanged(old, old)) << "a resync (same resourceVersion) is not filtered";

  Json spec = status_only;
  spec["spec"]["rpo"] = "6h";
  spec["metadata"]["generation"] = 2;
  EXPECT_FALSE(OnlyStatusChanged(old, spec));
  for (const char* field : {"labels", "annotations", "finalizers", "deletionTimestamp"}) {
    Json meta = status_only;
    meta["metadata"][field] = field == std::string("labels") ? Json{{"app", "web"}}
                              : field == std::string("finalizers")
                                  ? Json::array({"lifeboat.dev/protect"})
                              : field == std::string("annotations") ? Json{{"note", "x"}}
                                                                    : Json("2026-12-04T19:00:00Z");
    EXPECT_FALSE(OnlyStatusChanged(old, meta)) << field;
  }
  Json extra = status_only;
  extra["data"] = "new top-level field";
  EXPECT_FALSE(OnlyStatusChanged(old, extra));
}

// Writes status.observedGeneration once per generation and counts its reconciles per key.
class StatusWriter final : public reconcilers::Reconciler {
 public:
  explicit StatusWriter(const ControllerContext& ctx) : ctx_(ctx) {}
  StatusOr<reconcilers::Result> Reconcile(const ObjectKey& key) override {
    {
      std::lock_guard<std::mutex> lock(mu_);
      ++counts_[key.ToString()];
    }
    ObjectPtr cached = ctx_.store.Get(key.ToString());
    if (cached == nullptr) return reconcilers::Result{};
    int64_t generation = cached->value("/metadata/generation"_json_pointer, int64_t{0});
    if (cached->value("/status/observedGeneration"_json_pointer, int64_t{-1}) == generation) {
      return reconcilers::Result{};
    }
    Json updated = *cached;
    updated["status"] = {{"observedGeneration", generation}};
    auto written = ctx_.client.UpdateStatus(ctx_.resource, updated);
    if (!written.ok()) return written.status();
    return reconcilers::Result{};
  }
  int Count(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    return counts_[key];
  }

 private:
  const ControllerContext ctx_;
  std::mutex mu_;
  std::map<std::string, int> counts_;
};

// The reconciler's own status write enqueues the object again unless the controller ignores
// status-only updates. One worker, watch order and the FIFO queue make it deterministic: a
// second object is created once the first one's status is written, a third once the second is
// being reconciled. Had the status write enqueued the first object, that happened before the
// second's event (re-queued when its first reconcile ended, i.e. before the second was taken),
// so by the time the third is reconciled, the first's second reconcile has started.
TEST_F(ManagerTest, StatusOnlyUpdatesEnqueueUnlessTheControllerIgnoresThem) {
  for (bool ignore : {false, true}) {
    SCOPED_TRACE(ignore ? "ignoring status-only updates" : "default");
    auto client = NewClient();
    ManagerOptions options;
    options.workers = 1;
    Manager manager(*client, options);
    StatusWriter* writer = nullptr;
    ControllerSpec spec{"backuppolicy", kBackupPolicies, 1};
    spec.ignore_status_only_updates = ignore;
    ASSERT_TRUE(manager
                    .AddController(spec,
                                   [&writer](const ControllerContext& ctx) {
                                     auto r = std::make_unique<StatusWriter>(ctx);
                                     writer = r.get();
                                     return r;
                                   })
                    .ok());
    ASSERT_TRUE(manager.Start().ok());
    std::string first = ignore ? "first-ignored" : "first-default";
    std::string second = ignore ? "second-ignored" : "second-default";
    std::string third = ignore ? "third-ignored" : "third-default";
    ASSERT_TRUE(writer_->Create(kBackupPolicies, BackupPolicy("prod", first)).ok());
    ASSERT_TRUE(WaitFor([&] {
      auto got = writer_->Get(kBackupPolicies, {"prod", first});
      return got.ok() && got->contains("status");
    }));
    ASSERT_TRUE(writer_->Create(kBackupPolicies, BackupPolicy("prod", second)).ok());
    ASSERT_TRUE(WaitFor([&] { return writer->Count("prod/" + second) >= 1; }));
    ASSERT_TRUE(writer_->Create(kBackupPolicies, BackupPolicy("prod", third)).ok());
    ASSERT_TRUE(WaitFor([&] { return writer->Count("prod/" + third) >= 1; }));
    EXPECT_EQ(writer->Count("prod/" + first), ignore ? 1 : 2);

    // A label change is not status-only: it is reconciled.
    auto current = writer_->Get(kBackupPolicies, {"prod", first});
    ASSERT_TRUE(current.ok());
    (*current)["metadata"]["labels"]["app"] = "web";
    ASSERT_TRUE(writer_->Update(kBackupPolicies, *current).ok());
    int before = ignore ? 1 : 2;
    EXPECT_TRUE(WaitFor([&] { return writer->Count("prod/" + first) > before; }));
    manager.Stop();
  }
}

// "ns/<label policy>" of a ConfigMap: the index and watch map of the tests below.
std::vector<std::string> PolicyOf(const Json& m) {
  std::string policy = m.value("/metadata/labels/policy"_json_pointer, "");
  if (policy.empty()) return {};
  return {m.value("/metadata/namespace"_json_pointer, "") + "/" + policy};
}

// A ConfigMap in "prod" labelled policy=<policy>.
Json PolicyConfigMap(const std::string& name, const std::string& policy) {
  return Json{
      {"apiVersion", "v1"},
      {"kind", "ConfigMap"},
      {"metadata", {{"name", name}, {"namespace", "prod"}, {"labels", {{"policy", policy}}}}},
      {"data", {{"k", "v"}}}};
}

// Records the keys it reconciles and what the ConfigMap cache's "policy" index holds for them.
class IndexReader final : public reconcilers::Reconciler {
 public:
  explicit IndexReader(const ControllerContext& ctx) : ctx_(ctx) {}
  StatusOr<reconcilers::Result> Reconcile(const ObjectKey& key) override {
    const Store* maps = ctx_.cache(kConfigMaps);
    std::vector<std::string> names;
    if (maps != nullptr) {
      for (const ObjectPtr& m : maps->ByIndex("policy", key.ToString())) {
        names.push_back((*m)["metadata"]["name"]);
      }
    }
    std::lock_guard<std::mutex> lock(mu_);
    seen_[key.ToString()] = names;
    return reconcilers::Result{};
  }
  std::optional<std::vector<std::string>> Seen(const std::string& key) {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = seen_.find(key);
    if (it == seen_.end()) return std::nullopt;
    return it->second;
  }

  static inline const ResourceRef kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};

 private:
  const ControllerContext ctx_;
  std::mutex mu_;
  std::map<std::string, std::vector<std::string>> seen_;
};

// A controller that watches another kind is enqueued by that kind's changes (through its map
// function) and reads that kind's cache through an index, kept up to date on add, update and
// delete.
TEST_F(ManagerTest, WatchedKindsEnqueueThroughTheirMapAndTheirIndexFollowsChanges) {
  auto client = NewClient();
  Manager manager(*client, ManagerOptions{});
  const ResourceRef& maps = IndexReader::kConfigMaps;
  IndexReader* reader = nullptr;
  ControllerSpec spec{"backuppolicy", kBackupPolicies, 1};
  spec.watches.push_back({maps, PolicyOf});
  ASSERT_TRUE(manager
                  .AddController(spec,
                                 [&reader](const ControllerContext& ctx) {
                                   auto r = std::make_unique<IndexReader>(ctx);
                                   reader = r.get();
                                   return r;
                                 })
                  .ok());
  ControllerSpec map_spec{"configmap", maps, 1};
  map_spec.indexes["policy"] = PolicyOf;
  ASSERT_TRUE(manager
                  .AddController(map_spec,
                                 [](const ControllerContext& ctx) {
                                   return std::make_unique<IndexReader>(ctx);
                                 })
                  .ok());
  ASSERT_TRUE(manager.Start().ok());
  EXPECT_EQ(manager.StoreFor(maps), manager.StoreFor(maps));
  ASSERT_NE(manager.StoreFor(maps), nullptr);

  auto seen = [&](const std::string& key, std::vector<std::string> want) {
    return WaitFor([&] { return reader->Seen(key) == want; });
  };
  // No BackupPolicy "app" exists: the watch alone enqueues its key.
  ASSERT_TRUE(writer_->Create(maps, PolicyConfigMap("one", "app")).ok());
  EXPECT_TRUE(seen("prod/app", {"one"}));
  ASSERT_TRUE(writer_->Create(maps, PolicyConfigMap("two", "app")).ok());
  EXPECT_TRUE(seen("prod/app", {"one", "two"}));
  // Moved to another policy: both are enqueued, each with its own view.
  auto two = writer_->Get(maps, {"prod", "two"});
  ASSERT_TRUE(two.ok());
  (*two)["metadata"]["labels"]["policy"] = "db";
  ASSERT_TRUE(writer_->Update(maps, *two).ok());
  EXPECT_TRUE(seen("prod/db", {"two"}));
  ASSERT_TRUE(writer_->Delete(maps, {"prod", "one"}).ok());
  EXPECT_TRUE(seen("prod/app", {}));
  EXPECT_TRUE(seen("prod/db", {"two"}));
  manager.Stop();
}

// A watch through an index enqueues the objects of the controller's own cache filed under the
// values its map returns (a Vault's change enqueues the policies using it); a watch naming an
// index the controller does not declare is refused.
TEST_F(ManagerTest, AWatchThroughAnIndexEnqueuesTheObjectsFiledUnderIt) {
  auto client = NewClient();
  Manager manager(*client, ManagerOptions{});
  const ResourceRef& maps = IndexReader::kConfigMaps;
  auto key_of = [](const Json& o) -> std::vector<std::string> {
    return {o.value("/metadata/namespace"_json_pointer, "") + "/" +
            o.value("/metadata/name"_json_pointer, "")};
  };
  auto factory = [](const ControllerContext& ctx) { return std::make_unique<IndexReader>(ctx); };
  ControllerSpec undeclared{"configmap", maps, 1};
  undeclared.watches.push_back({kBackupPolicies, key_of, "policy"});
  EXPECT_EQ(manager.AddController(undeclared, factory).code(), StatusCode::kInvalidArgument);

  ControllerSpec spec{"configmap", maps, 1};
  spec.indexes["policy"] = PolicyOf;
  spec.watches.push_back({kBackupPolicies, key_of, "policy"});
  ASSERT_TRUE(manager.AddController(spec, factory).ok());
  ASSERT_TRUE(manager.Start().ok());
  ASSERT_TRUE(writer_->Create(maps, PolicyConfigMap("one", "app")).ok());
  ASSERT_TRUE(writer_->Create(maps, PolicyConfigMap("two", "app")).ok());
  ASSERT_TRUE(writer_->Create(maps, PolicyConfigMap("three", "db")).ok());
  auto reconciles = [&] { return manager.Stats("configmap")->reconciles; };
  ASSERT_TRUE(WaitFor([&] { return reconciles() == 3; }));
  // The policy "app" filed two ConfigMaps: both are reconciled again, "three" is not.
  ASSERT_TRUE(writer_->Create(kBackupPolicies, BackupPolicy("prod", "app")).ok());
  EXPECT_TRUE(WaitFor([&] { return reconciles() == 5; }));
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(reconciles(), 5u);
  manager.Stop();
}

}  // namespace
}  // namespace lifeboat::controller
