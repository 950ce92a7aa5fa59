// The protected site's half of failover end to end: site A is the embedded API server, the
// controller manager with the replication reconcilers, a job runner and A's own replication
// endpoint (the control handler attaches to it); site B is a real receiver that A replicates to.
// The test plays the recovery site: it asks A over HTTPS to hand over, seed and fail back, and
// replicates B's changed volumes back to A with the real sender. Real clock: waits on
// conditions with a deadline.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>

#include "engines/replication/control.h"
#include "engines/replication/receiver.h"
#include "engines/replication/sender.h"
#include "engines/replication/store.h"
#include "metrics/metrics.h"
#include "reconcilers/job_runner.h"
#include "reconcilers/lifeboat_manager.h"
#include "reconcilers/replication/register.h"
#include "reconcilers/replication/shared.h"
#include "tests/unit/controller/api_server_fixture.h"
#include "tests/unit/replication/tree_util.h"

namespace lifeboat::reconcilers::replication {
namespace {

namespace fs = std::filesystem;
namespace rep = lifeboat::replication;
using controller::testing::ApiServerFixture;
using controller::testing::WaitFor;

constexpr char kNs[] = "team-f";
constexpr char kTokenA[] = "site-a-token";
constexpr char kTokenB[] = "site-b-token";
constexpr char kSiteB[] = "site-b";  // B's site id (its LocalSiteId)
constexpr uint64_t kImageSize = 16 << 20;
constexpr uint64_t kChanged = 1 << 20;
const controller::ResourceRef kSecretsRef{"", "v1", "secrets", "Secret", true};
constexpr auto kDeadline = std::chrono::seconds(60);

void Write(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

class ProtectedSiteTest : public ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    client_ = NewClient();
    ASSERT_NE(client_, nullptr);
    CreateNamespace(*client_, kNs);
    volumes_ = dir_.path() / "site-a-volumes";
    std::mt19937_64 rng(5);
    Write(volumes_ / "disk", rep::testing::RandomBytes(rng, kImageSize));
    Write(volumes_ / "app" / "config" / "app.conf", "listen = 8080\n");
    Write(volumes_ / "app" / "data" / "blob.bin", rep::testing::RandomBytes(rng, 300 << 10));

    rep::ReceiverOptions b;
    b.root = dir_.path() / "site-b" / "replicas";
    b.token = kTokenB;
    auto started_b = rep::StartReceiver(b);
    ASSERT_TRUE(started_b.ok()) << started_b.status();
    receiver_b_ = std::move(*started_b);
    rep::ReceiverOptions a;
    a.root = dir_.path() / "site-a" / "replicas";
    a.token = kTokenA;
    auto started_a = rep::StartReceiver(a);
    ASSERT_TRUE(started_a.ok()) << started_a.status();
    receiver_a_ = std::move(*started_a);
    site_a_.endpoint = receiver_a_->endpoint();
    site_a_.ca_pem = receiver_a_->ca_pem();
    site_a_.token = kTokenA;

    CreateSecret("site-b-token", "token", kTokenB);
    CreateSecret("site-b-ca", "ca.crt", receiver_b_->ca_pem());
    Json site = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                 {"kind", "Site"},
                 {"metadata", {{"name", "site-b"}, {"namespace", kNs}}},
                 {"spec",
                  {{"endpoint", receiver_b_->endpoint()},
                   {"tls", {{"caSecretRef", {{"name", "site-b-ca"}, {"key", "ca.crt"}}}}},
                   {"credentialsSecretRef", {{"name", "site-b-token"}, {"key", "token"}}}}}};
    ASSERT_TRUE(client_->Create(kSites, site).ok());

    env_.data_dir = dir_.path() / "site-a" / "engines";
    env_.metrics = &metrics_;
    env_.jobs = &jobs_;
    env_.receiver = receiver_a_.get();
    env_.enqueue = [this](const std::string& controller, const controller::ObjectKey& key) {
      if (manager_ != nullptr) {
        if (controller::WorkQueue* q = manager_->QueueFor(controller)) {
          q->Add(key.ToString());
        }
      }
    };
    StartManager();
    site_a_id_ = LocalSiteId(env_);
  }

  void StartManager() {
    controller::ManagerOptions options;
    options.workers = 2;
    auto m = NewLifeboatManager(*client_, options, ReplicationReconcilerFactories(env_));
    ASSERT_TRUE(m.ok()) << m.status();
    manager_ = std::move(*m);
    ASSERT_TRUE(manager_->Start().ok());
  }

  void RestartManager() {
    manager_->Stop();
    manager_.reset();
    StartManager();
  }

  void TearDown() override {
    if (manager_) {
      manager_->Stop();
    }
    jobs_.Stop();
    manager_.reset();
    receiver_a_.reset();
    receiver_b_.reset();
    ApiServerFixture::TearDown();
  }

  void CreateSecret(const std::string& name, const std::string& key, const std::string& value) {
    Json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", name}, {"namespace", kNs}}},
                   {"stringData", {{key, value}}}};
    ASSERT_TRUE(client_->Create(kSecretsRef, secret).ok());
  }

  void CreatePolicy(const std::string& name) {
    Json policy = {
        {"apiVersion", "lifeboat.dev/v1alpha1"},
        {"kind", "ReplicationPolicy"},
        {"metadata", {{"name", name}, {"namespace", kNs}}},
        {"spec",
         {{"volumes", Json::array({{{"name", "disk"}, {"path", (volumes_ / "disk").string()}},
                                   {{"name", "app"}, {"path", (volumes_ / "app").string()}}})},
          {"targetSiteRef", {{"name", "site-b"}}},
          {"rpo", "4s"}}}};
    auto made = client_->Create(kReplicationPolicies, policy);
    ASSERT_TRUE(made.ok()) << made.status();
  }

  Json Policy() {
    auto got = client_->Get(kReplicationPolicies, {kNs, "app"});
    return got.ok() ? *got : Json::object();
  }

  std::string Phase() { return Policy().value("/status/phase"_json_pointer, ""); }

  std::string Condition(const Json& object, const std::string& type) {
    for (const Json& c : object.value("/status/conditions"_json_pointer, Json::array())) {
      if (c.value("type", "") == type) {
        return c.value("status", "") + "/" + c.value("reason", "");
      }
    }
    return "";
  }

  std::string Annotation(const char* name) {
    return Policy().value("/metadata/annotations"_json_pointer, Json::object()).value(name, "");
  }

  // B's replica of A's policy.
  rep::PointRef AtB() { return {receiver_b_->repos().root(), site_a_id_, kNs, "app"}; }

  StatusOr<rep::ControlState> Await(const std::function<StatusOr<rep::ControlState>()>& call) {
    return rep::AwaitControl(call, std::chrono::milliseconds(20), kDeadline, nullptr);
  }

  std::unique_ptr<controller::KubeClient> client_;
  fs::path volumes_;
  std::unique_ptr<rep::Receiver> receiver_a_;
  std::unique_ptr<rep::Receiver> receiver_b_;
  rep::TargetEndpoint site_a_;
  std::string site_a_id_;
  metrics::Metrics metrics_;
  JobRunner jobs_{3};
  EngineEnv env_;
  std::unique_ptr<controller::Manager> manager_;
};

TEST_F(ProtectedSiteTest, WrongStateAndUnknownPolicyAreRefusedWithWhatToDo) {
  CreatePolicy("app");
  auto unknown = rep::RequestHandover(site_a_, {kNs, "nope", kSiteB, true});
  EXPECT_EQ(unknown.status().code(), StatusCode::kNotFound) << unknown.status();
  EXPECT_NE(unknown.status().message().find(std::string(kNs) + "/nope"), std::string::npos);
  auto seed = rep::RequestSeed(site_a_, {kNs, "app", kSiteB});
  EXPECT_EQ(seed.status().code(), StatusCode::kFailedPrecondition) << seed.status();
  EXPECT_NE(seed.status().message().find("request a handover"), std::string::npos) << seed.status();
  auto failback = rep::RequestFailback(site_a_, {kNs, "app", kSiteB, "0000000000001-abcd"});
  EXPECT_EQ(failback.status().code(), StatusCode::kFailedPrecondition) << failback.status();
  ASSERT_TRUE(WaitFor([&] { return Phase() == "Protected"; }, kDeadline)) << Policy().dump();
  // A final sync that cannot reach B fails the handover and lifts the fence again.
  receiver_b_->Stop();
  auto unreachable = Await([&] {
    return rep::RequestHandover(site_a_, {kNs, "app", kSiteB, true});
  });
  ASSERT_TRUE(unreachable.ok()) << unreachable.status();
  EXPECT_EQ(unreachable->phase, rep::ControlPhase::kFailed);
  EXPECT_NE(unreachable->message.find("final sync"), std::string::npos) << unreachable->message;
  EXPECT_NE(unreachable->message.find("repeat the handover"), std::string::npos)
      << unreachable->message;
  EXPECT_EQ(Annotation(kFailedOverToAnnotation), "");
  ASSERT_TRUE(WaitFor([&] { return Phase() != "FailedOver"; }, kDeadline)) << Policy().dump();

  // Handed over to B (without a sync: B is gone): another site cannot take it, and failback
  // needs a point B sent back.
  auto handover = Await([&] { return rep::RequestHandover(site_a_, {kNs, "app", kSiteB, false}); });
  ASSERT_TRUE(handover.ok()) << handover.status();
  EXPECT_EQ(handover->phase, rep::ControlPhase::kSucceeded) << handover->message;
  auto other = rep::RequestHandover(site_a_, {kNs, "app", "site-c", true});
  EXPECT_EQ(other.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(other.status().message().find("fail back"), std::string::npos) << other.status();
  auto no_replica = rep::RequestFailback(site_a_, {kNs, "app", kSiteB, "0000000000001-abcd"});
  EXPECT_EQ(no_replica.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(no_replica.status().message().find("replicate back first"), std::string::npos)
      << no_replica.status();
}

TEST_F(ProtectedSiteTest, HandoverSeedReverseReplicationAndFailback) {
  CreatePolicy("app");
  ASSERT_TRUE(WaitFor([&] { return Phase() == "Protected"; }, kDeadline)) << Policy().dump();

  // Planned failover: the final sync carries a change made just before.
  Write(volumes_ / "app" / "config" / "app.conf", "listen = 9090\n");
  auto handover = Await([&] { return rep::RequestHandover(site_a_, {kNs, "app", kSiteB, true}); });
  ASSERT_TRUE(handover.ok()) << handover.status();
  ASSERT_EQ(handover->phase, rep::ControlPhase::kSucceeded) << handover->message;
  EXPECT_EQ(handover->site_id, site_a_id_);
  auto at_b = rep::ListPoints(AtB());
  ASSERT_TRUE(at_b.ok()) << at_b.status();
  ASSERT_FALSE(at_b->empty());
  EXPECT_EQ(handover->point, at_b->back().id);
  EXPECT_EQ(handover->point_time_ms, at_b->back().time_ms);
  fs::path b_volumes = dir_.path() / "site-b" / "volumes";
  auto made = rep::Materialize(AtB(), handover->point, b_volumes);
  ASSERT_TRUE(made.ok()) << made.status();
  EXPECT_EQ(rep::testing::CompareTrees(volumes_, b_volumes), "");

  // FailedOver: Ready stays True, no cycle runs, no RPO series to alert on.
  ASSERT_TRUE(WaitFor(
      [&] {
        Json p = Policy();
        return p.value("/status/phase"_json_pointer, "") == "FailedOver" &&
               Condition(p, "Ready") == "True/FailedOver" &&
               Condition(p, "Synchronizing") == "False/FailedOver";
      },
      kDeadline))
      << Policy().dump();
  Json failed_over = Policy();
  EXPECT_NE(failed_over["status"].value("message", "").find(kSiteB), std::string::npos);
  EXPECT_FALSE(failed_over["status"].contains("currentRPOSeconds"));
  EXPECT_EQ(Annotation(kFailedOverToAnnotation), kSiteB);
  EXPECT_EQ(Annotation(kHandoverPointAnnotation), handover->point);
  EXPECT_EQ(failed_over["status"].value("lastReplicatedPoint", ""), handover->point);
  std::string exposition = metrics_.Exposition();
  for (const char* series : {"lifeboat_rpo_target_seconds{", "lifeboat_replication_lag_seconds{"}) {
    size_t at = exposition.find(series);
    while (at != std::string::npos) {
      std::string line = exposition.substr(at, exposition.find('\n', at) - at);
      EXPECT_EQ(line.find("name=\"app\""), std::string::npos) << line;
      at = exposition.find(series, at + 1);
    }
  }
  Write(volumes_ / "app" / "config" / "late.conf", "written after the handover\n");
  // Bounded check that no cycle starts (a cycle is due every 2 s when replicating).
  EXPECT_FALSE(WaitFor([&] { return rep::ListPoints(AtB())->size() > at_b->size(); },
                       std::chrono::milliseconds(3000)));
  fs::remove(volumes_ / "app" / "config" / "late.conf");
  auto again = rep::RequestHandover(site_a_, {kNs, "app", kSiteB, true});
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(again->phase, rep::ControlPhase::kSucceeded);
  EXPECT_EQ(again->point, handover->point);

  // A restart of the controllers keeps the handover (the annotation) and its answer.
  RestartManager();
  auto after_restart = rep::RequestHandover(site_a_, {kNs, "app", kSiteB, true});
  ASSERT_TRUE(after_restart.ok()) << after_restart.status();
  EXPECT_EQ(after_restart->phase, rep::ControlPhase::kSucceeded);
  EXPECT_EQ(after_restart->point, handover->point);
  EXPECT_EQ(after_restart->point_time_ms, handover->point_time_ms);
  EXPECT_FALSE(WaitFor([&] { return rep::ListPoints(AtB())->size() > at_b->size(); },
                       std::chrono::milliseconds(2500)));
  EXPECT_EQ(Phase(), "FailedOver");

  // Reprotect: A seeds B's reverse replica locally, then B replicates back only what changed.
  auto seed = Await([&] { return rep::RequestSeed(site_a_, {kNs, "app", kSiteB}); });
  ASSERT_TRUE(seed.ok()) << seed.status();
  ASSERT_EQ(seed->phase, rep::ControlPhase::kSucceeded) << seed->message;
  rep::PointRef reverse{receiver_a_->repos().root(), kSiteB, kNs, "app"};
  auto seeded = rep::ListPoints(reverse);
  ASSERT_TRUE(seeded.ok()) << seeded.status();
  ASSERT_EQ(seeded->size(), 1u);
  EXPECT_EQ(seeded->back().id, seed->point);

  std::mt19937_64 rng(9);
  rep::testing::WriteAt(b_volumes / "disk", 4 << 20, rep::testing::RandomBytes(rng, kChanged));
  Write(b_volumes / "app" / "data" / "written-at-b.txt", "while failed over\n");
  rep::ReplicateOptions back;
  back.site = kSiteB;
  back.ns = kNs;
  back.policy = "app";
  back.state_dir = dir_.path() / "site-b" / "reverse-state";
  auto sent =
      rep::Replicate({{"disk", b_volumes / "disk"}, {"app", b_volumes / "app"}}, site_a_, back);
  ASSERT_TRUE(sent.ok()) << sent.status();
  EXPECT_GE(sent->data_bytes_sent, kChanged);
  EXPECT_LT(sent->data_bytes_sent, 2 * kChanged) << "the seed should have spared the rest";
  std::cout << "reverse replication after seed: data_bytes_sent=" << sent->data_bytes_sent
            << " bytes_sent=" << sent->bytes_sent << " of " << sent->bytes_scanned
            << " bytes scanned\n";

  // Failback: A's volumes become the reverse point, the handover lifts, replication resumes.
  const int64_t bytes_before = Policy().value("/status/bytesSent"_json_pointer, int64_t{0});
  const size_t points_before = rep::ListPoints(AtB())->size();
  auto failback = Await([&] {
    return rep::RequestFailback(site_a_, {kNs, "app", kSiteB, sent->point.id});
  });
  ASSERT_TRUE(failback.ok()) << failback.status();
  ASSERT_EQ(failback->phase, rep::ControlPhase::kSucceeded) << failback->message;
  EXPECT_EQ(failback->point, sent->point.id);
  EXPECT_EQ(failback->point_time_ms, sent->point.time_ms);
  EXPECT_EQ(rep::testing::CompareTrees(b_volumes, volumes_), "");
  auto repeated = rep::RequestFailback(site_a_, {kNs, "app", kSiteB, sent->point.id});
  ASSERT_TRUE(repeated.ok()) << repeated.status();
  EXPECT_EQ(repeated->phase, rep::ControlPhase::kSucceeded);
  for (const auto& entry : fs::directory_iterator(volumes_)) {
    EXPECT_TRUE(entry.path().filename() == "disk" || entry.path().filename() == "app")
        << entry.path();
  }
  EXPECT_FALSE(fs::exists(receiver_a_->repos().root() / kSiteB / kNs / "app"));
  EXPECT_EQ(Annotation(kFailedOverToAnnotation), "");
  EXPECT_EQ(Annotation(kHandoverPointAnnotation), "");
  ASSERT_TRUE(WaitFor(
      [&] {
        Json p = Policy();
        auto now_at_b = rep::ListPoints(AtB());
        return p.value("/status/phase"_json_pointer, "") == "Protected" && now_at_b.ok() &&
               now_at_b->size() > points_before &&
               p.value("/status/lastReplicatedPoint"_json_pointer, "") == now_at_b->back().id;
      },
      kDeadline))
      << Policy().dump();
  const int64_t resumed =
      Policy().value("/status/bytesSent"_json_pointer, int64_t{0}) - bytes_before;
  EXPECT_LT(resumed, static_cast<int64_t>(3 * kChanged)) << "resumed replication is differential";
  std::cout << "first cycle after failback: bytes_sent=" << resumed << "\n";
  auto latest = rep::ListPoints(AtB());
  ASSERT_TRUE(latest.ok());
  fs::path check = dir_.path() / "site-b" / "after-failback";
  ASSERT_TRUE(rep::Materialize(AtB(), latest->back().id, check).ok());
  EXPECT_EQ(rep::testing::CompareTrees(b_volumes, check), "");
  EXPECT_EQ(Condition(Policy(), "Ready"), "True/Protected");
}

}  // namespace
}  // namespace lifeboat::reconcilers::replication
