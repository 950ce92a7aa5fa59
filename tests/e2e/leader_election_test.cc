// Two `lifeboat controller --leader-elect` processes (the real binary) against `lifeboat up
// --no-controllers`: exactly one leads, the Lease names it, the standby never starts its
// workers; kill -9 the leader and the standby leads once the Lease has expired (not before:
// no reconcile can run in both), and its status writes show it reconciling. One candidate uses
// a kubeconfig, the other the in-cluster configuration (service-account token, CA and
// namespace files, KUBERNETES_SERVICE_HOST/PORT).
#include "controller/leader_election.h"

#include <gtest/gtest.h>
#include <signal.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <regex>
#include <thread>
#include <tuple>
#include <utility>

#include "api/json.h"
#include "controller/client_config.h"
#include "controller/rest_kube_client.h"
#include "reconcilers/kinds.h"
#include "tests/e2e/subprocess.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::testing {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Short Lease timings so that a hand-over takes seconds (the chart keeps 15s/10s/2s).
constexpr auto kLeaseDuration = 3s;
constexpr auto kRenewDeadline = 2s;
constexpr auto kRetryPeriod = 500ms;
// Process start-up and scheduling on a loaded 2-core machine.
constexpr auto kSlack = 2s;
constexpr char kLeaseNamespace[] = "default";
constexpr char kLeaseName[] = "lifeboat-controller";

std::filesystem::path Binary() {
  const char* env = std::getenv("LIFEBOAT_BINARY");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path(LIFEBOAT_E2E_BINARY);
}

// Polls `done` every 50 ms until it holds or `timeout` passes: waits on a condition of another
// process (the API server's state), which offers no notification to block on.
bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  while (Clock::now() < deadline) {
    if (done()) {
      return true;
    }
    std::this_thread::sleep_for(50ms);
  }
  return done();
}

std::string Arg(const std::string& flag, std::chrono::milliseconds value) {
  return "--" + flag + "=" + std::to_string(value.count()) + "ms";
}

class LeaderElectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    up_ = std::make_unique<Subprocess>(std::vector<std::string>{
        Binary().string(), "up", "--data-dir", (dir_.path() / "data").string(), "--port", "0",
        "--metrics-bind-address", "127.0.0.1:0", "--no-controllers"});
    ASSERT_TRUE(up_->WaitForText("kubectl get lifeboat", 30s)) << up_->output();
    ASSERT_TRUE(up_->output().find("Controllers not started") != std::string::npos)
        << up_->output();
    std::smatch m;
    std::string out = up_->output();
    ASSERT_TRUE(std::regex_search(out, m, std::regex("kubeconfig: (\\S+)"))) << out;
    kubeconfig_ = m[1];
    auto config = controller::LoadKubeconfigFile(kubeconfig_);
    ASSERT_TRUE(config.ok()) << config.status().message();
    config_ = *config;
    auto client = controller::NewRestKubeClient(*config);
    ASSERT_TRUE(client.ok()) << client.status().message();
    client_ = std::move(*client);

    // The service-account directory of the in-cluster candidate.
    account_dir_ = dir_.path() / "serviceaccount";
    std::filesystem::create_directories(account_dir_);
    std::ofstream(account_dir_ / "token") << config_.bearer_token << "\n";
    std::ofstream(account_dir_ / "ca.crt") << config_.ca_pem;
    std::ofstream(account_dir_ / "namespace") << kLeaseNamespace;
  }

  std::vector<std::string> ElectionFlags(const std::string& identity) const {
    return {"--leader-elect",
            "--identity=" + identity,
            "--lease-name=" + std::string(kLeaseName),
            Arg("lease-duration", kLeaseDuration),
            Arg("renew-deadline", kRenewDeadline),
            Arg("retry-period", kRetryPeriod),
            "--metrics-bind-address=127.0.0.1:0",
            "--health-probe-bind-address=127.0.0.1:0",
            "--data-dir=" + (dir_.path() / ("engines-" + identity)).string()};
  }

  // A candidate configured by --kubeconfig (and an explicit Lease namespace).
  std::unique_ptr<Subprocess> StartWithKubeconfig(const std::string& identity) const {
    std::vector<std::string> argv = {Binary().string(), "controller",        "--kubeconfig",
                                     kubeconfig_,       "--lease-namespace", kLeaseNamespace};
    for (const std::string& flag : ElectionFlags(identity)) {
      argv.push_back(flag);
    }
    return std::make_unique<Subprocess>(argv);
  }

  // A candidate that finds the API server the way a pod does; its Lease namespace comes from
  // the service account's namespace file.
  std::unique_ptr<Subprocess> StartInCluster(const std::string& identity) const {
    std::smatch m;
    std::regex_search(config_.server, m, std::regex("^https://([^:]+):(\\d+)$"));
    std::vector<std::string> argv = {"env",
                                     "-u",
                                     "KUBECONFIG",
                                     "HOME=" + dir_.path().string(),
                                     "KUBERNETES_SERVICE_HOST=" + m[1].str(),
                                     "KUBERNETES_SERVICE_PORT=" + m[2].str(),
                                     "LIFEBOAT_SERVICE_ACCOUNT_DIR=" + account_dir_.string(),
                                     Binary().string(),
                                     "controller"};
    for (const std::string& flag : ElectionFlags(identity)) {
      argv.push_back(flag);
    }
    return std::make_unique<Subprocess>(argv);
  }

  std::string LeaseHolder() const {
    auto lease = client_->Get(controller::LeaseResource(), {kLeaseNamespace, kLeaseName});
    if (!lease.ok()) {
      return "<" + lease.status().message() + ">";
    }
    return lease->value("/spec/holderIdentity"_json_pointer, std::string());
  }

  int LeaseTransitions() const {
    auto lease = client_->Get(controller::LeaseResource(), {kLeaseNamespace, kLeaseName});
    return lease.ok() ? lease->value("/spec/leaseTransitions"_json_pointer, 0) : -1;
  }

  controller::ResourceRef VaultResource() const { return *reconcilers::LifeboatResource("Vault"); }

  void CreateVault(const std::string& name) {
    Json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", name + "-key"}, {"namespace", kLeaseNamespace}}},
                   {"stringData", {{"passphrase", "correct horse battery staple"}}}};
    ASSERT_TRUE(
        client_->Create(controller::ResourceRef{"", "v1", "secrets", "Secret", true}, secret).ok());
    Json vault = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                  {"kind", "Vault"},
                  {"metadata", {{"name", name}, {"namespace", kLeaseNamespace}}},
                  {"spec",
                   {{"storage", {{"filesystem", {{"path", (dir_.path() / "vault").string()}}}}},
                    {"encryptionKeySecretRef", {{"name", name + "-key"}, {"key", "passphrase"}}},
                    {"check", {{"schedule", "@daily"}, {"readDataPercent", 10}}}}}};
    auto created = client_->Create(VaultResource(), vault);
    ASSERT_TRUE(created.ok()) << created.status().message();
  }

  int64_t ObservedGeneration(const std::string& name) const {
    auto vault = client_->Get(VaultResource(), {kLeaseNamespace, name});
    return vault.ok() ? vault->value("/status/observedGeneration"_json_pointer, int64_t{0}) : -1;
  }

  // GET on the port of "Serving health probes address=http://127.0.0.1:N"; "<code> <body>".
  static std::string Probe(const Subprocess& process, const std::string& path) {
    std::smatch m;
    std::string out = process.output();
    if (!std::regex_search(out, m,
                           std::regex("health probes address=http://127\\.0\\.0\\.1:(\\d+)"))) {
      return "no health address logged";
    }
    auto response = HttpGet(std::stoi(m[1]), path);
    if (!response.ok()) {
      return response.status().message();
    }
    return std::to_string(response->status) + " " + response->body;
  }

  TempDir dir_;
  std::unique_ptr<Subprocess> up_;
  std::string kubeconfig_;
  controller::ClientConfig config_;
  std::unique_ptr<controller::KubeClient> client_;
  std::filesystem::path account_dir_;
};

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

TEST_F(LeaderElectionTest, OneLeadsAndTheStandbyTakesOverAfterKillNine) {
  auto a = StartWithKubeconfig("candidate-a");
  ASSERT_TRUE(a->WaitForText("Acquired Lease", 30s)) << a->output();
  ASSERT_TRUE(a->WaitForText("Started workers", 10s)) << a->output();
  EXPECT_EQ(LeaseHolder(), "candidate-a");

  auto b = StartInCluster("candidate-b");
  ASSERT_TRUE(b->WaitForText("Synced caches", 30s)) << b->output();
  ASSERT_TRUE(b->WaitForText("Observed leader identity=candidate-a", 10s)) << b->output();
  EXPECT_TRUE(Contains(b->output(), "leader_elect=true")) << b->output();
  // The in-cluster candidate reached the server named by the environment.
  EXPECT_TRUE(Contains(b->output(), "server=" + config_.server)) << b->output();
  EXPECT_EQ(Probe(*b, "/readyz"), "200 ok") << b->output();
  EXPECT_EQ(Probe(*b, "/healthz"), "200 ok");
  EXPECT_EQ(Probe(*b, "/nothing"), "404 not found");

  // The leader reconciles a new object; several renewals later the standby still waits.
  CreateVault("main");
  EXPECT_TRUE(Eventually([&] { return ObservedGeneration("main") == 1; }, 20s))
      << "status.observedGeneration never reached 1\n"
      << a->output();
  // The leader's /metrics (--metrics-bind-address) counts the reconciles of the vault controller.
  std::smatch port;
  std::string a_out = a->output();
  ASSERT_TRUE(
      std::regex_search(a_out, port, std::regex("Serving metrics address=\\S+ port=(\\d+)")))
      << a_out;
  auto scraped = HttpGet(std::stoi(port[1]), "/metrics");
  ASSERT_TRUE(scraped.ok()) << scraped.status().message();
  EXPECT_EQ(scraped->status, 200);
  EXPECT_TRUE(Contains(scraped->body, "lifeboat_reconcile_total{controller=\"vault\""))
      << scraped->body;
  EXPECT_EQ(LeaseHolder(), "candidate-a");
  EXPECT_FALSE(Contains(b->output(), "Acquired Lease")) << b->output();
  EXPECT_FALSE(Contains(b->output(), "Started workers")) << b->output();
  const int transitions = LeaseTransitions();

  const auto killed = Clock::now();
  EXPECT_EQ(a->Stop(SIGKILL, 5s), 128 + SIGKILL);
  ASSERT_TRUE(b->WaitForText("Acquired Lease", kLeaseDuration + kRetryPeriod + kSlack + 5s))
      << b->output();
  const auto took = Clock::now() - killed;
  std::cout << "[ info ] hand-over after kill -9: "
            << std::chrono::duration_cast<std::chrono::milliseconds>(took).count()
            << " ms (lease duration " << kLeaseDuration.count() << " s)\n";
  // Not before the Lease expired (the old leader, had it only been paused, could still have
  // been working until then) and within the lease duration plus one retry.
  EXPECT_GE(took, kLeaseDuration - kRetryPeriod - 100ms)
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  EXPECT_LE(took, kLeaseDuration + kRetryPeriod + kSlack)
      << std::chrono::duration_cast<std::chrono::milliseconds>(took).count() << " ms";
  ASSERT_TRUE(b->WaitForText("Started workers", 10s)) << b->output();
  EXPECT_EQ(LeaseHolder(), "candidate-b");
  EXPECT_EQ(LeaseTransitions(), transitions + 1);

  // The new leader reconciles: a spec change reaches status.observedGeneration.
  auto patched =
      client_->Patch(VaultResource(), {kLeaseNamespace, "main"}, controller::PatchType::kMerge,
                     Json{{"spec", {{"check", {{"readDataPercent", 20}}}}}});
  ASSERT_TRUE(patched.ok()) << patched.status().message();
  EXPECT_TRUE(Eventually([&] { return ObservedGeneration("main") == 2; }, 20s))
      << "the new leader never reconciled generation 2\n"
      << b->output();

  // A graceful stop releases the Lease at once.
  EXPECT_EQ(b->Stop(SIGTERM, 20s), 0) << b->output();
  EXPECT_TRUE(Contains(b->output(), "Released Lease")) << b->output();
  EXPECT_EQ(LeaseHolder(), "");
}

TEST_F(LeaderElectionTest, APausedLeaderThatResumesAfterLosingTheLeaseExits) {
  auto a = StartWithKubeconfig("candidate-a");
  ASSERT_TRUE(a->WaitForText("Started workers", 30s)) << a->output();
  auto b = StartWithKubeconfig("candidate-b");
  ASSERT_TRUE(b->WaitForText("Observed leader identity=candidate-a", 30s)) << b->output();

  // SIGSTOP: the leader neither renews nor reconciles, but it is not dead; the standby takes
  // over only after the Lease expired.
  ASSERT_EQ(::kill(a->pid(), SIGSTOP), 0);
  ASSERT_TRUE(b->WaitForText("Started workers", kLeaseDuration + kRetryPeriod + kSlack + 5s))
      << b->output();
  EXPECT_EQ(LeaseHolder(), "candidate-b");

  // Resumed, the old leader finds its renew deadline long passed and exits non-zero at once,
  // without a graceful stop that could still write.
  const size_t before = a->output().size();
  ASSERT_EQ(::kill(a->pid(), SIGCONT), 0);
  ASSERT_TRUE(a->WaitForText("Lost Lease", kRenewDeadline + kSlack)) << a->output();
  // Signal 0 sends nothing: this waits for the process to exit on its own.
  EXPECT_EQ(a->Stop(0, kRenewDeadline + kSlack), 1) << a->output();
  EXPECT_FALSE(Contains(a->output().substr(before), "Acquired Lease")) << a->output();
  EXPECT_EQ(LeaseHolder(), "candidate-b");
}

// Bad flags and a broken in-cluster environment end in one line naming the flag or file.
TEST_F(LeaderElectionTest, BadInputNamesTheFlagOrFile) {
  auto run = [&](std::vector<std::string> argv) {
    auto process = std::make_unique<Subprocess>(argv);
    int code = process->Stop(0, 20s);
    return std::make_pair(code, process->output());
  };
  auto [code, out] = run({Binary().string(), "controller", "--kubeconfig", kubeconfig_,
                          "--health-probe-bind-address", "127.0.0.1:http"});
  EXPECT_EQ(code, 1);
  EXPECT_TRUE(Contains(out, "--health-probe-bind-address: \"http\" is not a port number")) << out;

  std::tie(code, out) = run({Binary().string(), "controller", "--kubeconfig", kubeconfig_,
                             "--metrics-bind-address", "256.1.1.1:99999"});
  EXPECT_EQ(code, 1);
  EXPECT_TRUE(Contains(out, "--metrics-bind-address 256.1.1.1:99999")) << out;

  std::tie(code, out) = run({Binary().string(), "controller", "--kubeconfig", kubeconfig_,
                             "--leader-elect", "--lease-duration=1s", "--renew-deadline=2s"});
  EXPECT_EQ(code, 2);
  EXPECT_TRUE(Contains(out, "need 0 < retry period < renew deadline < lease duration")) << out;

  std::filesystem::path empty = dir_.path() / "empty-account";
  std::filesystem::create_directories(empty);
  std::tie(code, out) = run(
      {"env", "-u", "KUBECONFIG", "KUBERNETES_SERVICE_HOST=127.0.0.1", "KUBERNETES_SERVICE_PORT=1",
       "LIFEBOAT_SERVICE_ACCOUNT_DIR=" + empty.string(), Binary().string(), "controller"});
  EXPECT_EQ(code, 1);
  EXPECT_TRUE(Contains(out, "in-cluster token: cannot read " + (empty / "token").string())) << out;
}

}  // namespace
}  // namespace lifeboat::testing
