// The Snapshot reconciler against the real embedded API server: create → readyToUse with exact
// figures, deletion through the finalizer frees only exclusive data, a bad source becomes
// Ready=False with the path in the message.
#include "reconcilers/snapshot/snapshot_reconciler.h"

#include <gtest/gtest.h>

#include <random>

#include "reconcilers/conditions.h"
#include "reconcilers/finalizer.h"
#include "reconcilers/job_runner.h"
#include "reconcilers/kinds.h"
#include "tests/unit/controller/api_server_fixture.h"
#include "tests/unit/snapshot/snapshot_test_util.h"

namespace lifeboat::reconcilers::snapshot {
namespace {

using controller::testing::ApiServerFixture;
using controller::testing::WaitFor;
using namespace ::lifeboat::snapshot::testing;

constexpr uint64_t kBs = lifeboat::snapshot::kDefaultBlockSize;

Json SnapshotObject(const std::string& name, const std::string& path) {
  return Json{{"apiVersion", "lifeboat.dev/v1alpha1"},
              {"kind", "Snapshot"},
              {"metadata", {{"name", name}, {"namespace", "prod"}}},
              {"spec", {{"source", {{"name", "disk"}, {"path", path}}}}}};
}

class SnapshotReconcilerTest : public ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    writer_ = NewClient();
    ASSERT_NE(writer_, nullptr);
    CreateNamespace(*writer_, "prod");
    auto resource = LifeboatResource("Snapshot");
    ASSERT_TRUE(resource.ok());
    resource_ = *resource;
    env_.data_dir = tmp_.path() / "data";
    env_.jobs = &jobs_;
    env_.enqueue = [this](const std::string& controller, const ObjectKey& key) {
      std::lock_guard<std::mutex> lock(mu_);
      if (manager_ != nullptr) {
        if (auto* queue = manager_->QueueFor(controller)) {
          queue->Add(key.ToString());
        }
      }
    };
    client_ = NewClient();
    controller::ManagerOptions options;
    options.workers = 2;
    auto manager = NewLifeboatManager(*client_, options, SnapshotReconcilerFactories(env_));
    ASSERT_TRUE(manager.ok()) << manager.status();
    {
      std::lock_guard<std::mutex> lock(mu_);
      manager_ = std::move(*manager);
    }
    ASSERT_TRUE(manager_->Start().ok());
  }

  void TearDown() override {
    if (manager_) {
      manager_->Stop();
      (void)manager_->Wait();
    }
    jobs_.Stop();
    ApiServerFixture::TearDown();
  }

  // The object once `done(status)` holds.
  std::optional<Json> WaitForStatus(const std::string& name,
                                    const std::function<bool(const Json&)>& done) {
    std::optional<Json> out;
    WaitFor(
        [&] {
          auto object = writer_->Get(resource_, {"prod", name});
          if (!object.ok() || !object->contains("status")) {
            return false;
          }
          if (done((*object)["status"])) {
            out = *object;
            return true;
          }
          return false;
        },
        std::chrono::seconds(30));
    return out;
  }

  ::lifeboat::testing::TempDir tmp_;
  std::unique_ptr<controller::KubeClient> writer_;
  std::unique_ptr<controller::KubeClient> client_;
  controller::ResourceRef resource_;
  JobRunner jobs_{2};
  EngineEnv env_;
  std::mutex mu_;
  std::unique_ptr<controller::Manager> manager_;
};

bool IsReady(const Json& status) { return status.value("readyToUse", false); }

TEST_F(SnapshotReconcilerTest, CreateReportsFiguresAndDeleteFreesOnlyExclusiveData) {
  std::mt19937_64 rng(1);
  auto img = tmp_.path() / "disk.img";
  MakeSparse(img, 64 * kBs);
  for (uint64_t b = 0; b < 64; b += 4) {
    WriteAt(img, b * kBs, RandomBytes(rng, kBs));
  }
  std::string original = ReadAll(img);
  ASSERT_TRUE(writer_->Create(resource_, SnapshotObject("s1", img.string())).ok());
  auto s1 = WaitForStatus("s1", IsReady);
  ASSERT_TRUE(s1.has_value()) << "s1 never became readyToUse";
  const Json& st1 = (*s1)["status"];
  EXPECT_EQ(st1["provisionedBytes"], 64 * kBs);
  EXPECT_EQ(st1["usedBytes"], 16 * kBs);
  EXPECT_EQ(st1["exclusiveBytes"], 16 * kBs);
  EXPECT_FALSE(st1.value("creationTime", "").empty());
  EXPECT_TRUE(HasFinalizer(*s1, kCleanupFinalizer));
  auto ready = GetStatusCondition(st1, api::kConditionReady);
  ASSERT_TRUE(ready.has_value());
  EXPECT_EQ(ready->status, api::ConditionStatus::kTrue);
  std::string id1 = st1["snapshotID"];

  // A second snapshot after one block changed costs one block.
  WriteAt(img, 0, RandomBytes(rng, kBs));
  ASSERT_TRUE(writer_->Create(resource_, SnapshotObject("s2", img.string())).ok());
  auto s2 = WaitForStatus("s2", IsReady);
  ASSERT_TRUE(s2.has_value());
  EXPECT_EQ((*s2)["status"]["exclusiveBytes"], kBs);
  EXPECT_EQ((*s2)["status"]["usedBytes"], 16 * kBs);

  // Restore (Materialize) of s1 gives the original bytes.
  auto store = lifeboat::snapshot::SnapshotStore::Open(SnapshotStoreDir(env_));
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->Materialize({.id = id1, .target = tmp_.path() / "r1.img"}).ok());
  EXPECT_EQ(ReadAll(tmp_.path() / "r1.img"), original);

  // Deleting s1 removes its snapshot (one exclusive block) and then the object.
  ASSERT_TRUE(writer_->Delete(resource_, {"prod", "s1"}).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        return IsNotFound(writer_->Get(resource_, {"prod", "s1"}).status());
      },
      std::chrono::seconds(30)));
  auto left = (*store)->List();
  ASSERT_TRUE(left.ok());
  ASSERT_EQ(left->size(), 1u);
  EXPECT_EQ((*left)[0].id, (*s2)["status"]["snapshotID"]);
  EXPECT_EQ((*left)[0].exclusive_bytes, 16 * kBs);  // s2 now owns every block it uses
  EXPECT_TRUE((*store)->Verify((*left)[0].id).ok());
}

TEST_F(SnapshotReconcilerTest, MissingSourceIsReadyFalseNamingThePath) {
  auto missing = tmp_.path() / "no-such.img";
  ASSERT_TRUE(writer_->Create(resource_, SnapshotObject("bad", missing.string())).ok());
  auto bad = WaitForStatus("bad", [](const Json& status) {
    auto ready = GetStatusCondition(status, api::kConditionReady);
    return ready.has_value() && ready->reason == "SnapshotFailed";
  });
  ASSERT_TRUE(bad.has_value());
  auto ready = GetStatusCondition((*bad)["status"], api::kConditionReady);
  EXPECT_EQ(ready->status, api::ConditionStatus::kFalse);
  EXPECT_NE(ready->message.find(missing.string()), std::string::npos) << ready->message;
  EXPECT_FALSE((*bad)["status"].value("readyToUse", true));
  // Deleting it needs no snapshot cleanup and does not hang on the finalizer.
  ASSERT_TRUE(writer_->Delete(resource_, {"prod", "bad"}).ok());
  EXPECT_TRUE(WaitFor(
      [&] {
        return IsNotFound(writer_->Get(resource_, {"prod", "bad"}).status());
      },
      std::chrono::seconds(30)));
}

}  // namespace
}  // namespace lifeboat::reconcilers::snapshot
