// The RecoveryPlan and Failover reconcilers in process, for what the two-process e2e test does
// not reach: scale actions over real HTTP (the embedded API server serves Deployment and
// StatefulSet CRDs; the test plays their controller), the plan's Ready reasons, the order in
// which Failover types may run, the preflight of recovery points, manual approvals timing out,
// exec actions (output, exit code, environment, continueOnError) and deleting a Failover.
// Real parts: the embedded API server on 127.0.0.1 port 0, the controller manager, a real
// replication receiver holding replicas sent by the real sender. Waits on conditions with
// deadlines.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/clock.h"
#include "engines/replication/receiver.h"
#include "engines/replication/sender.h"
#include "metrics/metrics.h"
#include "reconcilers/job_runner.h"
#include "reconcilers/lifeboat_manager.h"
#include "reconcilers/recovery/common.h"
#include "reconcilers/recovery/register.h"
#include "tests/unit/controller/api_server_fixture.h"

namespace lifeboat::reconcilers::recovery {
namespace {

namespace fs = std::filesystem;
namespace rep = lifeboat::replication;
using controller::testing::ApiServerFixture;
using controller::testing::WaitFor;

constexpr char kNs[] = "dr";
constexpr char kToken[] = "replica-token";
constexpr auto kDeadline = std::chrono::seconds(20);

// When the replicated points were captured: 2026-01-01T00:00:00Z + i hours.
Clock::TimePoint PointTime(int i) {
  return Clock::TimePoint(std::chrono::seconds(1'767'225'600) + std::chrono::hours(i));
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

Json Exec(const std::string& name, const std::string& script) {
  return {{"name", name}, {"exec", {{"command", Json::array({"sh", "-c", script})}}}};
}

class RecoveryTest : public ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    client_ = NewClient();
    ASSERT_NE(client_, nullptr);
    CreateNamespace(*client_, kNs);
    rep::ReceiverOptions options;
    options.root = dir_.path() / "replicas";
    options.token = kToken;
    auto started = rep::StartReceiver(options);
    ASSERT_TRUE(started.ok()) << started.status();
    receiver_ = std::move(*started);
    target_.endpoint = receiver_->endpoint();
    target_.ca_pem = receiver_->ca_pem();
    target_.token = kToken;
    env_.data_dir = dir_.path() / "engines";
    env_.metrics = &metrics_;
    env_.jobs = &jobs_;
    env_.receiver = receiver_.get();
    env_.enqueue = [this](const std::string& controller, const controller::ObjectKey& key) {
      std::lock_guard<std::mutex> lock(manager_mu_);
      if (manager_ != nullptr) {
        if (controller::WorkQueue* q = manager_->QueueFor(controller)) {
          q->Add(key.ToString());
        }
      }
    };
  }

  void StartManager() {
    controller::ManagerOptions options;
    options.workers = 2;
    auto m = NewLifeboatManager(*client_, options, RecoveryReconcilerFactories(env_));
    ASSERT_TRUE(m.ok()) << m.status();
    {
      std::lock_guard<std::mutex> lock(manager_mu_);
      manager_ = std::move(*m);
    }
    ASSERT_TRUE(manager_->Start().ok());
  }

  void TearDown() override {
    if (manager_) {
      manager_->Stop();
    }
    jobs_.Stop();
    {
      std::lock_guard<std::mutex> lock(manager_mu_);
      manager_.reset();
    }
    receiver_.reset();
    // The client's keep-alive connections close before the server does: cpprestsdk's listener
    // can crash closing connections whose client is still there (seen ~1 in 50 runs).
    client_.reset();
    ApiServerFixture::TearDown();
  }

  // Site `site` replicates ReplicationPolicy kNs/`policy` here once, the point captured at
  // `at`; returns the point's id.
  std::string ReplicateFrom(const std::string& site, const std::string& policy, Clock::TimePoint at,
                            rep::Consistency consistency = rep::Consistency::kCrash) {
    fs::path volume = dir_.path() / "sources" / site / policy / "data";
    fs::create_directories(volume);
    std::ofstream(volume / "file.txt", std::ios::trunc)
        << site << " " << policy << " " << FormatRfc3339(at) << "\n";
    FakeClock clock(at);
    rep::ReplicateOptions options;
    options.site = site;
    options.ns = kNs;
    options.policy = policy;
    options.state_dir = dir_.path() / "sender-state" / site / policy;
    options.consistency = consistency;
    options.clock = &clock;
    auto result = rep::Replicate({{"data", volume}}, target_, options);
    EXPECT_TRUE(result.ok()) << result.status();
    return result.ok() ? result->point.id : "";
  }

  void CreatePlan(const std::string& name, Json groups, Json extra = Json::object()) {
    Json spec = {{"groups", std::move(groups)}};
    spec.update(extra);
    Json plan = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                 {"kind", "RecoveryPlan"},
                 {"metadata", {{"name", name}, {"namespace", kNs}}},
                 {"spec", spec}};
    auto made = client_->Create(kRecoveryPlans, plan);
    ASSERT_TRUE(made.ok()) << made.status();
  }

  void CreateFailover(const std::string& name, const std::string& plan, const std::string& type,
                      Json extra = Json::object()) {
    Json spec = {{"planRef", {{"name", plan}}}, {"type", type}};
    spec.update(extra);
    Json failover = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                     {"kind", "Failover"},
                     {"metadata", {{"name", name}, {"namespace", kNs}}},
                     {"spec", spec}};
    auto made = client_->Create(kFailovers, failover);
    ASSERT_TRUE(made.ok()) << made.status();
  }

  Json Get(const controller::ResourceRef& ref, const std::string& name) {
    auto got = client_->Get(ref, {kNs, name});
    return got.ok() ? *got : Json::object();
  }

  static Json Ready(const Json& object) {
    for (const Json& c : object.value("/status/conditions"_json_pointer, Json::array())) {
      if (c.value("type", "") == "Ready") {
        return c;
      }
    }
    return Json::object();
  }

  // Waits until Failover `name` succeeded or failed; returns it.
  Json Finished(const std::string& name) {
    Json fo;
    bool done = WaitFor(
        [&] {
          fo = Get(kFailovers, name);
          std::string phase = fo.value("/status/phase"_json_pointer, "");
          return phase == "Succeeded" || phase == "Failed";
        },
        kDeadline);
    EXPECT_TRUE(done) << "Failover " << name << " did not finish: " << fo.dump();
    return fo;
  }

  // Waits until the plan's Ready condition has `reason`; returns the plan.
  Json PlanWithReason(const std::string& name, const std::string& reason) {
    Json plan;
    bool done = WaitFor(
        [&] {
          plan = Get(kRecoveryPlans, name);
          return Ready(plan).value("reason", "") == reason;
        },
        kDeadline);
    EXPECT_TRUE(done) << "RecoveryPlan " << name << " never had reason " << reason << ": "
                      << plan.dump();
    return plan;
  }

  static Json Step(const Json& fo, const std::string& action) {
    for (const Json& s : fo.value("/status/steps"_json_pointer, Json::array())) {
      if (s.value("action", "") == action) {
        return s;
      }
    }
    return Json::object();
  }

  std::unique_ptr<controller::KubeClient> client_;
  std::unique_ptr<rep::Receiver> receiver_;
  rep::TargetEndpoint target_;
  metrics::Metrics metrics_;
  JobRunner jobs_{2};
  EngineEnv env_;
  std::mutex manager_mu_;
  std::unique_ptr<controller::Manager> manager_;
};

TEST_F(RecoveryTest, ScaleActionOnMissingWorkloadFailsNamingIt) {
  ReplicateFrom("prod", "data", PointTime(1));
  StartManager();
  Json ghost = {{"name", "scale-ghost"},
                {"scale", {{"kind", "Deployment"}, {"name", "ghost"}, {"replicas", 1}}},
                {"timeout", "2s"}};
  Json after = Exec("after", "echo must not run");
  CreatePlan("missing", Json::array({{{"name", "app"},
                                      {"replicationPolicies", {"data"}},
                                      {"preActions", Json::array({ghost, after})}}}));
  CreateFailover("missing-1", "missing", "Test");
  Json missing = Finished("missing-1");
  EXPECT_EQ(missing.value("/status/phase"_json_pointer, ""), "Failed") << missing.dump();
  EXPECT_EQ(Ready(missing).value("reason", ""), "ActionFailed") << missing.dump();
  EXPECT_NE(missing.value("/status/message"_json_pointer, "").find("scale Deployment dr/ghost"),
            std::string::npos)
      << missing.dump();
  EXPECT_EQ(Step(missing, "scale-ghost").value("phase", ""), "Failed") << missing.dump();
  EXPECT_TRUE(Step(missing, "after").empty()) << missing.dump();
}

TEST_F(RecoveryTest, PlanReadyReasons) {
  ReplicateFrom("site-x", "a", PointTime(1));
  ReplicateFrom("site-y", "b", PointTime(1));
  ReplicateFrom("site-x", "c", PointTime(1));
  ReplicateFrom("site-y", "c", PointTime(2));
  StartManager();
  CreatePlan("never", Json::array({{{"name", "g"}, {"replicationPolicies", {"a", "nope"}}}}));
  CreatePlan("mixed", Json::array({{{"name", "g1"}, {"replicationPolicies", {"a"}}},
                                   {{"name", "g2"}, {"replicationPolicies", {"b"}}}}));
  CreatePlan("ambiguous", Json::array({{{"name", "g"}, {"replicationPolicies", {"c"}}}}));
  CreatePlan("no-site", Json::array({{{"name", "g"}, {"replicationPolicies", {"a"}}}}),
             {{"protectedSiteRef", {{"name", "production"}}}});
  CreatePlan("good", Json::array({{{"name", "g"}, {"replicationPolicies", {"a"}}}}));

  Json never = PlanWithReason("never", "ReplicaNotFound");
  EXPECT_NE(Ready(never).value("message", "").find("ReplicationPolicy nope in namespace dr"),
            std::string::npos)
      << never.dump();
  Json mixed = PlanWithReason("mixed", "MixedSites");
  EXPECT_NE(Ready(mixed).value("message", "").find("site-x: a; site-y: b"), std::string::npos)
      << mixed.dump();
  Json ambiguous = PlanWithReason("ambiguous", "ReplicaAmbiguous");
  EXPECT_NE(Ready(ambiguous).value("message", "").find("more than one site (site-x, site-y)"),
            std::string::npos)
      << ambiguous.dump();
  Json no_site = PlanWithReason("no-site", "ProtectedSiteNotFound");
  EXPECT_NE(Ready(no_site).value("message", "").find("Site production does not exist"),
            std::string::npos)
      << no_site.dump();
  Json good = PlanWithReason("good", "Ready");
  EXPECT_EQ(Ready(good).value("status", ""), "True");
  EXPECT_NE(Ready(good).value("message", "").find("replicated here from site site-x"),
            std::string::npos)
      << good.dump();
  EXPECT_EQ(good.value("/status/state"_json_pointer, ""), "Protected");
  EXPECT_EQ(good.value("/status/activeSite"_json_pointer, ""), "site-x");
}

TEST_F(RecoveryTest, PlanWithoutReplicationEndpointSaysSo) {
  env_.receiver = nullptr;
  StartManager();
  CreatePlan("plan", Json::array({{{"name", "g"}, {"replicationPolicies", {"a"}}}}));
  Json plan = PlanWithReason("plan", "NoReplicationEndpoint");
  EXPECT_NE(Ready(plan).value("message", "").find("--replication-port"), std::string::npos)
      << plan.dump();
}

TEST_F(RecoveryTest, FailoverOrderAndProtectedSiteAreCheckedFirst) {
  ReplicateFrom("prod", "db", PointTime(1));
  StartManager();
  Json groups = Json::array({{{"name", "g"}, {"replicationPolicies", {"db"}}}});
  CreatePlan("bare", groups);
  CreatePlan("sited", groups, {{"protectedSiteRef", {{"name", "production"}}}});
  PlanWithReason("bare", "Ready");
  PlanWithReason("sited", "ProtectedSiteNotFound");
  struct Case {
    std::string plan, type, reason, says;
  };
  std::vector<Case> cases = {
      {"sited", "Commit", "WrongOrder", "Commit follows a Planned or Unplanned failover"},
      {"sited", "Reprotect", "WrongOrder", "Reprotect follows Commit"},
      {"sited", "Failback", "WrongOrder", "Failback follows Reprotect"},
      {"bare", "Planned", "ProtectedSiteNotSet", "set spec.protectedSiteRef of RecoveryPlan bare"},
      {"bare", "Reprotect", "ProtectedSiteNotSet", "Reprotect needs the protected site"},
      {"bare", "Failback", "ProtectedSiteNotSet", "Failback needs the protected site"},
  };
  for (size_t i = 0; i < cases.size(); ++i) {
    CreateFailover("fo-" + std::to_string(i), cases[i].plan, cases[i].type);
  }
  for (size_t i = 0; i < cases.size(); ++i) {
    SCOPED_TRACE(cases[i].plan + " " + cases[i].type);
    Json fo = Finished("fo-" + std::to_string(i));
    EXPECT_EQ(fo.value("/status/phase"_json_pointer, ""), "Failed") << fo.dump();
    EXPECT_EQ(Ready(fo).value("reason", ""), cases[i].reason) << fo.dump();
    EXPECT_NE(fo.value("/status/message"_json_pointer, "").find(cases[i].says), std::string::npos)
        << fo.dump();
    if (cases[i].reason == "WrongOrder") {
      EXPECT_NE(fo.value("/status/message"_json_pointer, "").find("is Protected"),
                std::string::npos)
          << fo.dump();
    }
    EXPECT_TRUE(fo.value("/status/steps"_json_pointer, Json::array()).empty()) << fo.dump();
  }
  EXPECT_EQ(Get(kRecoveryPlans, "bare").value("/status/state"_json_pointer, ""), "Protected");
  EXPECT_EQ(Get(kRecoveryPlans, "sited").value("/status/state"_json_pointer, ""), "Protected");
}

TEST_F(RecoveryTest, RecoveryPointSelectionAndPreflight) {
  std::vector<std::string> points;
  for (int i = 1; i <= 3; ++i) {
    points.push_back(ReplicateFrom("prod", "db", PointTime(i)));
  }
  StartManager();
  fs::path marker = dir_.path() / "pre-action-ran";
  CreatePlan(
      "plan",
      Json::array({{{"name", "g"},
                    {"replicationPolicies", {"db"}},
                    {"preActions", Json::array({Exec("mark", "touch " + marker.string())})}}}));
  PlanWithReason("plan", "Ready");

  // Before every point: nothing runs, not even the first action.
  CreateFailover("too-early", "plan", "Unplanned",
                 {{"recoveryPoint", FormatRfc3339(PointTime(0))}});
  Json early = Finished("too-early");
  EXPECT_EQ(early.value("/status/phase"_json_pointer, ""), "Failed") << early.dump();
  EXPECT_EQ(Ready(early).value("reason", ""), "NoRecoveryPoint") << early.dump();
  EXPECT_NE(early.value("/status/message"_json_pointer, "")
                .find("no recovery point of db at or "
                      "before"),
            std::string::npos)
      << early.dump();
  EXPECT_TRUE(early.value("/status/steps"_json_pointer, Json::array()).empty()) << early.dump();
  EXPECT_FALSE(fs::exists(marker));
  EXPECT_EQ(Get(kRecoveryPlans, "plan").value("/status/state"_json_pointer, ""), "Protected");

  // Only crash-consistent points.
  CreateFailover("app-consistent", "plan", "Test", {{"recoveryPoint", "LatestAppConsistent"}});
  Json app = Finished("app-consistent");
  EXPECT_EQ(Ready(app).value("reason", ""), "NoRecoveryPoint") << app.dump();
  EXPECT_NE(app.value("/status/message"_json_pointer, "")
                .find("no application-consistent recovery point of db at this site (it holds 3 "
                      "crash-consistent ones)"),
            std::string::npos)
      << app.dump();
  EXPECT_FALSE(fs::exists(marker));

  // A time between the second and the third point picks the second.
  CreateFailover("at-time", "plan", "Test",
                 {{"recoveryPoint", FormatRfc3339(PointTime(2) + std::chrono::minutes(30))}});
  Json at = Finished("at-time");
  ASSERT_EQ(at.value("/status/phase"_json_pointer, ""), "Succeeded") << at.dump();
  EXPECT_EQ(Step(at, "db").value("recoveryPoint", ""), points[1]) << at.dump();
  EXPECT_EQ(at.value("/status/recoveryPointUsed"_json_pointer, ""), FormatRfc3339(PointTime(2)));
  EXPECT_TRUE(fs::exists(marker));
  fs::path copy =
      env_.data_dir / "failover" / kNs / "plan" / "test" / "at-time" / "db" / "data" / "file.txt";
  EXPECT_EQ(ReadFile(copy), "prod db " + FormatRfc3339(PointTime(2)) + "\n");
}

TEST_F(RecoveryTest, LatestAppConsistentSkipsNewerCrashPointsAndBadTimesAreRefused) {
  std::string app = ReplicateFrom("prod", "db", PointTime(1), rep::Consistency::kApplication);
  ReplicateFrom("prod", "db", PointTime(2));
  StartManager();
  CreatePlan("plan", Json::array({{{"name", "g"}, {"replicationPolicies", {"db"}}}}));
  PlanWithReason("plan", "Ready");
  Json bad = {
      {"apiVersion", "lifeboat.dev/v1alpha1"},
      {"kind", "Failover"},
      {"metadata", {{"name", "bad-time"}, {"namespace", kNs}}},
      {"spec",
       {{"planRef", {{"name", "plan"}}}, {"type", "Test"}, {"recoveryPoint", "yesterday"}}}};
  auto refused = client_->Create(kFailovers, bad);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.status().message().find("recoveryPoint"), std::string::npos)
      << refused.status();
  CreateFailover("app", "plan", "Test", {{"recoveryPoint", "LatestAppConsistent"}});
  Json fo = Finished("app");
  ASSERT_EQ(fo.value("/status/phase"_json_pointer, ""), "Succeeded") << fo.dump();
  EXPECT_EQ(Step(fo, "db").value("recoveryPoint", ""), app) << fo.dump();
  EXPECT_EQ(fo.value("/status/recoveryPointUsed"_json_pointer, ""), FormatRfc3339(PointTime(1)));
}

TEST_F(RecoveryTest, ApprovingAWaitingFailoverResumesIt) {
  ReplicateFrom("prod", "db", PointTime(1));
  StartManager();
  fs::path after = dir_.path() / "after-approval";
  Json manual = {{"name", "go"}, {"manual", {{"message", "approve"}}}, {"timeout", "5m"}};
  CreatePlan(
      "plan",
      Json::array({{{"name", "g"},
                    {"replicationPolicies", {"db"}},
                    {"preActions", Json::array({manual})},
                    {"postActions", Json::array({Exec("after", "touch " + after.string())})}}}));
  CreateFailover("drill", "plan", "Test");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Get(kFailovers, "drill").value("/status/phase"_json_pointer, "") ==
               "WaitingForApproval";
      },
      kDeadline));
  EXPECT_FALSE(fs::exists(after));
  EXPECT_TRUE(Step(Get(kFailovers, "drill"), "db").empty());
  auto approved = client_->Patch(kFailovers, {kNs, "drill"}, controller::PatchType::kMerge,
                                 {{"spec", {{"approvals", {"go"}}}}});
  ASSERT_TRUE(approved.ok()) << approved.status();
  Json fo = Finished("drill");
  ASSERT_EQ(fo.value("/status/phase"_json_pointer, ""), "Succeeded") << fo.dump();
  EXPECT_EQ(Step(fo, "go").value("phase", ""), "Succeeded");
  EXPECT_EQ(Step(fo, "go").value("message", ""), "approved");
  EXPECT_EQ(Step(fo, "db").value("phase", ""), "Succeeded");
  EXPECT_TRUE(fs::exists(after));
}

TEST_F(RecoveryTest, ExecActionsAndManualApprovalTimeout) {
  ReplicateFrom("prod", "db", PointTime(1));
  StartManager();
  fs::path env_file = dir_.path() / "action-env.txt";
  Json failing = Exec("flaky", "echo oops; exit 3");
  failing["continueOnError"] = true;
  Json env_action = Exec(
      "record-env", "echo \"$LIFEBOAT_FAILOVER_TYPE|$LIFEBOAT_GROUP|$LIFEBOAT_TARGET_DIR\" > " +
                        env_file.string() + "; echo hello");
  Json manual = {
      {"name", "approve-dns"}, {"manual", {{"message", "check the app"}}}, {"timeout", "2s"}};
  CreatePlan("plan", Json::array({{{"name", "database"},
                                   {"replicationPolicies", {"db"}},
                                   {"preActions", Json::array({failing, env_action})},
                                   {"postActions", Json::array({manual})}}}));
  CreateFailover("drill", "plan", "Test");
  // It waits for the approval first, then gives up.
  ASSERT_TRUE(WaitFor(
      [&] {
        return Get(kFailovers, "drill").value("/status/phase"_json_pointer, "") ==
               "WaitingForApproval";
      },
      kDeadline));
  EXPECT_EQ(Step(Get(kFailovers, "drill"), "approve-dns").value("phase", ""), "WaitingForApproval");
  Json fo = Finished("drill");
  EXPECT_EQ(fo.value("/status/phase"_json_pointer, ""), "Failed") << fo.dump();
  EXPECT_EQ(Ready(fo).value("reason", ""), "ApprovalTimedOut") << fo.dump();
  EXPECT_EQ(fo.value("/status/message"_json_pointer, ""),
            "group database: approve-dns was not approved within 2.00s; create a new Failover to "
            "try again");
  EXPECT_EQ(Step(fo, "approve-dns").value("phase", ""), "Failed");

  Json flaky = Step(fo, "flaky");
  EXPECT_EQ(flaky.value("phase", ""), "Failed") << fo.dump();
  EXPECT_EQ(flaky.value("exitCode", int64_t{0}), 3) << fo.dump();
  EXPECT_NE(flaky.value("output", "").find("oops"), std::string::npos) << fo.dump();
  Json recorded = Step(fo, "record-env");
  EXPECT_EQ(recorded.value("phase", ""), "Succeeded") << fo.dump();
  EXPECT_EQ(recorded.value("exitCode", int64_t{-1}), 0) << fo.dump();
  EXPECT_NE(recorded.value("output", "").find("hello"), std::string::npos) << fo.dump();
  EXPECT_EQ(Step(fo, "db").value("phase", ""), "Succeeded") << fo.dump();
  fs::path test_dir = env_.data_dir / "failover" / kNs / "plan" / "test" / "drill";
  EXPECT_EQ(ReadFile(env_file), "Test|database|" + test_dir.string() + "\n");
}

TEST_F(RecoveryTest, DeletingAWaitingFailoverFreesThePlan) {
  ReplicateFrom("prod", "db", PointTime(1));
  StartManager();
  Json manual = {{"name", "go"}, {"manual", {{"message", "approve"}}}, {"timeout", "5m"}};
  CreatePlan("plan", Json::array({{{"name", "g"},
                                   {"replicationPolicies", {"db"}},
                                   {"preActions", Json::array({manual})}}}));
  CreateFailover("first", "plan", "Test");
  ASSERT_TRUE(WaitFor(
      [&] {
        return Get(kFailovers, "first").value("/status/phase"_json_pointer, "") ==
               "WaitingForApproval";
      },
      kDeadline));
  ASSERT_TRUE(client_->Delete(kFailovers, {kNs, "first"}).ok());
  CreateFailover("second", "plan", "Test", {{"approvals", {"go"}}});
  Json fo = Finished("second");
  EXPECT_EQ(fo.value("/status/phase"_json_pointer, ""), "Succeeded") << fo.dump();
  EXPECT_EQ(Get(kRecoveryPlans, "plan").value("/status/activeTest"_json_pointer, ""), "second");
}

// A running exec action is not interrupted when its Failover is deleted (HookRunner::Run takes
// no cancellation): the plan is busy until the action ends, then the next Failover runs.
// Deleting a Failover stops the command it runs (its process group is killed), so the plan is
// free at once, not when a long action would have ended (30 s here, beyond Finished's deadline).
TEST_F(RecoveryTest, DeletingARunningFailoverStopsItsActionAndFreesThePlan) {
  ReplicateFrom("prod", "db", PointTime(1));
  StartManager();
  fs::path started = dir_.path() / "long-action-started";
  fs::path ended = dir_.path() / "long-action-ended";
  Json long_action = Exec("long", "if [ \"$LIFEBOAT_FAILOVER_TYPE\" = Test ]; then touch " +
                                      started.string() + "; sleep 30; touch " + ended.string() +
                                      "; fi");
  long_action["timeout"] = "60s";
  CreatePlan("plan", Json::array({{{"name", "g"},
                                   {"replicationPolicies", {"db"}},
                                   {"postActions", Json::array({long_action})}}}));
  CreateFailover("first", "plan", "Test");
  ASSERT_TRUE(WaitFor([&] { return fs::exists(started); }, kDeadline));
  ASSERT_TRUE(client_->Delete(kFailovers, {kNs, "first"}).ok());
  CreateFailover("second", "plan", "Unplanned");
  Json fo = Finished("second");
  EXPECT_EQ(fo.value("/status/phase"_json_pointer, ""), "Succeeded") << fo.dump();
  Json plan = Get(kRecoveryPlans, "plan");
  EXPECT_EQ(plan.value("/status/state"_json_pointer, ""), "FailedOver") << plan.dump();
  EXPECT_EQ(
      ReadFile(env_.data_dir / "failover" / kNs / "plan" / "live" / "db" / "data" / "file.txt"),
      "prod db " + FormatRfc3339(PointTime(1)) + "\n");
  EXPECT_FALSE(fs::exists(ended)) << "the deleted Failover's action ran to its end";
}

}  // namespace
}  // namespace lifeboat::reconcilers::recovery
