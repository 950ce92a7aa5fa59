// Informer against the real embedded API server: initial sync, updates, resync, reconnect after
// a server restart, relist after 410 Gone.
#include "controller/informer.h"

#include <gtest/gtest.h>

#include <atomic>

#include "common/clock.h"
#include "tests/unit/controller/api_server_fixture.h"

namespace lifeboat::controller {
namespace {

using testing::ApiServerFixture;
using testing::BackupPolicy;
using testing::kBackupPolicies;
using testing::WaitFor;

struct Counts {
  std::atomic<int> adds{0};
  std::atomic<int> updates{0};
  std::atomic<int> same_object_updates{0};
  std::atomic<int> deletes{0};
  EventHandlers Handlers() {
    return EventHandlers{[this](const ObjectPtr&) { ++adds; },
                         [this](const ObjectPtr& old_object, const ObjectPtr& new_object) {
                           ++updates;
                           if (old_object == new_object) {
                             ++same_object_updates;
                           }
                         },
                         [this](const ObjectPtr&) { ++deletes; }};
  }
};

std::string RpoOf(const Store& store, const std::string& key) {
  ObjectPtr object = store.Get(key);
  return object ? (*object)["spec"]["rpo"].get<std::string>() : "";
}

class InformerTest : public ApiServerFixture {
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
  std::unique_ptr<KubeClient> writer_;
};

TEST_F(InformerTest, SyncsThenFollowsCreatesUpdatesAndDeletes) {
  for (int i = 0; i < 20; ++i) {
    ASSERT_TRUE(
        writer_->Create(kBackupPolicies, BackupPolicy("prod", "p" + std::to_string(i))).ok());
  }
  auto client = NewClient();
  InformerOptions options;
  options.resource = kBackupPolicies;
  options.page_size = 7;  // three pages
  Informer informer(*client, SystemClock(), options);
  Counts counts;
  informer.AddEventHandlers(counts.Handlers());
  EXPECT_FALSE(informer.HasSynced());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(10)));
  EXPECT_EQ(informer.store().Size(), 20u);
  EXPECT_EQ(counts.adds.load(), 20);
  EXPECT_FALSE(informer.last_resource_version().empty());

  ASSERT_TRUE(writer_->Create(kBackupPolicies, BackupPolicy("prod", "new")).ok());
  auto p3 = writer_->Get(kBackupPolicies, {"prod", "p3"});
  ASSERT_TRUE(p3.ok());
  (*p3)["spec"]["rpo"] = "9h";
  ASSERT_TRUE(writer_->Update(kBackupPolicies, *p3).ok());
  ASSERT_TRUE(writer_->Delete(kBackupPolicies, {"prod", "p7"}).ok());

  EXPECT_TRUE(WaitFor([&] {
    return informer.store().Get("prod/new") != nullptr &&
           RpoOf(informer.store(), "prod/p3") == "9h" && informer.store().Get("prod/p7") == nullptr;
  }));
  EXPECT_EQ(informer.store().Size(), 20u);
  EXPECT_EQ(counts.adds.load(), 21);
  EXPECT_EQ(counts.updates.load(), 1);
  EXPECT_EQ(counts.deletes.load(), 1);
  EXPECT_EQ(informer.stats().lists, 1u);
  informer.Stop();
}

TEST_F(InformerTest, ResyncRedeliversEveryCachedObjectOnTheClock) {
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        writer_->Create(kBackupPolicies, BackupPolicy("prod", "p" + std::to_string(i))).ok());
  }
  FakeClock clock;
  auto client = NewClient();
  InformerOptions options;
  options.resource = kBackupPolicies;
  options.resync_period = std::chrono::minutes(5);
  Informer informer(*client, clock, options);
  Counts counts;
  informer.AddEventHandlers(counts.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(10)));
  EXPECT_EQ(counts.same_object_updates.load(), 0);
  clock.Advance(std::chrono::minutes(5));
  EXPECT_TRUE(WaitFor([&] { return counts.same_object_updates.load() == 3; }));
  clock.Advance(std::chrono::minutes(5));
  EXPECT_TRUE(WaitFor([&] { return counts.same_object_updates.load() == 6; }));
  informer.Stop();
}

TEST_F(InformerTest, ReconnectsAfterTheServerRestartsOnTheSamePortAndDataDir) {
  ASSERT_TRUE(writer_->Create(kBackupPolicies, BackupPolicy("prod", "before")).ok());
  auto client = NewClient();
  InformerOptions options;
  options.resource = kBackupPolicies;
  Informer informer(*client, SystemClock(), options);
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(10)));

  StopServer();
  StartServer(port_);
  auto writer = NewClient();
  ASSERT_TRUE(writer->Create(kBackupPolicies, BackupPolicy("prod", "after")).ok());
  EXPECT_TRUE(WaitFor([&] { return informer.store().Get("prod/after") != nullptr; },
                      std::chrono::seconds(20)));
  EXPECT_NE(informer.store().Get("prod/before"), nullptr);
  EXPECT_EQ(informer.stats().relists_on_expiry, 0u) << "the same revision resumes the watch";
  EXPECT_EQ(informer.stats().lists, 1u) << "the watch reconnected by itself, without a relist";
  informer.Stop();
}

TEST_F(InformerTest, RelistsWhenTheWatchRevisionHasExpired) {
  ASSERT_TRUE(writer_->Create(kBackupPolicies, BackupPolicy("prod", "a")).ok());
  ASSERT_TRUE(writer_->Create(kBackupPolicies, BackupPolicy("prod", "b")).ok());
  auto client = NewClient();
  InformerOptions options;
  options.resource = kBackupPolicies;
  Informer informer(*client, SystemClock(), options);
  Counts counts;
  informer.AddEventHandlers(counts.Handlers());
  informer.Start();
  ASSERT_TRUE(informer.WaitForSync(std::chrono::seconds(10)));
  const int original_port = port_;

  // While the informer is cut off, another server instance on the same data dir moves the
  // revision on; the restarted server's (empty) event log then cannot replay from the
  // informer's revision: 410 Gone → relist.
  StopServer();
  StartServer(0);
  {
    auto side = NewClient();
    ASSERT_TRUE(side->Create(kBackupPolicies, BackupPolicy("prod", "c")).ok());
    ASSERT_TRUE(side->Delete(kBackupPolicies, {"prod", "a"}).ok());
  }
  StopServer();
  StartServer(original_port);

  EXPECT_TRUE(WaitFor(
      [&] {
        return informer.store().Get("prod/c") != nullptr &&
               informer.store().Get("prod/a") == nullptr;
      },
      std::chrono::seconds(20)));
  EXPECT_GE(informer.stats().relists_on_expiry, 1u);
  EXPECT_GE(informer.stats().lists, 2u);
  EXPECT_EQ(counts.deletes.load(), 1) << "the relist reports what vanished meanwhile";
  informer.Stop();
}

}  // namespace
}  // namespace lifeboat::controller
