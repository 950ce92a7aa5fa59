#include "metrics/metrics.h"

#include <gtest/gtest.h>

#include "tests/support/process.h"

namespace lifeboat::metrics {
namespace {

using testing::HttpGet;
using testing::RunCommand;

const PolicyLabels kDb{"BackupPolicy", "prod", "db"};
const PolicyLabels kWeb{"ReplicationPolicy", "prod", "web"};

bool Contains(const std::string& text, const std::string& needle) {
  return text.find(needle) != std::string::npos;
}

TEST(MetricsTest, ObjectiveBesideObservationAndRemoval) {
  Metrics m;
  m.rpo().SetTarget(kDb, 3600);
  m.rpo().SetLastRecoveryPoint(kDb, 1.7e9);
  m.rpo().SetVolumeProtected(kDb, "data", true);
  m.rpo().SetTarget(kWeb, 60);
  std::string text = m.Exposition();
  EXPECT_TRUE(Contains(
      text, R"(lifeboat_rpo_target_seconds{kind="BackupPolicy",namespace="prod",policy="db"} 3600)"));
  EXPECT_TRUE(Contains(text, R"(lifeboat_last_recovery_point_timestamp_seconds{kind="BackupPolicy",namespace="prod",policy="db"} 1700000000)"));
  EXPECT_TRUE(Contains(text, R"(lifeboat_volume_protected{kind="BackupPolicy",namespace="prod",policy="db",volume="data"} 1)"));

  m.rpo().Remove(kDb);
  text = m.Exposition();
  EXPECT_FALSE(Contains(text, R"(policy="db")"));
  EXPECT_TRUE(Contains(text, R"(policy="web")"));
}

TEST(MetricsTest, ReconcileAndBackupFigures) {
  Metrics m;
  m.reconcile().ObserveReconcile("backuppolicy", "success", 0.002);
  m.reconcile().ObserveReconcile("backuppolicy", "error", 0.004);
  m.reconcile().SetQueueDepth("backuppolicy", 3);
  m.backup().ObserveBackup({.namespace_ = "prod",
                            .policy = "db",
                            .result = "completed",
                            .duration_seconds = 12,
                            .bytes_read = 1000,
                            .bytes_uploaded = 250});
  m.backup().SetVaultFigures("prod", "main", 4000, 1000, 4, true);
  std::string text = m.Exposition();
  EXPECT_TRUE(Contains(text, R"(lifeboat_reconcile_total{controller="backuppolicy",result="success"} 1)"));
  EXPECT_TRUE(Contains(text, R"(lifeboat_reconcile_errors_total{controller="backuppolicy"} 1)"));
  EXPECT_TRUE(Contains(text, R"(lifeboat_reconcile_duration_seconds_count{controller="backuppolicy"} 2)"));
  EXPECT_TRUE(Contains(text, R"(lifeboat_workqueue_depth{controller="backuppolicy"} 3)"));
  EXPECT_TRUE(Contains(text, R"(lifeboat_backup_total{namespace="prod",policy="db",result="completed"} 1)"));
  EXPECT_TRUE(Contains(text, R"(lifeboat_vault_uploaded_bytes_total{namespace="prod",policy="db"} 250)"));
  EXPECT_TRUE(Contains(text, R"(lifeboat_vault_dedup_ratio{namespace="prod",vault="main"} 4)"));
  m.backup().RemovePolicy("prod", "db");
  m.backup().RemoveVault("prod", "main");
  text = m.Exposition();
  EXPECT_FALSE(Contains(text, R"(policy="db")"));
  EXPECT_FALSE(Contains(text, R"(vault="main")"));
}

TEST(MetricsTest, ServedOverHttpAndAcceptedByPromtool) {
  Metrics m;
  m.rpo().SetTarget(kDb, 3600);
  m.rpo().SetLastRecoveryPoint(kDb, 1.7e9);
  m.reconcile().ObserveReconcile("vault", "success", 0.01);
  m.replication().SetLag("prod", "web", 12.5);
  m.replication().ObserveFailoverRto("prod", "shop", "Planned", 8);
  auto server = MetricsServer::Start(m, "127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  ASSERT_GT((*server)->port(), 0);
  auto response = HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(response->status, 200);
  EXPECT_TRUE(Contains(response->body, "lifeboat_replication_lag_seconds"));
  auto promtool = RunCommand("promtool check metrics", response->body);
  EXPECT_EQ(promtool.exit_code, 0) << promtool.output;
}

TEST(MetricsTest, ApiServerRequestsAndFiguresReadAtScrape) {
  Metrics m;
  m.apiserver().ObserveRequest("LIST", "lifeboat.dev", "backuppolicies", "", 200, 0.002);
  m.apiserver().ObserveRequest("LIST", "lifeboat.dev", "backuppolicies", "", 200, 0.003);
  m.apiserver().ObserveRequest("PUT", "lifeboat.dev", "backuppolicies", "status", 409, 0.001);
  m.apiserver().ObserveRequest("WATCH", "", "configmaps", "", 200, 30);
  std::string text = m.Exposition();
  EXPECT_TRUE(Contains(
      text,
      R"(lifeboat_apiserver_request_total{code="200",group="lifeboat.dev",resource="backuppolicies",subresource="",verb="LIST"} 2)"))
      << text;
  EXPECT_TRUE(Contains(
      text,
      R"(lifeboat_apiserver_request_total{code="409",group="lifeboat.dev",resource="backuppolicies",subresource="status",verb="PUT"} 1)"));
  EXPECT_TRUE(Contains(
      text,
      R"(lifeboat_apiserver_request_total{code="200",group="",resource="configmaps",subresource="",verb="WATCH"} 1)"));
  EXPECT_TRUE(
      Contains(text, R"(lifeboat_apiserver_request_duration_seconds_count{verb="LIST"} 2)"));
  // A watch lasts as long as its client: counted, not timed.
  EXPECT_FALSE(
      Contains(text, R"(lifeboat_apiserver_request_duration_seconds_count{verb="WATCH"})"));
  EXPECT_FALSE(Contains(text, "lifeboat_apiserver_connections"));  // no source yet

  int reads = 0;
  m.apiserver().SetFiguresSource([&reads] {
    ++reads;
    return ApiServerFigures{.connections = 3,
                            .watch_streams = 2,
                            .registered_watchers = 5,
                            .watch_backlog_bytes = 4096};
  });
  auto server = MetricsServer::Start(m, "127.0.0.1:0");
  ASSERT_TRUE(server.ok()) << server.status();
  auto response = HttpGet((*server)->port(), "/metrics");
  ASSERT_TRUE(response.ok()) << response.status();
  EXPECT_EQ(reads, 1);
  for (const char* line : {"lifeboat_apiserver_connections 3", "lifeboat_apiserver_watch_streams 2",
                           "lifeboat_apiserver_registered_watchers 5",
                           "lifeboat_apiserver_watch_backlog_bytes 4096"}) {
    EXPECT_TRUE(Contains(response->body, line)) << line << "\n" << response->body;
  }
  EXPECT_TRUE(Contains(response->body, "lifeboat_apiserver_request_total{"));
  auto promtool = RunCommand("promtool check metrics", response->body);
  EXPECT_EQ(promtool.exit_code, 0) << promtool.output;
  m.apiserver().SetFiguresSource(nullptr);
  EXPECT_FALSE(Contains(m.Exposition(), "lifeboat_apiserver_connections"));
}

TEST(MetricsTest, BadBindAddressIsAClearError) {
  Metrics m;
  auto server = MetricsServer::Start(m, "256.0.0.1:99999");
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("--metrics-bind-address"), std::string::npos);
}

}  // namespace
}  // namespace lifeboat::metrics
