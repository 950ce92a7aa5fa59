// Site and ReplicationPolicy against the real embedded API server (HTTPS on 127.0.0.1), the
// controller manager with the replication reconcilers, a job runner, real volumes in a temp dir
// and a real replication receiver on 127.0.0.1:0 as the target site. The clock is real: the
// test waits for conditions with a deadline.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>

#include "engines/replication/receiver.h"
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
using controller::testing::ApiServerFixture;
using controller::testing::WaitFor;

constexpr char kNs[] = "team-r";
constexpr char kToken[] = "site-b-token";
const controller::ResourceRef kSecretsRef{"", "v1", "secrets", "Secret", true};
constexpr auto kDeadline = std::chrono::seconds(30);

void Write(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

class ReplicationReconcilersTest : public ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    client_ = NewClient();
    ASSERT_NE(client_, nullptr);
    CreateNamespace(*client_, kNs);
    volume_ = dir_.path() / "volumes" / "app";
    Write(volume_ / "config" / "app.conf", "listen = 8080\n");
    std::mt19937_64 rng(3);
    Write(volume_ / "data" / "blob.bin",
          lifeboat::replication::testing::RandomBytes(rng, 200 << 10));
    StartTarget(0);
    CreateSecret("site-b-token", "token", kToken);
    CreateSecret("site-b-ca", "ca.crt", receiver_->ca_pem());
    StartManager();
  }

  void TearDown() override {
    if (manager_) {
      manager_->Stop();
    }
    jobs_.Stop();
    manager_.reset();
    receiver_.reset();
    ApiServerFixture::TearDown();
  }

  void StartTarget(int port) {
    lifeboat::replication::ReceiverOptions o;
    o.root = dir_.path() / "site-b";
    o.port = port;
    o.token = kToken;
    auto r = lifeboat::replication::StartReceiver(o);
    ASSERT_TRUE(r.ok()) << r.status();
    receiver_ = std::move(*r);
  }

  void StartManager() {
    env_.data_dir = dir_.path() / "site-a";
    env_.metrics = &metrics_;
    env_.jobs = &jobs_;
    env_.enqueue = [this](const std::string& controller, const controller::ObjectKey& key) {
      if (manager_ != nullptr) {
        if (controller::WorkQueue* q = manager_->QueueFor(controller)) {
          q->Add(key.ToString());
        }
      }
    };
    controller::ManagerOptions options;
    options.workers = 2;
    auto m = NewLifeboatManager(*client_, options, ReplicationReconcilerFactories(env_));
    ASSERT_TRUE(m.ok()) << m.status();
    manager_ = std::move(*m);
    ASSERT_TRUE(manager_->Start().ok());
  }

  void CreateSecret(const std::string& name, const std::string& key, const std::string& value) {
    Json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", name}, {"namespace", kNs}}},
                   {"stringData", {{key, value}}}};
    auto made = client_->Create(kSecretsRef, secret);
    ASSERT_TRUE(made.ok()) << made.status();
  }

  void CreateSite(const std::string& name, const std::string& token_secret) {
    Json site = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                 {"kind", "Site"},
                 {"metadata", {{"name", name}, {"namespace", kNs}}},
                 {"spec",
                  {{"endpoint", receiver_->endpoint()},
                   {"tls", {{"caSecretRef", {{"name", "site-b-ca"}, {"key", "ca.crt"}}}}},
                   {"credentialsSecretRef", {{"name", token_secret}, {"key", "token"}}}}}};
    auto made = client_->Create(kSites, site);
    ASSERT_TRUE(made.ok()) << made.status();
  }

  void CreatePolicy(const std::string& name, const std::string& site, const std::string& rpo,
                    Json extra = Json::object()) {
    Json policy = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                   {"kind", "ReplicationPolicy"},
                   {"metadata", {{"name", name}, {"namespace", kNs}}},
                   {"spec",
                    {{"volumes", Json::array({{{"name", "app"}, {"path", volume_.string()}}})},
                     {"targetSiteRef", {{"name", site}}},
                     {"rpo", rpo}}}};
    policy["spec"].update(extra);
    auto made = client_->Create(kReplicationPolicies, policy);
    ASSERT_TRUE(made.ok()) << made.status();
  }

  Json Get(const controller::ResourceRef& r, const std::string& name) {
    auto got = client_->Get(r, {kNs, name});
    return got.ok() ? *got : Json::object();
  }

  std::string ConditionReason(const Json& object, const std::string& type) {
    for (const Json& c : object.value("/status/conditions"_json_pointer, Json::array())) {
      if (c.value("type", "") == type) {
        return c.value("status", "") + "/" + c.value("reason", "");
      }
    }
    return "";
  }

  std::unique_ptr<controller::KubeClient> client_;
  fs::path volume_;
  std::unique_ptr<lifeboat::replication::Receiver> receiver_;
  metrics::Metrics metrics_;
  JobRunner jobs_{2};
  EngineEnv env_;
  std::unique_ptr<controller::Manager> manager_;
};

TEST_F(ReplicationReconcilersTest, SiteReportsReachabilityAndRejectedCredentials) {
  CreateSite("site-b", "site-b-token");
  CreateSecret("wrong-token", "token", "not-the-token");
  CreateSite("site-b-wrong", "wrong-token");
  ASSERT_TRUE(
      WaitFor([&] { return Get(kSites, "site-b").value("/status/reachable"_json_pointer, false); },
              kDeadline))
      << Get(kSites, "site-b").dump();
  Json site = Get(kSites, "site-b");
  EXPECT_EQ(ConditionReason(site, "Ready"), "True/Reachable");
  EXPECT_EQ(site["status"].value("version", ""), "lifeboat-replication/1");
  EXPECT_TRUE(site["status"].contains("latencyMilliseconds"));
  EXPECT_TRUE(site["status"].contains("lastContactTime"));
  ASSERT_TRUE(WaitFor(
      [&] {
        return ConditionReason(Get(kSites, "site-b-wrong"), "Ready") == "False/Unauthenticated";
      },
      kDeadline))
      << Get(kSites, "site-b-wrong").dump();
  EXPECT_NE(Get(kSites, "site-b-wrong")["status"].value("message", "").find(receiver_->endpoint()),
            std::string::npos);
}

TEST_F(ReplicationReconcilersTest, PolicyReplicatesDegradesWhileTargetIsDownAndRecovers) {
  CreateSite("site-b", "site-b-token");
  CreatePolicy("app", "site-b", "4s");
  ASSERT_TRUE(WaitFor(
      [&] {
        Json p = Get(kReplicationPolicies, "app");
        return p.value("/status/phase"_json_pointer, "") == "Protected";
      },
      kDeadline))
      << Get(kReplicationPolicies, "app").dump();
  Json p = Get(kReplicationPolicies, "app");
  EXPECT_EQ(ConditionReason(p, "Ready"), "True/Protected");
  EXPECT_GT(p["status"].value("bytesSent", int64_t{0}), 200 << 10);
  EXPECT_EQ(p["status"]["initialProgress"].value("percent", 0.0), 100.0);
  EXPECT_GE(p["status"]["recoveryPoints"].value("count", 0), 1);
  std::string exposition = metrics_.Exposition();
  EXPECT_NE(exposition.find("lifeboat_rpo_target_seconds{kind=\"ReplicationPolicy\""),
            std::string::npos);
  EXPECT_NE(exposition.find("lifeboat_replication_lag_seconds"), std::string::npos);

  // A change reaches the target in a later cycle; the latest point materialises byte-identical.
  Write(volume_ / "config" / "app.conf", "listen = 9090\n");
  std::string first = p["status"].value("lastReplicatedPoint", "");
  ASSERT_TRUE(WaitFor(
      [&] {
        Json q = Get(kReplicationPolicies, "app");
        return q.value("/status/lastReplicatedPoint"_json_pointer, "") != first &&
               q.value("/status/recoveryPoints/count"_json_pointer, 0) >= 2;
      },
      kDeadline))
      << Get(kReplicationPolicies, "app").dump();
  lifeboat::replication::PointRef ref{dir_.path() / "site-b", LocalSiteId(env_), kNs, "app"};
  auto points = lifeboat::replication::ListPoints(ref);
  ASSERT_TRUE(points.ok()) << points.status();
  fs::path out = dir_.path() / "materialized";
  auto m = lifeboat::replication::Materialize(ref, points->back().id, out);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(lifeboat::replication::testing::CompareTrees(volume_.parent_path(), out), "");

  // The target goes away: Degraded with the reason; back to Protected once it returns.
  int port = receiver_->port();
  receiver_.reset();
  ASSERT_TRUE(WaitFor(
      [&] {
        Json q = Get(kReplicationPolicies, "app");
        return q.value("/status/phase"_json_pointer, "") == "Degraded";
      },
      kDeadline))
      << Get(kReplicationPolicies, "app").dump();
  EXPECT_EQ(ConditionReason(Get(kReplicationPolicies, "app"), "Ready"), "False/Unreachable");
  StartTarget(port);
  ASSERT_TRUE(WaitFor(
      [&] {
        Json q = Get(kReplicationPolicies, "app");
        return q.value("/status/phase"_json_pointer, "") == "Protected";
      },
      kDeadline))
      << Get(kReplicationPolicies, "app").dump();
}

TEST_F(ReplicationReconcilersTest, AppConsistentPointsRunBetweenHooksAndAFailingHookDegrades) {
  CreateSite("site-b", "site-b-token");
  fs::path marker = dir_.path() / "hooks.log";
  auto hook = [&](const std::string& text) {
    return Json{
        {"exec",
         {{"command", Json::array({"sh", "-c", "echo " + text + " >> " + marker.string()})}}}};
  };
  CreatePolicy("app", "site-b", "4s",
               {{"appConsistentFrequency", "1h"},
                {"hooks", {{"preHook", hook("pre")}, {"postHook", hook("post")}}}});
  ASSERT_TRUE(WaitFor(
      [&] {
        return Get(kReplicationPolicies, "app")
                   .value("/status/recoveryPoints/latestAppConsistent"_json_pointer, "") != "";
      },
      kDeadline))
      << Get(kReplicationPolicies, "app").dump();
  std::ifstream in(marker);
  std::string log((std::istreambuf_iterator<char>(in)), {});
  EXPECT_EQ(log.substr(0, 9), "pre\npost\n");

  CreatePolicy("broken", "site-b", "4s",
               {{"appConsistentFrequency", "1h"},
                {"hooks", {{"preHook", {{"exec", {{"command", Json::array({"false"})}}}}}}}});
  ASSERT_TRUE(WaitFor(
      [&] {
        Json b = Get(kReplicationPolicies, "broken");
        return ConditionReason(b, "Ready") == "False/HookFailed" &&
               b.value("/status/phase"_json_pointer, "") == "Degraded";
      },
      kDeadline))
      << Get(kReplicationPolicies, "broken").dump();
  // The hook is not retried before appConsistentFrequency: crash-consistent cycles protect the
  // data meanwhile and the policy returns to Protected.
  ASSERT_TRUE(WaitFor(
      [&] {
        return Get(kReplicationPolicies, "broken").value("/status/phase"_json_pointer, "") ==
               "Protected";
      },
      kDeadline))
      << Get(kReplicationPolicies, "broken").dump();
  Json b = Get(kReplicationPolicies, "broken");
  EXPECT_FALSE(b["status"]["recoveryPoints"].contains("latestAppConsistent"));
}

}  // namespace
}  // namespace lifeboat::reconcilers::replication
