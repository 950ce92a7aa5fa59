// Backup policies end to end with the parts users run: `lifeboat up` (a subprocess with its own
// data dir), a real Prometheus (Debian's `prometheus`) scraping its /metrics every second with
// the chart's alert rules loaded, `promtool check metrics`, and kubectl when one is installed
// ($LIFEBOAT_KUBECTL or PATH). A policy backs up three sample volumes (a tree, a
// small database directory and a sparse disk image) every minute; the first point is taken on
// demand so the test does not wait for the clock. Restores are compared byte for byte; the RPO
// ratio from Prometheus is compared with the point's time in the API; the vault is then made
// unreachable and the alerts must fire.
//
// The chart's rules wait `for:` minutes before firing; the test loads a copy with every `for:`
// set to 1s (the expressions are unchanged).
#include <gtest/gtest.h>
#include <fcntl.h>
#include <unistd.h>

#include <csignal>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "api/json.h"
#include "common/clock.h"
#include "controller/client_config.h"
#include "controller/rest_kube_client.h"
#include "tests/e2e/kubectl_binary.h"
#include "tests/e2e/prometheus_server.h"
#include "tests/e2e/subprocess.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const controller::ResourceRef kVaults{"lifeboat.dev", "v1alpha1", "vaults", "Vault", true};
const controller::ResourceRef kPolicies{"lifeboat.dev", "v1alpha1", "backuppolicies",
                                        "BackupPolicy", true};
const controller::ResourceRef kPoints{"lifeboat.dev", "v1alpha1", "recoverypoints",
                                      "RecoveryPoint", true};
const controller::ResourceRef kRestores{"lifeboat.dev", "v1alpha1", "restores", "Restore", true};
constexpr char kNs[] = "shop";
constexpr double kRpoSeconds = 90;

fs::path Binary() {
  const char* env = std::getenv("LIFEBOAT_BINARY");
  return env && *env ? fs::path(env) : fs::path(LIFEBOAT_E2E_BINARY);
}
fs::path Source() {
  const char* env = std::getenv("LIFEBOAT_SOURCE_DIR");
  return env && *env ? fs::path(env) : fs::path(LIFEBOAT_E2E_SOURCE_DIR);
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

double UnixSeconds(const std::string& rfc3339) {
  Clock::TimePoint t{};
  if (!ParseRfc3339(rfc3339, &t)) return 0;
  return std::chrono::duration<double>(t.time_since_epoch()).count();
}

// Namespace "shop", the passphrase Secret and Vault "main" at `vault`.
std::string VaultManifests(const fs::path& vault) {
  return R"(apiVersion: v1
kind: Namespace
metadata:
  name: shop
---
apiVersion: v1
kind: Secret
metadata:
  name: vault-key
  namespace: shop
stringData:
  passphrase: correct-horse-battery-staple
---
apiVersion: lifeboat.dev/v1alpha1
kind: Vault
metadata:
  name: main
  namespace: shop
spec:
  storage:
    filesystem:
      path: )" + vault.string() + R"(
  encryptionKeySecretRef:
    name: vault-key
    key: passphrase
)";
}

// The kubectl of the e2e suites (tests/e2e/kubectl_binary.h); "" when there is none.
std::string UsableKubectl() { return FindKubectl().command; }

class BackupE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!PrometheusServer::Installed()) {
      GTEST_SKIP() << "prometheus is not installed (Debian package prometheus)";
    }
    volumes_ = dir_.path() / "volumes";
    WriteAll(volumes_ / "app/config/app.conf", "listen = 8080\nworkers = 4\n");
    for (int i = 0; i < 50; ++i) {
      WriteAll(volumes_ / ("app/static/page" + std::to_string(i) + ".html"),
               std::string(1000 + i * 97, static_cast<char>('a' + i % 26)));
    }
    WriteAll(volumes_ / "db/base/16384", std::string(200 << 10, 'd'));
    // A sparse disk image: 8 MiB with two written islands.
    int fd = ::open((volumes_ / "disk.img").c_str(), O_CREAT | O_WRONLY, 0644);
    ASSERT_GE(fd, 0);
    std::string island(64 << 10, '\0');
    for (size_t i = 0; i < island.size(); ++i) island[i] = static_cast<char>(i * 31 % 251);
    ASSERT_EQ(::pwrite(fd, island.data(), island.size(), 1 << 20), (ssize_t)island.size());
    ASSERT_EQ(::pwrite(fd, island.data(), island.size(), 6 << 20), (ssize_t)island.size());
    ASSERT_EQ(::ftruncate(fd, 8 << 20), 0);
    ::close(fd);
    vault_ = dir_.path() / "vault";

    std::string manifests = VaultManifests(vault_) + R"(---
apiVersion: lifeboat.dev/v1alpha1
kind: BackupPolicy
metadata:
  name: shop
  namespace: shop
spec:
  vaultRef:
    name: main
  volumes:
    - name: app
      path: )" + (volumes_ / "app").string() + R"(
    - name: db
      path: )" + (volumes_ / "db").string() + R"(
    - name: disk
      path: )" + (volumes_ / "disk.img").string() + R"(
  schedule:
    cron: "*/1 * * * *"
  retention:
    keepLast: 3
  rpo: 90s
---
apiVersion: lifeboat.dev/v1alpha1
kind: RecoveryPoint
metadata:
  name: first
  namespace: shop
spec:
  policyRef:
    name: shop
)";
    fs::path file = dir_.WriteFile("manifests.yaml", manifests);
    up_ = std::make_unique<Subprocess>(std::vector<std::string>{
        Binary().string(), "up", "--data-dir", (dir_.path() / "data").string(), "--port", "0",
        "--metrics-bind-address", "127.0.0.1:0", "-f", file.string()});
    ASSERT_TRUE(up_->WaitForText("kubectl get lifeboat", 60s)) << up_->output();
    std::smatch m;
    std::string out = up_->output();
    ASSERT_TRUE(std::regex_search(out, m, std::regex("Metrics on http://127\\.0\\.0\\.1:(\\d+)")));
    metrics_port_ = std::stoi(m[1]);
    ASSERT_TRUE(std::regex_search(out, m, std::regex("kubeconfig: (\\S+)")));
    kubeconfig_ = m[1].str();
    auto config = controller::LoadKubeconfigFile(kubeconfig_);
    ASSERT_TRUE(config.ok()) << config.status();
    auto client = controller::NewRestKubeClient(std::move(*config));
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = std::move(*client);
  }

  Json Get(const controller::ResourceRef& r, const std::string& name) {
    auto got = client_->Get(r, controller::ObjectKey{kNs, name});
    return got.ok() ? *got : Json();
  }
  std::string Str(const Json& o, const char* pointer) {
    return o.is_null() ? "" : o.value(Json::json_pointer(pointer), "");
  }
  std::string ReadyReason(const Json& o) {
    if (o.is_null()) return "";
    for (const Json& c : o.value("/status/conditions"_json_pointer, Json::array())) {
      if (c.value("type", "") == "Ready") return c.value("reason", "");
    }
    return "";
  }
  bool WaitPhase(const controller::ResourceRef& r, const std::string& name,
                 const std::string& phase, std::chrono::seconds timeout = 90s) {
    bool ok = Eventually([&] { return Str(Get(r, name), "/status/phase") == phase; }, timeout);
    if (!ok) ADD_FAILURE() << name << " never reached " << phase << ": " << Get(r, name).dump(1);
    return ok;
  }
  void CreateRestore(const std::string& name, const Json& spec) {
    Json restore = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                    {"kind", "Restore"},
                    {"metadata", {{"name", name}, {"namespace", kNs}}},
                    {"spec", spec}};
    auto made = client_->Create(kRestores, restore);
    ASSERT_TRUE(made.ok()) << made.status();
  }
  void CreatePoint(const std::string& name) {
    Json point = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                  {"kind", "RecoveryPoint"},
                  {"metadata", {{"name", name}, {"namespace", kNs}}},
                  {"spec", {{"policyRef", {{"name", "shop"}}}}}};
    auto made = client_->Create(kPoints, point);
    ASSERT_TRUE(made.ok()) << made.status();
  }

  // The chart's rules with every `for:` shortened to 1s.
  fs::path FastRules() {
    std::string rules = ReadAll(Source() / "charts/lifeboat/files/alerts.yaml");
    rules = std::regex_replace(rules, std::regex("for: [0-9]+[smh]"), "for: 1s");
    return dir_.WriteFile("alerts-fast.yaml", rules);
  }

  TempDir dir_;
  fs::path volumes_, vault_;
  std::unique_ptr<Subprocess> up_;
  std::unique_ptr<controller::KubeClient> client_;
  std::string kubeconfig_;
  int metrics_port_ = 0;
};

TEST_F(BackupE2eTest, PolicyBacksUpRestoresAndPrometheusSeesTheObjective) {
  // The on-demand point, then the vault's figures.
  ASSERT_TRUE(WaitPhase(kPoints, "first", "Completed")) << up_->output();
  Json first = Get(kPoints, "first");
  EXPECT_EQ(first["status"]["files"], 53) << first.dump(1);
  ASSERT_TRUE(Eventually([&] { return Str(Get(kPolicies, "shop"), "/status/lastRecoveryPoint") != ""; },
                         30s));
  ASSERT_TRUE(Eventually([&] { return Get(kVaults, "main").value("/status/recoveryPointCount"_json_pointer, 0) >= 1; }, 30s));

  // Restore one path of one volume and the whole disk image; compare bytes.
  const fs::path target = dir_.path() / "restored";
  CreateRestore("conf", {{"source", {{"recoveryPointRef", {{"name", "first"}}}}},
                         {"volumes", {"app"}},
                         {"paths", {"config/app.conf"}},
                         {"target", {{"path", target.string()}}}});
  CreateRestore("disk", {{"source", {{"policyRef", {{"name", "shop"}}}}},
                         {"volumes", {"disk"}},
                         {"target", {{"path", (target / "images").string()}}}});
  ASSERT_TRUE(WaitPhase(kRestores, "conf", "Completed"));
  ASSERT_TRUE(WaitPhase(kRestores, "disk", "Completed"));
  EXPECT_EQ(ReadAll(target / "app/config/app.conf"), ReadAll(volumes_ / "app/config/app.conf"));
  EXPECT_EQ(ReadAll(target / "images/disk"), ReadAll(volumes_ / "disk.img"));
  EXPECT_EQ(Get(kRestores, "disk")["status"]["verified"], true);

  // /metrics is valid exposition text.
  auto exposition = HttpGet(metrics_port_, "/metrics");
  ASSERT_TRUE(exposition.ok());
  if (RunCommand("command -v promtool").exit_code == 0) {
    CommandResult checked = RunCommand("promtool check metrics", exposition->body);
    EXPECT_EQ(checked.exit_code, 0) << checked.output;
  }

  // Prometheus scrapes it with the chart's rules.
  PrometheusServer prometheus(dir_.path() / "prometheus",
                              {"127.0.0.1:" + std::to_string(metrics_port_)}, {FastRules()});
  ASSERT_TRUE(prometheus.ready());
  ASSERT_TRUE(Eventually(
      [&] {
        return PrometheusServer::HasData(prometheus.Query(
            "lifeboat_last_recovery_point_timestamp_seconds{namespace=\"shop\",policy=\"shop\"}"));
      },
      60s))
      << prometheus.output();
  // The RPO ratio at a chosen instant equals (instant - newest point's start) / 90s.
  bool compared = false;
  for (int attempt = 0; attempt < 20 && !compared; ++attempt) {
    Json policy = Get(kPolicies, "shop");
    std::string newest = Str(policy, "/status/lastRecoveryPoint");
    // Measure only once Prometheus has scraped (every second) since the newest point completed:
    // just after a run the scraped metric still carries the previous point.
    auto settled = [&] {
      std::string done = Str(Get(kPoints, newest), "/status/completionTime");
      double now = std::chrono::duration<double>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count();
      return !done.empty() && now - UnixSeconds(done) >= 3;
    };
    if (!settled()) {
      std::this_thread::sleep_for(1s);
      continue;
    }
    double start = UnixSeconds(Str(Get(kPoints, newest), "/status/startTime"));
    double at = std::floor(std::chrono::duration<double>(
                               std::chrono::system_clock::now().time_since_epoch())
                               .count());
    // Give the scrape after `at` time to land... then evaluate at `at` itself.
    std::this_thread::sleep_for(2s);
    auto ratio = prometheus.Value(
        "(time() - lifeboat_last_recovery_point_timestamp_seconds{policy=\"shop\"}) / "
        "lifeboat_rpo_target_seconds{policy=\"shop\"}",
        at);
    if (!ratio || Str(Get(kPolicies, "shop"), "/status/lastRecoveryPoint") != newest) {
      continue;  // a scheduled run landed meanwhile: measure again
    }
    EXPECT_NEAR(*ratio, (at - start) / kRpoSeconds, 1e-6);
    EXPECT_LT(*ratio, 1.0) << "a fresh point is within the objective";
    compared = true;
  }
  EXPECT_TRUE(compared) << "never got a stable RPO ratio";
  EXPECT_EQ(prometheus.Value("lifeboat_rpo_target_seconds{policy=\"shop\"}").value_or(0), kRpoSeconds);
  EXPECT_EQ(prometheus.Value("lifeboat_vault_ready{vault=\"main\"}").value_or(-1), 1);

  // kubectl shows the columns filled in.
  if (std::string kubectl = UsableKubectl(); !kubectl.empty()) {
    CommandResult got = RunCommand(kubectl + " --kubeconfig " + kubeconfig_ +
                                   " -n shop get bp,rp,vault 2>&1");
    EXPECT_EQ(got.exit_code, 0) << got.output;
    EXPECT_NE(got.output.find("*/1 * * * *"), std::string::npos) << got.output;
    EXPECT_NE(got.output.find("Completed"), std::string::npos) << got.output;
    EXPECT_NE(got.output.find("True"), std::string::npos) << got.output;
  }

  // The vault's storage disappears: backups fail, the vault turns not ready, alerts fire.
  fs::rename(vault_, dir_.path() / "vault-unmounted");
  CreatePoint("after-outage-1");
  ASSERT_TRUE(WaitPhase(kPoints, "after-outage-1", "Failed"));
  EXPECT_NE(Str(Get(kPoints, "after-outage-1"), "/status/message").find("does not exist"),
            std::string::npos)
      << Get(kPoints, "after-outage-1").dump(1);
  CreatePoint("after-outage-2");
  ASSERT_TRUE(WaitPhase(kPoints, "after-outage-2", "Failed"));
  ASSERT_TRUE(Eventually([&] { return ReadyReason(Get(kVaults, "main")) == "StorageUnavailable"; },
                         60s))
      << Get(kVaults, "main").dump(1);
  EXPECT_TRUE(Eventually([&] { return prometheus.Firing("LifeboatVaultNotReady"); }, 60s))
      << prometheus.Api("alerts").dump();
  EXPECT_TRUE(Eventually([&] { return prometheus.Firing("LifeboatBackupsFailing"); }, 60s))
      << prometheus.Api("alerts").dump();
  Json policy = Get(kPolicies, "shop");
  EXPECT_EQ(ReadyReason(policy), "VaultNotReady") << policy.dump(1);

  // Back online: the vault is Ready again by itself, with every point intact.
  fs::rename(dir_.path() / "vault-unmounted", vault_);
  EXPECT_TRUE(Eventually([&] { return ReadyReason(Get(kVaults, "main")) == "Ready"; }, 60s))
      << Get(kVaults, "main").dump(1);
}

// kill -9 of `lifeboat up` while a RecoveryPoint is running: after a restart on the same data
// dir the point runs again and completes, the vault checks clean (the interrupted run's packs are
// pruned), and the data restores byte for byte.
TEST(BackupCrashTest, ControllerKilledMidBackupResumesAndLeavesAConsistentVault) {
  TempDir dir;
  const fs::path volume = dir.path() / "volumes/big";
  std::string chunk(1 << 20, '\0');
  uint64_t x = 88172645463325252ull;
  for (int f = 0; f < 24; ++f) {
    for (size_t i = 0; i + 8 <= chunk.size(); i += 8) {
      x ^= x << 13, x ^= x >> 7, x ^= x << 17;
      std::memcpy(&chunk[i], &x, 8);
    }
    std::string file;
    for (int m = 0; m < 4; ++m) file += chunk;  // 4 MiB of incompressible data per file
    WriteAll(volume / ("part-" + std::to_string(f)), file);
  }
  const fs::path vault = dir.path() / "vault";
  std::string manifests = VaultManifests(vault) + R"(---
apiVersion: lifeboat.dev/v1alpha1
kind: RecoveryPoint
metadata:
  name: big
  namespace: shop
spec:
  vaultRef:
    name: main
  volumes:
    - name: big
      path: )" + volume.string() + "\n";
  fs::path file = dir.WriteFile("manifests.yaml", manifests);
  auto start_up = [&](bool apply) {
    std::vector<std::string> argv = {Binary().string(), "up", "--data-dir",
                                     (dir.path() / "data").string(), "--port", "0",
                                     "--metrics-bind-address", "127.0.0.1:0"};
    if (apply) argv.insert(argv.end(), {"-f", file.string()});
    auto up = std::make_unique<Subprocess>(argv);
    EXPECT_TRUE(up->WaitForText("kubectl get lifeboat", 60s)) << up->output();
    return up;
  };
  auto client_of = [&]() {
    auto config = controller::LoadKubeconfigFile(dir.path() / "data/kubeconfig");
    EXPECT_TRUE(config.ok()) << config.status();
    auto client = controller::NewRestKubeClient(std::move(*config));
    EXPECT_TRUE(client.ok()) << client.status();
    return std::move(*client);
  };
  auto phase_of = [](controller::KubeClient& c) {
    auto got = c.Get(kPoints, controller::ObjectKey{kNs, "big"});
    return got.ok() ? got->value("/status/phase"_json_pointer, "") : std::string();
  };

  auto up = start_up(true);
  auto client = client_of();
  ASSERT_TRUE(Eventually([&] { return phase_of(*client) == "Running"; }, 60s)) << up->output();
  // Let it write some packs, then kill it without warning.
  std::this_thread::sleep_for(std::chrono::milliseconds(300));
  bool killed_mid_run = phase_of(*client) == "Running";
  up->Stop(SIGKILL, 5s);
  up.reset();

  up = start_up(false);
  client = client_of();
  ASSERT_TRUE(Eventually([&] { return phase_of(*client) == "Completed"; }, 120s)) << up->output();
  auto point = client->Get(kPoints, controller::ObjectKey{kNs, "big"});
  ASSERT_TRUE(point.ok());
  if (killed_mid_run) {
    EXPECT_NE(point->value("/status/message"_json_pointer, "").find("after a controller restart"), std::string::npos)
        << point->dump(1);
  }
  // The vault is consistent: no damage, and the interrupted run's packs get pruned.
  up->Stop(SIGTERM, 30s);
  CommandResult check = RunCommand("LIFEBOAT_PASSWORD=correct-horse-battery-staple " +
                                   Binary().string() + " vault check --read-data --vault " +
                                   vault.string() + " 2>&1");
  EXPECT_EQ(check.exit_code, 0) << check.output;
  CommandResult restore = RunCommand("LIFEBOAT_PASSWORD=correct-horse-battery-staple " +
                                     Binary().string() + " restore latest --vault " +
                                     vault.string() + " --target " +
                                     (dir.path() / "restored").string() + " 2>&1");
  ASSERT_EQ(restore.exit_code, 0) << restore.output;
  for (int f = 0; f < 24; ++f) {
    std::string name = "part-" + std::to_string(f);
    ASSERT_EQ(ReadAll(dir.path() / "restored/big" / name), ReadAll(volume / name)) << name;
  }
}

}  // namespace
}  // namespace lifeboat::testing
