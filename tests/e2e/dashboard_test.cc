// Every PromQL expression of the Grafana dashboard (charts/lifeboat/files/dashboard.json) and
// of the alert rules (charts/lifeboat/files/alerts.yaml) evaluated by a real Prometheus (the
// Debian `prometheus` server on loopback, scraping `lifeboat up` every second, the rules
// loaded): each parses and evaluates, every rule evaluates healthy, and each expression whose
// metrics `lifeboat up` exports returns data. `lifeboat up` runs with a vault, a backup policy
// over a sample volume with an on-demand recovery point (then a restore of a file from it), and
// a policy over a missing volume (a failed backup), so that the backup, restore, vault, RPO and
// reconcile series exist; replication, site and failover series do not exist in this setup and
// their expressions are checked to parse and evaluate only.
#include <gtest/gtest.h>
#include <unistd.h>
#include <yaml-cpp/yaml.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include "api/json.h"
#include "controller/client_config.h"
#include "controller/rest_kube_client.h"
#include "tests/e2e/prometheus_server.h"
#include "tests/e2e/subprocess.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::testing {
namespace {

using namespace std::chrono_literals;

std::filesystem::path Binary() {
  const char* env = std::getenv("LIFEBOAT_BINARY");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path(LIFEBOAT_E2E_BINARY);
}

std::filesystem::path Chart() {
  const char* env = std::getenv("LIFEBOAT_SOURCE_DIR");
  std::filesystem::path source =
      env && *env ? std::filesystem::path(env) : std::filesystem::path(LIFEBOAT_E2E_SOURCE_DIR);
  return source / "charts" / "lifeboat";
}

std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

struct Expression {
  std::string origin;  // "dashboard: RPO ratio per policy [A]", "rule: LifeboatRPOBreached"
  std::string expr;    // as Prometheus gets it
  std::string data;    // the part that must return data once its metrics exist
};

// Grafana's variables as a dashboard user with "All" selected would send them.
std::string SubstituteGrafanaVariables(std::string expr) {
  expr = std::regex_replace(expr, std::regex("\\$__rate_interval"), "1m");
  expr = std::regex_replace(expr, std::regex("\\$__interval"), "15s");
  return std::regex_replace(expr, std::regex("\\$namespace"), ".*");
}

std::vector<Expression> DashboardExpressions() {
  Json dashboard = Json::parse(ReadFile(Chart() / "files" / "dashboard.json"));
  std::vector<Expression> out;
  for (const Json& panel : dashboard["panels"]) {
    for (const Json& target : panel.value("targets", Json::array())) {
      std::string expr = SubstituteGrafanaVariables(target["expr"].get<std::string>());
      out.push_back({"dashboard: " + panel["title"].get<std::string>() + " [" +
                         target["refId"].get<std::string>() + "]",
                     expr, expr});
    }
  }
  return out;
}

// An alert's condition without its threshold: `x > 1` must parse; `x` must return data.
std::string WithoutThreshold(const std::string& expr) {
  std::smatch m;
  if (std::regex_match(expr, m, std::regex("([\\s\\S]*?)\\s+(>|>=|<|<=|==|!=)\\s+[0-9.e+]+\\s*"))) {
    return m[1];
  }
  return expr;
}

std::vector<Expression> RuleExpressions() {
  YAML::Node rules = YAML::LoadFile((Chart() / "files" / "alerts.yaml").string());
  std::vector<Expression> out;
  for (const YAML::Node& group : rules["groups"]) {
    for (const YAML::Node& rule : group["rules"]) {
      std::string expr = rule["expr"].as<std::string>();
      std::string name =
          rule["alert"] ? rule["alert"].as<std::string>() : rule["record"].as<std::string>();
      out.push_back({"rule: " + name, expr, WithoutThreshold(expr)});
    }
  }
  return out;
}

// The series selectors an expression reads, `name` or `name{matchers}` (recording rules'
// outputs included).
std::set<std::string> MetricsOf(const std::string& expr) {
  std::set<std::string> names;
  std::regex name("lifeboat[:_][a-z_:]+(\\{[^}]*\\})?");
  for (auto it = std::sregex_iterator(expr.begin(), expr.end(), name); it != std::sregex_iterator();
       ++it) {
    names.insert(it->str());
  }
  return names;
}

class DashboardTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (RunCommand("command -v prometheus").exit_code != 0) {
      GTEST_SKIP() << "prometheus is not installed (Debian package prometheus)";
    }
    StartLifeboat();
    if (HasFatalFailure()) {
      return;
    }
    StartPrometheus();
  }

  void StartLifeboat() {
    std::filesystem::path volume = dir_.path() / "volumes" / "app";
    dir_.WriteFile("volumes/app/hello.txt", "hello from the dashboard test\n");
    dir_.WriteFile("volumes/app/data/numbers.txt", std::string(100'000, '7'));
    std::string manifests = R"(apiVersion: v1
kind: Namespace
metadata:
  name: dash
---
apiVersion: v1
kind: Secret
metadata:
  name: vault-key
  namespace: dash
stringData:
  passphrase: correct-horse-battery-staple
---
apiVersion: lifeboat.dev/v1alpha1
kind: Vault
metadata:
  name: main
  namespace: dash
spec:
  storage:
    filesystem:
      path: )" + (dir_.path() / "vault").string() +
                            R"(
  encryptionKeySecretRef:
    name: vault-key
    key: passphrase
---
apiVersion: lifeboat.dev/v1alpha1
kind: BackupPolicy
metadata:
  name: app
  namespace: dash
spec:
  vaultRef:
    name: main
  volumes:
    - name: app
      path: )" + volume.string() +
                            R"(
  schedule:
    cron: "0 3 * * *"
    timeZone: UTC
  retention:
    keepLast: 3
  rpo: 1h
---
apiVersion: lifeboat.dev/v1alpha1
kind: RecoveryPoint
metadata:
  name: app-on-demand
  namespace: dash
  labels:
    lifeboat.dev/policy: app     # what the policy's RPO figures count (its own runs carry it)
spec:
  policyRef:
    name: app
---
apiVersion: lifeboat.dev/v1alpha1
kind: BackupPolicy
metadata:
  name: gone
  namespace: dash
spec:
  vaultRef:
    name: main
  volumes:
    - name: missing
      path: )" + (dir_.path() / "volumes" / "does-not-exist").string() +
                            R"(
  schedule:
    cron: "0 3 * * *"
    timeZone: UTC
  rpo: 1h
---
apiVersion: lifeboat.dev/v1alpha1
kind: RecoveryPoint
metadata:
  name: gone-on-demand
  namespace: dash
  labels:
    lifeboat.dev/policy: gone
spec:
  policyRef:
    name: gone
)";
    std::filesystem::path file = dir_.WriteFile("manifests.yaml", manifests);
    up_ = std::make_unique<Subprocess>(std::vector<std::string>{
        Binary().string(), "up", "--data-dir", (dir_.path() / "data").string(), "--port", "0",
        "--metrics-bind-address", "127.0.0.1:0", "-f", file.string()});
    ASSERT_TRUE(up_->WaitForText("kubectl get lifeboat", 30s)) << up_->output();
    std::smatch m;
    std::string out = up_->output();
    ASSERT_TRUE(std::regex_search(out, m, std::regex("Metrics on http://127\\.0\\.0\\.1:(\\d+)")))
        << out;
    metrics_port_ = std::stoi(m[1]);
    ASSERT_TRUE(std::regex_search(out, m, std::regex("kubeconfig: (\\S+)"))) << out;
    auto config = controller::LoadKubeconfigFile(m[1].str());
    ASSERT_TRUE(config.ok()) << config.status().message();
    auto client = controller::NewRestKubeClient(std::move(*config));
    ASSERT_TRUE(client.ok()) << client.status().message();
    client_ = std::move(*client);
  }

  // Restores hello.txt from the completed on-demand point (a Restore of a point that is not
  // Completed yet fails at once).
  void RestoreAFile() {
    Json restore = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                    {"kind", "Restore"},
                    {"metadata", {{"name", "hello"}, {"namespace", "dash"}}},
                    {"spec",
                     {{"source", {{"recoveryPointRef", {{"name", "app-on-demand"}}}}},
                      {"paths", {"hello.txt"}},
                      {"target", {{"path", (dir_.path() / "restored").string()}}},
                      {"overwrite", "Always"}}}};
    auto created = client_->Create(
        controller::ResourceRef{"lifeboat.dev", "v1alpha1", "restores", "Restore", true}, restore);
    ASSERT_TRUE(created.ok()) << created.status().message();
  }

  void StartPrometheus() {
    prometheus_port_ = FreeLoopbackPort();
    ASSERT_NE(prometheus_port_, 0);
    std::filesystem::path config =
        dir_.WriteFile("prometheus.yml",
                       "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
                       "rule_files:\n  - " +
                           (Chart() / "files" / "alerts.yaml").string() +
                           "\nscrape_configs:\n  - job_name: lifeboat\n"
                           "    static_configs:\n      - targets: ['127.0.0.1:" +
                           std::to_string(metrics_port_) + "']\n");
    prometheus_ = std::make_unique<Subprocess>(std::vector<std::string>{
        "prometheus", "--config.file=" + config.string(),
        "--storage.tsdb.path=" + (dir_.path() / "tsdb").string(),
        "--web.listen-address=127.0.0.1:" + std::to_string(prometheus_port_),
        "--web.enable-lifecycle"});
    ASSERT_TRUE(prometheus_->WaitForText("Server is ready to receive web requests", 60s))
        << prometheus_->output();
  }

  // GET /api/v1/<path> on Prometheus; the parsed JSON body (null when unreachable).
  Json Api(const std::string& path) const {
    auto response = HttpGet(prometheus_port_, "/api/v1/" + path);
    if (!response.ok()) {
      return nullptr;
    }
    return Json::parse(response->body, nullptr, false);
  }

  Json Query(const std::string& expr) const { return Api("query?query=" + UrlEncode(expr)); }

  static bool HasData(const Json& answer) {
    return answer.is_object() && answer.value("status", "") == "success" &&
           !answer["data"]["result"].empty();
  }

  // Whether Prometheus holds a series matching `selector` ("name" or "name{matchers}"; a
  // histogram's name_bucket included).
  bool Exported(const std::string& selector) const {
    size_t brace = selector.find('{');
    std::string name = selector.substr(0, brace);
    std::string matchers = brace == std::string::npos
                               ? ""
                               : "," + selector.substr(brace + 1, selector.size() - brace - 2);
    return HasData(
        Query("count({__name__=~\"" + name + "(_bucket|_count|_sum)?\"" + matchers + "})"));
  }

  TempDir dir_;
  std::unique_ptr<Subprocess> up_;
  std::unique_ptr<Subprocess> prometheus_;
  std::unique_ptr<controller::KubeClient> client_;
  int metrics_port_ = 0;
  int prometheus_port_ = 0;
};

TEST_F(DashboardTest, EveryExpressionParsesAndReturnsDataForExportedMetrics) {
  // Scraped for a few seconds: rate() over 1m needs two samples.
  ASSERT_TRUE(Eventually(
      [&] { return HasData(Query("count_over_time(up{job=\"lifeboat\"}[1m]) >= 3")); }, 30s))
      << "Prometheus never scraped lifeboat up\n"
      << prometheus_->output();
  EXPECT_TRUE(HasData(Query("up{job=\"lifeboat\"} == 1")));
  // The controllers reconcile the objects (reconcile series exist).
  ASSERT_TRUE(Eventually([&] { return Exported("lifeboat_reconcile_total"); }, 30s))
      << up_->output();
  // The on-demand backup: its series appear, and the policy's RPO series with them.
  ASSERT_TRUE(
      Eventually([&] { return Exported("lifeboat_backup_total{result=\"completed\"}"); }, 60s))
      << "the on-demand RecoveryPoint never completed\n"
      << up_->output();
  ASSERT_TRUE(
      Eventually([&] { return Exported("lifeboat_last_recovery_point_timestamp_seconds"); }, 30s));
  // The restore of a file from it, and the backup of a volume that does not exist (failed).
  RestoreAFile();
  EXPECT_TRUE(
      Eventually([&] { return Exported("lifeboat_restore_total{result=\"completed\"}"); }, 60s))
      << up_->output();
  EXPECT_TRUE(Eventually([&] { return Exported("lifeboat_backup_total{result=\"failed\"}"); }, 30s))
      << up_->output();
  // What a backup, a restore and the control loop export: the panels on them must show data.
  for (const char* metric :
       {"lifeboat_rpo_target_seconds", "lifeboat_volume_protected",
        "lifeboat_backup_duration_seconds", "lifeboat_backup_read_bytes_total",
        "lifeboat_vault_uploaded_bytes_total", "lifeboat_vault_logical_bytes",
        "lifeboat_vault_stored_bytes", "lifeboat_vault_dedup_ratio", "lifeboat_vault_ready",
        "lifeboat_restore_duration_seconds", "lifeboat_restore_bytes_total",
        "lifeboat_reconcile_duration_seconds", "lifeboat_workqueue_depth",
        // The embedded API server the controllers talk to.
        "lifeboat_apiserver_request_total", "lifeboat_apiserver_request_duration_seconds",
        "lifeboat_apiserver_connections", "lifeboat_apiserver_watch_streams",
        "lifeboat_apiserver_registered_watchers", "lifeboat_apiserver_watch_backlog_bytes"}) {
    EXPECT_TRUE(Exported(metric)) << metric << " is not exported after a backup and a restore";
  }
  // A rule group evaluated since the series appeared.
  ASSERT_TRUE(Eventually(
      [&] { return HasData(Query("count_over_time(up{job=\"lifeboat\"}[1m]) >= 6")); }, 30s));

  std::vector<Expression> expressions = DashboardExpressions();
  std::vector<Expression> rules = RuleExpressions();
  EXPECT_GE(expressions.size(), 20u);
  EXPECT_GE(rules.size(), 10u);
  expressions.insert(expressions.end(), rules.begin(), rules.end());

  int with_data = 0;
  std::vector<std::string> parse_only;
  for (const Expression& e : expressions) {
    Json answer = Query(e.expr);
    ASSERT_TRUE(answer.is_object()) << e.origin << ": no answer from Prometheus";
    EXPECT_EQ(answer.value("status", ""), "success") << e.origin << ": " << e.expr << "\n"
                                                     << answer.dump();
    bool all_exported = true;
    for (const std::string& metric : MetricsOf(e.expr)) {
      all_exported = all_exported && Exported(metric);
    }
    if (!all_exported) {
      parse_only.push_back(e.origin);
      continue;
    }
    Json data = Query(e.data);
    EXPECT_TRUE(HasData(data)) << e.origin << ": its metrics are exported but " << e.data
                               << " returned nothing\n"
                               << data.dump();
    ++with_data;
  }
  std::cout << "[ info ] " << expressions.size() << " expressions parsed; " << with_data
            << " returned data; " << parse_only.size() << " read metrics not exported yet:\n";
  for (const std::string& origin : parse_only) {
    std::cout << "           " << origin << "\n";
  }
  EXPECT_GE(with_data, 3) << "the reconcile and queue panels at least have data";

  // Prometheus evaluated every rule without an error.
  Json answer = Api("rules");
  ASSERT_EQ(answer.value("status", ""), "success") << answer.dump();
  int evaluated = 0;
  for (const Json& group : answer["data"]["groups"]) {
    for (const Json& rule : group["rules"]) {
      EXPECT_EQ(rule.value("health", ""), "ok") << rule.dump();
      ++evaluated;
    }
  }
  EXPECT_EQ(evaluated, static_cast<int>(rules.size()));
}

}  // namespace
}  // namespace lifeboat::testing
