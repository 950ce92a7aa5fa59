// `lifeboat failover` end to end: the real binary against `lifeboat up --no-controllers` (a
// subprocess with its own data dir and a RecoveryPlan applied at start). The test plays the
// Failover controller's part by writing the Failover's status through the status subresource,
// and checks what the command prints, what it writes (spec.approvals) and how it exits.
#include <gtest/gtest.h>
#include <signal.h>

#include <algorithm>
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "api/json.h"
#include "controller/client_config.h"
#include "controller/rest_kube_client.h"
#include "tests/e2e/subprocess.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::testing {
namespace {

using namespace std::chrono_literals;

const controller::ResourceRef kFailovers{"lifeboat.dev", "v1alpha1", "failovers", "Failover", true};
constexpr char kNs[] = "dr";
constexpr auto kWait = 15s;

constexpr char kManifests[] = R"(apiVersion: v1
kind: Namespace
metadata:
  name: dr
---
apiVersion: lifeboat.dev/v1alpha1
kind: RecoveryPlan
metadata:
  name: shop
  namespace: dr
spec:
  groups:
    - name: database
      replicationPolicies: [db-replication]
      preActions:
        - name: announce
          exec:
            command: ["sh", "-c", "echo failing over"]
      postActions:
        - name: approve-db
          manual:
            message: Check the database answers, then approve
    - name: web
      replicationPolicies: [web-replication]
      preActions:
        - name: switch-dns
          manual:
            message: Switch DNS to the DR site
        - name: tell-support
          manual:
            message: Tell support the shop runs at the DR site
)";

std::string Quoted(const std::string& s) { return "'" + s + "'"; }

class FailoverCliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new TempDir();
    std::filesystem::path file = dir_->WriteFile("plan.yaml", kManifests);
    up_ = new Subprocess({LifeboatBinary().string(), "up", "--no-controllers", "--port", "0",
                          "--metrics-bind-address", "0", "--data-dir",
                          (dir_->path() / "data").string(), "-f", file.string()});
  }
  static void TearDownTestSuite() {
    if (up_ != nullptr) {
      up_->Stop(SIGTERM, 10s);
    }
    delete up_;
    up_ = nullptr;
    delete dir_;
    dir_ = nullptr;
  }

  void SetUp() override {
    ASSERT_TRUE(up_->WaitForText("kubectl get lifeboat", 60s)) << up_->output();
    std::smatch m;
    std::string out = up_->output();
    ASSERT_TRUE(std::regex_search(out, m, std::regex("kubeconfig: (\\S+)"))) << out;
    kubeconfig_ = m[1].str();
    auto config = controller::LoadKubeconfigFile(kubeconfig_);
    ASSERT_TRUE(config.ok()) << config.status();
    auto client = controller::NewRestKubeClient(std::move(*config));
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  std::vector<std::string> Failover(std::vector<std::string> args) {
    std::vector<std::string> argv = {LifeboatBinary().string(), "failover"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.insert(argv.end(), {"--kubeconfig", kubeconfig_});
    return argv;
  }
  CommandResult Run(const std::vector<std::string>& args) {
    std::string command;
    for (const std::string& a : Failover(args)) {
      command += Quoted(a) + " ";
    }
    return RunCommand(command + "2>&1");
  }

  // The controller's part: replaces the Failover's status.
  void WriteStatus(const std::string& name, const Json& status) {
    auto written =
        client_->Patch(kFailovers, controller::ObjectKey{kNs, name}, controller::PatchType::kMerge,
                       Json{{"status", status}}, "status");
    ASSERT_TRUE(written.ok()) << written.status();
  }
  Json Get(const std::string& name) {
    auto got = client_->Get(kFailovers, controller::ObjectKey{kNs, name});
    return got.ok() ? *got : Json();
  }

  static Json Step(const std::string& group, const std::string& stage, const std::string& action,
                   const std::string& phase, const std::string& start, const std::string& end) {
    Json step = {{"group", group},
                 {"stage", stage},
                 {"action", action},
                 {"phase", phase},
                 {"startTime", start}};
    if (!end.empty()) {
      step["endTime"] = end;
    }
    return step;
  }

  static TempDir* dir_;
  static Subprocess* up_;
  std::string kubeconfig_;
  std::unique_ptr<controller::KubeClient> client_;
};

TempDir* FailoverCliTest::dir_ = nullptr;
Subprocess* FailoverCliTest::up_ = nullptr;

TEST_F(FailoverCliTest, FollowsStepsWaitsForApprovalAndSucceeds) {
  Subprocess cli(Failover({"shop", "--type", "test", "-n", kNs, "--name", "drill-1"}));
  ASSERT_TRUE(cli.WaitForText("Created Failover drill-1", kWait)) << cli.output();
  Json created = Get("drill-1");
  EXPECT_EQ(created["spec"]["type"], "Test");
  EXPECT_EQ(created["spec"]["planRef"]["name"], "shop");

  Json announce = Step("database", "Pre", "announce", "Running", "2026-11-21T12:00:00Z", "");
  WriteStatus("drill-1", {{"phase", "Running"},
                          {"startTime", "2026-11-21T12:00:00Z"},
                          {"steps", Json::array({announce})}});
  ASSERT_TRUE(cli.WaitForText("12:00:00  database Pre announce: Running", kWait)) << cli.output();

  announce["phase"] = "Succeeded";
  announce["endTime"] = "2026-11-21T12:00:02Z";
  Json workload = Step("database", "Workloads", "db-replication", "Succeeded",
                       "2026-11-21T12:00:02Z", "2026-11-21T12:00:03Z");
  workload["recoveryPoint"] = "db-replication-20261121-115955";
  workload["pointTime"] = "2026-11-21T11:59:55Z";
  Json approve =
      Step("database", "Post", "approve-db", "WaitingForApproval", "2026-11-21T12:00:03Z", "");
  WriteStatus("drill-1", {{"phase", "WaitingForApproval"},
                          {"steps", Json::array({announce, workload, approve})}});
  const std::string approve_line =
      "waiting for approval of approve-db: Check the database answers, then approve \u2014 "
      "approve with: lifeboat failover approve drill-1 approve-db -n dr";
  ASSERT_TRUE(cli.WaitForText(approve_line, kWait)) << cli.output();
  std::string out = cli.output();
  EXPECT_NE(out.find("12:00:02  database Pre announce: Succeeded in 2s"), std::string::npos) << out;
  EXPECT_NE(out.find("12:00:03  database Workloads db-replication: Succeeded in 1s, point "
                     "db-replication-20261121-115955 of 2026-11-21T11:59:55Z"),
            std::string::npos)
      << out;
  // Each step starts and ends once, however many versions of the status mention it.
  size_t first = out.find("announce: Running");
  EXPECT_EQ(out.find("announce: Running", first + 1), std::string::npos) << out;

  // A person approves (twice: the second is a no-op), and an action the plan lacks is refused.
  CommandResult approved = Run({"approve", "drill-1", "approve-db", "-n", kNs});
  ASSERT_EQ(approved.exit_code, 0) << approved.output;
  EXPECT_NE(approved.output.find("Approved approve-db"), std::string::npos) << approved.output;
  CommandResult again = Run({"approve", "drill-1", "approve-db", "-n", kNs});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_NE(again.output.find("already approved"), std::string::npos) << again.output;
  Json approved_object = Get("drill-1");
  EXPECT_EQ(approved_object["spec"]["approvals"], Json::array({"approve-db"}));
  EXPECT_EQ(approved_object["status"]["phase"], "WaitingForApproval");  // status untouched
  CommandResult wrong = Run({"approve", "drill-1", "announce", "-n", kNs});
  EXPECT_EQ(wrong.exit_code, 1) << wrong.output;
  EXPECT_NE(wrong.output.find("its manual actions: approve-db, switch-dns, tell-support"),
            std::string::npos)
      << wrong.output;
  // Two people approving different actions at once while the controller writes the status:
  // neither approval is lost.
  {
    Subprocess first(Failover({"approve", "drill-1", "switch-dns", "-n", kNs}));
    Subprocess second(Failover({"approve", "drill-1", "tell-support", "-n", kNs}));
    WriteStatus("drill-1", {{"message", "waiting for approve-db"}});
    EXPECT_EQ(first.Stop(0, kWait), 0) << first.output();
    EXPECT_EQ(second.Stop(0, kWait), 0) << second.output();
  }
  Json approvals = Get("drill-1")["spec"]["approvals"];
  ASSERT_EQ(approvals.size(), 3u) << approvals;
  EXPECT_EQ(approvals[0], "approve-db");
  EXPECT_NE(std::find(approvals.begin(), approvals.end(), "switch-dns"), approvals.end());
  EXPECT_NE(std::find(approvals.begin(), approvals.end(), "tell-support"), approvals.end());
  CommandResult missing = Run({"approve", "no-such-failover", "approve-db", "-n", kNs});
  EXPECT_EQ(missing.exit_code, 1) << missing.output;
  EXPECT_NE(missing.output.find("Failover \"no-such-failover\" not found"), std::string::npos)
      << missing.output;

  approve["phase"] = "Succeeded";
  approve["endTime"] = "2026-11-21T12:00:09Z";
  Json web = Step("web", "Workloads", "web-replication", "Succeeded", "2026-11-21T12:00:09Z",
                  "2026-11-21T12:00:10Z");
  web["durationSeconds"] = 0.135;  // precise, preferred to the whole-second timestamps
  WriteStatus("drill-1", {{"phase", "Succeeded"},
                          {"completionTime", "2026-11-21T12:00:10Z"},
                          {"rtoSeconds", 4.5},
                          {"recoveryPointUsed", "Latest"},
                          {"targetDir", "/srv/dr/test/drill-1"},
                          {"steps", Json::array({announce, workload, approve, web})}});
  EXPECT_EQ(cli.Stop(0, kWait), 0) << cli.output();
  out = cli.output();
  EXPECT_NE(out.find("12:00:09  database Post approve-db: Succeeded in 6s"), std::string::npos)
      << out;
  EXPECT_NE(out.find("12:00:10  web Workloads web-replication: Succeeded in 135ms"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("Failover drill-1 Succeeded: RTO 4.5s, recovery point Latest, target dir "
                     "/srv/dr/test/drill-1"),
            std::string::npos)
      << out;

  CommandResult listed = Run({"ls", "-n", kNs});
  ASSERT_EQ(listed.exit_code, 0) << listed.output;
  EXPECT_TRUE(
      std::regex_search(listed.output, std::regex("drill-1 +shop +Test +Succeeded +4\\.5s +4/4")))
      << listed.output;
  CommandResult status = Run({"status", "drill-1", "-n", kNs});
  EXPECT_EQ(status.exit_code, 0) << status.output;
  EXPECT_NE(status.output.find("Failover drill-1 Succeeded: RTO 4.5s"), std::string::npos)
      << status.output;
  CommandResult json = Run({"status", "drill-1", "-n", kNs, "--json"});
  EXPECT_EQ(json.exit_code, 0) << json.output;
  std::string last = json.output.substr(json.output.rfind("{\"event\""));
  Json finished = Json::parse(last, nullptr, false);
  EXPECT_EQ(finished.value("event", ""), "finished") << json.output;
  EXPECT_EQ(finished.value("phase", ""), "Succeeded") << json.output;
  EXPECT_EQ(finished.value("rtoSeconds", 0.0), 4.5) << json.output;
  EXPECT_EQ(finished.value("targetDir", ""), "/srv/dr/test/drill-1") << json.output;
}

TEST_F(FailoverCliTest, FailedStepEndsWithExitOneAndTheReason) {
  Subprocess cli(Failover({"shop", "--type", "PLANNED", "-n", kNs}));
  ASSERT_TRUE(cli.WaitForText("Created Failover shop-planned-", kWait)) << cli.output();
  std::smatch m;
  std::string out = cli.output();
  ASSERT_TRUE(std::regex_search(out, m, std::regex("Created Failover (shop-planned-\\S+) ")));
  const std::string name = m[1].str();
  EXPECT_EQ(Get(name)["spec"]["type"], "Planned");

  Json failed =
      Step("database", "Pre", "announce", "Failed", "2026-11-21T12:10:00Z", "2026-11-21T12:10:01Z");
  failed["exitCode"] = 3;
  failed["output"] = "checking\nstill checking\nboom: disk not mounted\n";
  failed["message"] = "exited with code 3";
  WriteStatus(name, {{"phase", "Failed"},
                     {"message",
                      "group database: action announce failed (exit code 3); fix the "
                      "action and create a new Failover"},
                     {"steps", Json::array({failed})}});
  EXPECT_EQ(cli.Stop(0, kWait), 1) << cli.output();
  out = cli.output();
  EXPECT_NE(out.find("12:10:01  database Pre announce: Failed in 1s, exit code 3 - exited with "
                     "code 3"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("    | boom: disk not mounted"), std::string::npos) << out;
  EXPECT_NE(out.find("Failover " + name + " Failed"), std::string::npos) << out;
  EXPECT_NE(out.find("group database: action announce failed (exit code 3); fix the action"),
            std::string::npos)
      << out;
}

TEST_F(FailoverCliTest, RefusesUnknownPlansAndBadFlags) {
  CommandResult unknown = Run({"no-such-plan", "--type", "test", "-n", kNs});
  EXPECT_EQ(unknown.exit_code, 1) << unknown.output;
  EXPECT_NE(unknown.output.find("RecoveryPlan \"no-such-plan\" not found in namespace \"dr\""),
            std::string::npos)
      << unknown.output;
  auto listed = client_->List(kFailovers, kNs, {});
  ASSERT_TRUE(listed.ok()) << listed.status();
  for (const Json& item : listed->items) {
    EXPECT_NE(item["spec"]["planRef"]["name"], "no-such-plan");
  }

  CommandResult type = Run({"shop", "--type", "drill", "-n", kNs});
  EXPECT_EQ(type.exit_code, 2) << type.output;
  EXPECT_NE(type.output.find("unknown type \"drill\"; valid types: Test, Planned, Unplanned, "
                             "Commit, CleanupTest, Reprotect, Failback"),
            std::string::npos)
      << type.output;
  CommandResult no_type = Run({"shop", "-n", kNs});
  EXPECT_EQ(no_type.exit_code, 2) << no_type.output;
  EXPECT_NE(no_type.output.find("--type is required"), std::string::npos) << no_type.output;
  CommandResult point = Run({"shop", "--type", "unplanned", "--recovery-point", "yesterday"});
  EXPECT_EQ(point.exit_code, 2) << point.output;
  EXPECT_NE(point.output.find("--recovery-point: must be Latest, LatestAppConsistent or an RFC "
                              "3339 time"),
            std::string::npos)
      << point.output;
  CommandResult timeout = Run({"shop", "--type", "test", "--timeout", "soon"});
  EXPECT_EQ(timeout.exit_code, 2) << timeout.output;
  EXPECT_NE(timeout.output.find("--timeout"), std::string::npos) << timeout.output;
}

TEST_F(FailoverCliTest, TimeoutAndCtrlCStopFollowingOnly) {
  CommandResult timed_out =
      Run({"shop", "--type", "Test", "-n", kNs, "--name", "slow", "--timeout", "1s"});
  EXPECT_EQ(timed_out.exit_code, 3) << timed_out.output;
  EXPECT_NE(timed_out.output.find("stopped following after --timeout 1s: Failover dr/slow is "
                                  "still Pending; it keeps running"),
            std::string::npos)
      << timed_out.output;
  EXPECT_FALSE(Get("slow").is_null());

  Subprocess cli(Failover({"shop", "--type", "cleanuptest", "-n", kNs, "--name", "cleanup"}));
  ASSERT_TRUE(cli.WaitForText("Ctrl-C stops following", kWait)) << cli.output();
  EXPECT_EQ(cli.Stop(SIGINT, kWait), 130) << cli.output();
  EXPECT_NE(cli.output().find("stopped following; Failover dr/cleanup keeps running"),
            std::string::npos)
      << cli.output();
  EXPECT_EQ(Get("cleanup")["spec"]["type"], "CleanupTest");

  CommandResult no_wait = Run({"shop", "--type", "commit", "-n", kNs, "--no-wait"});
  ASSERT_EQ(no_wait.exit_code, 0) << no_wait.output;
  std::string name = no_wait.output.substr(0, no_wait.output.find('\n'));
  EXPECT_EQ(name.rfind("shop-commit-", 0), 0u) << no_wait.output;
  EXPECT_EQ(Get(name)["spec"]["type"], "Commit");
}

}  // namespace
}  // namespace lifeboat::testing
