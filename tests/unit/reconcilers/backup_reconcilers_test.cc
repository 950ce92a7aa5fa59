// The backup reconcilers end to end in one process: the real embedded API server (HTTPS on
// 127.0.0.1), the REST client, the Operator with its job runner, real vaults and volumes in a
// temp dir and real hooks. Only the clock is fake, so schedules run when the test says.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/clock.h"
#include "engines/snapshot/snapshot.h"
#include "engines/storage/local_blob_store.h"
#include "engines/vault/vault.h"
#include "metrics/metrics.h"
#include "operator/operator.h"
#include "reconcilers/backup/backup_policy_reconciler.h"
#include "reconcilers/backup/common.h"
#include "tests/s3/s3_test_server.h"
#include "tests/unit/controller/api_server_fixture.h"

namespace lifeboat::reconcilers::backup {
namespace {

namespace fs = std::filesystem;
using controller::testing::ApiServerFixture;
using controller::testing::WaitFor;

constexpr char kNs[] = "team-a";
constexpr char kPassphrase[] = "correct horse battery staple";

void Write(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << content;
}

std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class BackupReconcilersTest : public ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    clock_.Set(std::chrono::time_point_cast<std::chrono::seconds>(SystemClock().Now()));
    client_ = NewClient();
    ASSERT_NE(client_, nullptr);
    CreateNamespace(*client_, kNs);
    root_ = dir_.path() / "site";
    Write(root_ / "volumes/app/config/app.conf", "listen = 8080\n");
    Write(root_ / "volumes/app/data/blob.bin", std::string(300 << 10, 'x'));
    Write(root_ / "volumes/db/pg/base.dat", "rows\n");
    CreateSecret("vault-key", kPassphrase);
  }

  void TearDown() override {
    if (op_) op_->Stop();
    op_.reset();
    ApiServerFixture::TearDown();
  }

  void StartOperator() {
    OperatorOptions options;
    options.manager.clock = &clock_;
    options.manager.workers = 2;
    options.metrics = &metrics_;
    options.data_dir = dir_.path() / "engines";
    auto op = Operator::New(*client_, options);
    ASSERT_TRUE(op.ok()) << op.status();
    op_ = std::move(*op);
    ASSERT_TRUE(op_->Start().ok());
  }

  void CreateSecret(const std::string& name, const std::string& value) {
    Json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", name}, {"namespace", kNs}}},
                   {"stringData", {{"key", value}}}};
    auto made = client_->Create(kSecrets, secret);
    ASSERT_TRUE(made.ok()) << made.status();
  }

  void CreateVault(const std::string& name, const fs::path& path,
                   const std::string& secret = "vault-key") {
    Json vault = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                  {"kind", "Vault"},
                  {"metadata", {{"name", name}, {"namespace", kNs}}},
                  {"spec",
                   {{"storage", {{"filesystem", {{"path", path.string()}}}}},
                    {"encryptionKeySecretRef", {{"name", secret}, {"key", "key"}}}}}};
    auto made = client_->Create(kVaults, vault);
    ASSERT_TRUE(made.ok()) << made.status();
  }

  Json Policy(const std::string& name, const std::string& vault, Json extra = Json::object()) {
    Json policy = {
        {"apiVersion", "lifeboat.dev/v1alpha1"},
        {"kind", "BackupPolicy"},
        {"metadata", {{"name", name}, {"namespace", kNs}}},
        {"spec",
         {{"vaultRef", {{"name", vault}}},
          {"volumes", Json::array({{{"name", "app"}, {"path", (root_ / "volumes/app").string()}},
                                   {{"name", "db"}, {"path", (root_ / "volumes/db").string()}}})},
          {"schedule", {{"cron", "*/1 * * * *"}}},
          {"rpo", "2m"}}}};
    policy["spec"].update(extra);
    return policy;
  }

  void Create(const controller::ResourceRef& resource, const Json& object) {
    auto made = client_->Create(resource, object);
    ASSERT_TRUE(made.ok()) << made.status();
  }

  Json OnDemandPoint(const std::string& name, const std::string& policy,
                     const std::string& consistency = "Crash") {
    return {{"apiVersion", "lifeboat.dev/v1alpha1"},
            {"kind", "RecoveryPoint"},
            {"metadata", {{"name", name}, {"namespace", kNs}}},
            {"spec", {{"policyRef", {{"name", policy}}}, {"consistency", consistency}}}};
  }

  Json Get(const controller::ResourceRef& resource, const std::string& name) {
    auto got = client_->Get(resource, ObjectKey{kNs, name});
    if (!got.ok() && !IsNotFound(got.status())) ADD_FAILURE() << got.status();
    return got.ok() ? *got : Json();
  }

  std::string Str(const Json& object, const char* pointer) {
    if (object.is_null()) return "";
    return object.value(Json::json_pointer(pointer), "");
  }

  // The Ready (or other) condition's reason, "" while absent.
  std::string Reason(const Json& object, const std::string& type = "Ready") {
    if (object.is_null()) return "";
    for (const Json& c : object.value("/status/conditions"_json_pointer, Json::array())) {
      if (c.value("type", "") == type) return c.value("reason", "");
    }
    return "";
  }

  bool WaitPhase(const controller::ResourceRef& resource, const std::string& name,
                 const std::string& phase,
                 std::chrono::seconds timeout = std::chrono::seconds(30)) {
    bool ok = WaitFor([&] { return Str(Get(resource, name), "/status/phase") == phase; }, timeout);
    if (!ok)
      ADD_FAILURE() << name << " never reached " << phase << ": " << Get(resource, name).dump(1);
    return ok;
  }

  std::vector<Json> PointsOf(const std::string& policy) {
    controller::ListOptions options;
    options.label_selector = std::string(kPolicyLabel) + "=" + policy;
    auto list = client_->List(kRecoveryPoints, kNs, options);
    return list.ok() ? list->items : std::vector<Json>{};
  }

  size_t VaultPoints(const fs::path& path) {
    auto store = storage::LocalBlobStore::Open(path, false);
    if (!store.ok()) return 0;
    auto repo = vault::Repository::Open(**store, {kPassphrase, ""});
    if (!repo.ok()) return 0;
    auto points = vault::ListPoints(**repo);
    return points.ok() ? points->size() : 0;
  }

  Clock::TimePoint NextBackup(const std::string& policy) {
    Clock::TimePoint t{};
    ParseRfc3339(Str(Get(kBackupPolicies, policy), "/status/nextBackupTime"), &t);
    return t;
  }

  FakeClock clock_;
  metrics::Metrics metrics_;
  std::unique_ptr<controller::KubeClient> client_;
  std::unique_ptr<Operator> op_;
  fs::path root_;
};

TEST(ScheduledPointNameTest, PolicyAndUtcTime) {
  Clock::TimePoint t;
  ASSERT_TRUE(ParseRfc3339("2026-11-21T09:30:00Z", &t));
  EXPECT_EQ(ScheduledPointName("app-backup", t), "app-backup-20261121-093000");
  std::string long_name(250, 'a');
  std::string name = ScheduledPointName(long_name, t);
  EXPECT_LE(name.size(), 253u);
  EXPECT_EQ(name.substr(name.size() - 16), "-20261121-093000");
}

TEST_F(BackupReconcilersTest, ScheduleBacksUpKeepsRetentionAndRestoresVerifiedBytes) {
  StartOperator();
  const fs::path vault_path = root_ / "vault";
  CreateVault("main", vault_path);
  Create(kBackupPolicies, Policy("app", "main", {{"retention", {{"keepLast", 2}}}}));
  ASSERT_TRUE(WaitFor([&] { return Reason(Get(kVaults, "main")) == "Ready"; }))
      << Get(kVaults, "main").dump(1);
  ASSERT_TRUE(WaitFor([&] { return Reason(Get(kBackupPolicies, "app")) == "Scheduled"; }))
      << Get(kBackupPolicies, "app").dump(1);
  EXPECT_EQ(Reason(Get(kBackupPolicies, "app"), "RPOMet"), "NoRecoveryPointYet");

  // Four scheduled runs, one a minute; retention keeps the newest two.
  std::vector<std::string> names;
  for (int run = 0; run < 4; ++run) {
    Clock::TimePoint next = NextBackup("app");
    ASSERT_NE(next, Clock::TimePoint{});
    clock_.Set(next + std::chrono::seconds(1));
    std::string expected = ScheduledPointName("app", next);
    names.push_back(expected);
    ASSERT_TRUE(WaitPhase(kRecoveryPoints, expected, "Completed"));
    ASSERT_TRUE(WaitFor(
        [&] { return Str(Get(kBackupPolicies, "app"), "/status/lastRecoveryPoint") == expected; }));
  }
  ASSERT_TRUE(WaitFor([&] { return PointsOf("app").size() == 2; }))
      << PointsOf("app").size() << " recovery points";
  EXPECT_TRUE(Get(kRecoveryPoints, names[0]).is_null());
  EXPECT_FALSE(Get(kRecoveryPoints, names[3]).is_null());
  ASSERT_TRUE(WaitFor([&] { return VaultPoints(vault_path) == 2; }))
      << "deleted points leave the vault: " << VaultPoints(vault_path);

  Json policy = Get(kBackupPolicies, "app");
  EXPECT_EQ(Reason(policy, "RPOMet"), "WithinObjective") << policy.dump(1);
  EXPECT_EQ(policy["status"]["recoveryPointCount"], 2);
  Json point = Get(kRecoveryPoints, names[3]);
  EXPECT_EQ(point["status"]["files"], 3);
  EXPECT_EQ(point["status"]["progress"]["percent"], 100.0);
  EXPECT_EQ(Str(point, "/status/consistencyAchieved"), "Crash");

  std::string exposition = metrics_.Exposition();
  EXPECT_NE(exposition.find("lifeboat_rpo_target_seconds{kind=\"BackupPolicy\",namespace=\"team-"
                            "a\",policy=\"app\"} 120"),
            std::string::npos)
      << exposition;
  EXPECT_NE(exposition.find("lifeboat_last_recovery_point_timestamp_seconds{kind=\"BackupPolicy\""),
            std::string::npos);

  // Restore one file of one volume; the target keeps what overwrite says.
  const fs::path target = dir_.path() / "restore";
  Write(root_ / "volumes/app/config/app.conf", "listen = 9090 (changed after the backup)\n");
  Json restore = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                  {"kind", "Restore"},
                  {"metadata", {{"name", "one-file"}, {"namespace", kNs}}},
                  {"spec",
                   {{"source", {{"policyRef", {{"name", "app"}}}}},
                    {"volumes", {"app"}},
                    {"paths", {"config/app.conf"}},
                    {"target", {{"path", target.string()}}}}}};
  Create(kRestores, restore);
  ASSERT_TRUE(WaitPhase(kRestores, "one-file", "Completed"));
  Json done = Get(kRestores, "one-file");
  EXPECT_EQ(done["status"]["verified"], true) << done.dump(1);
  EXPECT_EQ(done["status"]["tier"], "Vault");
  EXPECT_EQ(Read(target / "app/config/app.conf"), "listen = 8080\n");
  EXPECT_FALSE(fs::exists(target / "app/data")) << "only the listed path";
  EXPECT_FALSE(fs::exists(target / "db"));
  for (const auto& e : fs::directory_iterator(target)) {
    EXPECT_EQ(e.path().filename().string().find(".lifeboat-restore"), std::string::npos);
  }

  Write(target / "app/config/app.conf", "edited in the target\n");
  restore["metadata"]["name"] = "keep-existing";
  restore["spec"]["paths"] = Json::array();
  Create(kRestores, restore);
  ASSERT_TRUE(WaitPhase(kRestores, "keep-existing", "Completed"));
  EXPECT_EQ(Read(target / "app/config/app.conf"), "edited in the target\n");
  EXPECT_EQ(Read(target / "app/data/blob.bin"), std::string(300 << 10, 'x'));
  EXPECT_NE(Str(Get(kRestores, "keep-existing"), "/status/message").find("kept 1 existing"),
            std::string::npos);

  restore["metadata"]["name"] = "replace";
  restore["spec"]["overwrite"] = "Always";
  Create(kRestores, restore);
  ASSERT_TRUE(WaitPhase(kRestores, "replace", "Completed"));
  EXPECT_EQ(Read(target / "app/config/app.conf"), "listen = 8080\n");
  EXPECT_NE(metrics_.Exposition().find("lifeboat_restore_total"), std::string::npos);
}

TEST_F(BackupReconcilersTest, AfterDowntimeOneCatchUpRunNotAStorm) {
  CreateVault("main", root_ / "vault");
  Create(kBackupPolicies, Policy("app", "main"));
  // The controller was down for ten scheduled runs.
  clock_.Advance(std::chrono::minutes(10) + std::chrono::seconds(5));
  StartOperator();
  ASSERT_TRUE(WaitFor([&] { return PointsOf("app").size() == 1; }));
  std::string name = PointsOf("app")[0]["metadata"]["name"];
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, name, "Completed"));
  ASSERT_TRUE(WaitFor(
      [&] { return Str(Get(kBackupPolicies, "app"), "/status/lastRecoveryPoint") == name; }));
  EXPECT_EQ(PointsOf("app").size(), 1u) << "exactly one catch-up run";
  EXPECT_GT(NextBackup("app"), clock_.Now());
  Clock::TimePoint scheduled{};
  ASSERT_TRUE(ParseRfc3339(Str(Get(kRecoveryPoints, name), "/spec/scheduledTime"), &scheduled));
  EXPECT_GT(scheduled, clock_.Now() - std::chrono::minutes(1)) << "the latest missed time";
}

TEST_F(BackupReconcilersTest, HooksDecideConsistencyAndThePostHookAlwaysRuns) {
  StartOperator();
  CreateVault("main", root_ / "vault");
  const fs::path post_marker = dir_.path() / "post-ran";
  Json hooks = {
      {"consistency",
       {{"type", "Application"},
        {"preHook", {{"exec", {{"command", {"sh", "-c", "echo frozen-db-failed >&2; exit 3"}}}}}},
        {"postHook", {{"exec", {{"command", {"touch", post_marker.string()}}}}}},
        {"onError", "Fail"}}},
      {"suspend", true}};
  Create(kBackupPolicies, Policy("strict", "main", hooks));
  hooks["consistency"]["onError"] = "Continue";
  Create(kBackupPolicies, Policy("lenient", "main", hooks));
  Json ok_hooks = hooks;
  ok_hooks["consistency"]["preHook"]["exec"]["command"] = {"true"};
  Create(kBackupPolicies, Policy("good", "main", ok_hooks));

  Create(kRecoveryPoints, OnDemandPoint("strict-1", "strict", "Application"));
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "strict-1", "Failed"));
  Json failed = Get(kRecoveryPoints, "strict-1");
  EXPECT_EQ(Reason(failed), "PreHookFailed");
  EXPECT_NE(Str(failed, "/status/message").find("exited with code 3"), std::string::npos)
      << failed.dump(1);
  EXPECT_TRUE(fs::exists(post_marker)) << "the postHook runs even when the preHook failed";
  EXPECT_TRUE(Str(failed, "/status/snapshotID").empty());

  fs::remove(post_marker);
  Create(kRecoveryPoints, OnDemandPoint("lenient-1", "lenient", "Application"));
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "lenient-1", "PartiallyFailed"));
  Json partial = Get(kRecoveryPoints, "lenient-1");
  EXPECT_EQ(Str(partial, "/status/consistencyAchieved"), "Crash");
  EXPECT_FALSE(Str(partial, "/status/snapshotID").empty()) << "the data was still backed up";
  EXPECT_TRUE(fs::exists(post_marker));

  Create(kRecoveryPoints, OnDemandPoint("good-1", "good", "Application"));
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "good-1", "Completed"));
  EXPECT_EQ(Str(Get(kRecoveryPoints, "good-1"), "/status/consistencyAchieved"), "Application");

  // Each run left Events a person can read.
  auto events = client_->List(controller::EventResource(), kNs, {});
  ASSERT_TRUE(events.ok());
  std::set<std::string> reasons;
  for (const Json& e : events->items) reasons.insert(e.value("reason", ""));
  EXPECT_TRUE(reasons.count("BackupFailed"));
  EXPECT_TRUE(reasons.count("BackupPartiallyFailed"));
  EXPECT_TRUE(reasons.count("BackupCompleted"));
}

TEST_F(BackupReconcilersTest, BadReferencesEndInReasonsAndOthersKeepWorking) {
  StartOperator();
  CreateVault("main", root_ / "vault");
  CreateVault("no-secret", root_ / "vault2", "missing-secret");
  Json broken_volume = Policy("broken-volume", "main", {{"suspend", true}});
  broken_volume["spec"]["volumes"][1]["path"] = (root_ / "volumes/nope").string();
  Create(kBackupPolicies, broken_volume);
  Create(kBackupPolicies, Policy("no-vault", "missing-vault"));
  Create(kBackupPolicies, Policy("fine", "main", {{"suspend", true}}));

  ASSERT_TRUE(WaitFor([&] { return Reason(Get(kVaults, "no-secret")) == "SecretNotFound"; }))
      << Get(kVaults, "no-secret").dump(1);
  ASSERT_TRUE(WaitFor([&] { return Reason(Get(kBackupPolicies, "no-vault")) == "VaultNotFound"; }))
      << Get(kBackupPolicies, "no-vault").dump(1);
  EXPECT_NE(Str(Get(kVaults, "no-secret"), "/status/conditions/0/message").find("missing-secret"),
            std::string::npos);

  Create(kRecoveryPoints, OnDemandPoint("bad-1", "broken-volume"));
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "bad-1", "Failed"));
  Json bad = Get(kRecoveryPoints, "bad-1");
  EXPECT_EQ(Reason(bad), "VolumeUnreadable");
  EXPECT_NE(Str(bad, "/status/message").find("volume db"), std::string::npos) << bad.dump(1);
  EXPECT_NE(Str(bad, "/status/message").find("No such file"), std::string::npos);

  // A vault but no volumes (and no policy): the API refuses the point, naming the spec.
  auto refused = client_->Create(kRecoveryPoints,
                                 {{"apiVersion", "lifeboat.dev/v1alpha1"},
                                  {"kind", "RecoveryPoint"},
                                  {"metadata", {{"name", "nothing"}, {"namespace", kNs}}},
                                  {"spec", {{"vaultRef", {{"name", "main"}}}}}});
  EXPECT_EQ(refused.status().code(), StatusCode::kInvalidArgument) << refused.status();
  EXPECT_NE(refused.status().message().find("spec"), std::string::npos) << refused.status();

  Create(kRecoveryPoints, OnDemandPoint("fine-1", "fine"));
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "fine-1", "Completed"));

  // A wrong key: the vault exists with another passphrase.
  CreateSecret("other-key", "not the passphrase");
  CreateVault("wrong-key", root_ / "vault", "other-key");
  ASSERT_TRUE(WaitFor([&] { return Reason(Get(kVaults, "wrong-key")) == "WrongKey"; }))
      << Get(kVaults, "wrong-key").dump(1);
}

TEST_F(BackupReconcilersTest, UnreachableStorageMakesTheVaultNotReadyAndPoliciesSayWhy) {
  StartOperator();
  const fs::path vault_path = root_ / "vault";
  CreateVault("main", vault_path);
  Create(kBackupPolicies, Policy("app", "main", {{"suspend", true}}));
  ASSERT_TRUE(WaitFor([&] { return Reason(Get(kVaults, "main")) == "Ready"; }));
  // The storage goes away (unmounted, moved): never re-initialised as an empty vault.
  fs::rename(vault_path, root_ / "vault-moved");
  clock_.Advance(std::chrono::seconds(61));
  ASSERT_TRUE(WaitFor([&] { return Reason(Get(kVaults, "main")) == "StorageUnavailable"; },
                      std::chrono::seconds(30)))
      << Get(kVaults, "main").dump(1);
  EXPECT_NE(Str(Get(kVaults, "main"), "/status/conditions/0/message").find("does not exist"),
            std::string::npos);
  EXPECT_FALSE(fs::exists(vault_path / "config"));
  ASSERT_TRUE(WaitFor([&] { return Reason(Get(kBackupPolicies, "app")) == "VaultNotReady"; }))
      << Get(kBackupPolicies, "app").dump(1);
  EXPECT_NE(
      metrics_.Exposition().find("lifeboat_vault_ready{namespace=\"team-a\",vault=\"main\"} 0"),
      std::string::npos)
      << metrics_.Exposition();
  // It comes back by itself.
  fs::rename(root_ / "vault-moved", vault_path);
  clock_.Advance(std::chrono::seconds(61));
  ASSERT_TRUE(
      WaitFor([&] { return Reason(Get(kVaults, "main")) == "Ready"; }, std::chrono::seconds(30)));
}

TEST_F(BackupReconcilersTest, ARunInterruptedByARestartRunsAgainAndDeletionFreesItsData) {
  const fs::path vault_path = root_ / "vault";
  CreateVault("main", vault_path);
  Create(kBackupPolicies, Policy("app", "main", {{"suspend", true}}));
  Create(kRecoveryPoints, OnDemandPoint("interrupted", "app"));
  // What a controller killed mid-run leaves: phase Running, no result.
  ASSERT_TRUE(PatchStatus(*client_, kRecoveryPoints, ObjectKey{kNs, "interrupted"},
                          {{"phase", "Running"}, {"startTime", FormatRfc3339(clock_.Now())}})
                  .ok());
  StartOperator();
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "interrupted", "Completed"));
  Json point = Get(kRecoveryPoints, "interrupted");
  EXPECT_EQ(VaultPoints(vault_path), 1u);
  auto events = client_->List(controller::EventResource(), kNs, {});
  ASSERT_TRUE(events.ok());
  bool resumed = false;
  for (const Json& e : events->items) {
    resumed |= e.value("message", "").find("interrupted resumed") != std::string::npos;
  }
  EXPECT_TRUE(resumed);

  ASSERT_TRUE(client_->Delete(kRecoveryPoints, ObjectKey{kNs, "interrupted"}).ok());
  ASSERT_TRUE(WaitFor([&] { return Get(kRecoveryPoints, "interrupted").is_null(); }));
  EXPECT_EQ(VaultPoints(vault_path), 0u);
}

TEST_F(BackupReconcilersTest, SecondaryCopyServesRestoresWhenThePrimaryIsGone) {
  StartOperator();
  const fs::path primary = root_ / "vault", secondary = dir_.path() / "other-site/vault";
  Json vault = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                {"kind", "Vault"},
                {"metadata", {{"name", "geo"}, {"namespace", kNs}}},
                {"spec",
                 {{"storage", {{"filesystem", {{"path", primary.string()}}}}},
                  {"secondary", {{"filesystem", {{"path", secondary.string()}}}}},
                  {"encryptionKeySecretRef", {{"name", "vault-key"}, {"key", "key"}}}}}};
  Create(kVaults, vault);
  Create(kBackupPolicies, Policy("app", "geo", {{"suspend", true}}));
  Create(kRecoveryPoints, OnDemandPoint("geo-1", "app"));
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "geo-1", "Completed"));
  // The new point reaches the secondary by itself; the lag goes back to 0.
  ASSERT_TRUE(WaitFor([&] { return VaultPoints(secondary) == 1; }, std::chrono::seconds(30)))
      << Get(kVaults, "geo").dump(1);
  ASSERT_TRUE(WaitFor(
      [&] {
        clock_.Advance(std::chrono::milliseconds(100));
        Json v = Get(kVaults, "geo");
        return !v.is_null() && v.value("/status/secondaryLagSeconds"_json_pointer, -1.0) == 0.0;
      },
      std::chrono::seconds(30)))
      << Get(kVaults, "geo").dump(1);
  EXPECT_NE(metrics_.Exposition().find(
                "lifeboat_vault_secondary_lag_seconds{namespace=\"team-a\",vault=\"geo\"} 0"),
            std::string::npos);

  // The primary site is lost: the restore reads the secondary and says so.
  fs::rename(primary, root_ / "vault-lost");
  const fs::path target = dir_.path() / "from-secondary";
  Create(kRestores, {{"apiVersion", "lifeboat.dev/v1alpha1"},
                     {"kind", "Restore"},
                     {"metadata", {{"name", "dr"}, {"namespace", kNs}}},
                     {"spec",
                      {{"source", {{"recoveryPointRef", {{"name", "geo-1"}}}}},
                       {"target", {{"path", target.string()}}}}}});
  ASSERT_TRUE(WaitPhase(kRestores, "dr", "Completed"));
  EXPECT_NE(Str(Get(kRestores, "dr"), "/status/message").find("read from the secondary"),
            std::string::npos)
      << Get(kRestores, "dr").dump(1);
  EXPECT_EQ(Read(target / "app/data/blob.bin"), Read(root_ / "volumes/app/data/blob.bin"));
}

TEST_F(BackupReconcilersTest, AnImmutablePointIsNotDeletedBeforeItsLockExpires) {
  StartOperator();
  const fs::path path = root_ / "vault";
  Json vault = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                {"kind", "Vault"},
                {"metadata", {{"name", "locked"}, {"namespace", kNs}}},
                {"spec",
                 {{"storage", {{"filesystem", {{"path", path.string()}}}}},
                  {"immutability", {{"days", 1}}},
                  {"encryptionKeySecretRef", {{"name", "vault-key"}, {"key", "key"}}}}}};
  Create(kVaults, vault);
  Create(kBackupPolicies, Policy("app", "locked", {{"suspend", true}}));
  Create(kRecoveryPoints, OnDemandPoint("kept", "app"));
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "kept", "Completed"));
  ASSERT_TRUE(fs::exists(path / "retention")) << Get(kRecoveryPoints, "kept").dump(1);
  // The API refuses the deletion, saying until when.
  Status refused = client_->Delete(kRecoveryPoints, ObjectKey{kNs, "kept"});
  EXPECT_EQ(refused.code(), StatusCode::kPermissionDenied) << refused;
  EXPECT_NE(refused.message().find("immutable until"), std::string::npos) << refused;
  // Without the annotation (someone removed it), the vault's ledger still holds the data: the
  // deletion is deferred until the lock expires.
  ASSERT_TRUE(client_
                  ->Patch(kRecoveryPoints, ObjectKey{kNs, "kept"}, controller::PatchType::kMerge,
                          {{"metadata", {{"annotations", {{kImmutableUntilAnnotation, nullptr}}}}}})
                  .ok());
  ASSERT_TRUE(client_->Delete(kRecoveryPoints, ObjectKey{kNs, "kept"}).ok());
  ASSERT_TRUE(WaitFor([&] {
    return Str(Get(kRecoveryPoints, "kept"), "/status/message").find("deletion deferred") !=
           std::string::npos;
  })) << Get(kRecoveryPoints, "kept").dump(1);
  EXPECT_NE(Str(Get(kRecoveryPoints, "kept"), "/status/message").find("immutable until"),
            std::string::npos);
  EXPECT_EQ(VaultPoints(path), 1u) << "the locked point stays in the vault";
  // A day later the lock has expired and the deletion completes by itself.
  clock_.Advance(std::chrono::hours(25));
  ASSERT_TRUE(
      WaitFor([&] { return Get(kRecoveryPoints, "kept").is_null(); }, std::chrono::seconds(30)))
      << Get(kRecoveryPoints, "kept").dump(1);
  EXPECT_EQ(VaultPoints(path), 0u);
}

TEST_F(BackupReconcilersTest, AVaultInAnS3BucketBacksUpAndRestores) {
  auto server = lifeboat::testing::S3TestServer::Start();
  if (!server.ok()) GTEST_SKIP() << "S3 test server unavailable: " << server.status();
  Json credentials = {{"apiVersion", "v1"},
                      {"kind", "Secret"},
                      {"metadata", {{"name", "s3-credentials"}, {"namespace", kNs}}},
                      {"stringData",
                       {{"accessKeyID", lifeboat::testing::S3TestServer::kAccessKeyId},
                        {"secretAccessKey", lifeboat::testing::S3TestServer::kSecretAccessKey}}}};
  Create(kSecrets, credentials);
  credentials["metadata"]["name"] = "s3-wrong";
  credentials["stringData"]["secretAccessKey"] = "not-the-secret";
  Create(kSecrets, credentials);
  auto vault = [&](const std::string& name, const std::string& secret) {
    return Json{{"apiVersion", "lifeboat.dev/v1alpha1"},
                {"kind", "Vault"},
                {"metadata", {{"name", name}, {"namespace", kNs}}},
                {"spec",
                 {{"storage",
                   {{"s3",
                     {{"endpoint", (*server)->endpoint()},
                      {"bucket", lifeboat::testing::S3TestServer::kBucket},
                      {"prefix", "team-a/" + name},
                      {"credentialsSecretRef", {{"name", secret}}}}}}},
                  {"encryptionKeySecretRef", {{"name", "vault-key"}, {"key", "key"}}}}}};
  };
  StartOperator();
  Create(kVaults, vault("cloud", "s3-credentials"));
  Create(kVaults, vault("denied", "s3-wrong"));
  Create(kBackupPolicies, Policy("app", "cloud", {{"suspend", true}}));
  ASSERT_TRUE(WaitFor([&] { return Reason(Get(kVaults, "cloud")) == "Ready"; }))
      << Get(kVaults, "cloud").dump(1);
  ASSERT_TRUE(WaitFor([&] { return Reason(Get(kVaults, "denied")) == "StorageUnavailable"; }))
      << Get(kVaults, "denied").dump(1);
  EXPECT_NE(
      Str(Get(kVaults, "denied"), "/status/conditions/0/message").find("SignatureDoesNotMatch"),
      std::string::npos)
      << "the S3 error code is in the message: " << Get(kVaults, "denied").dump(1);

  Create(kRecoveryPoints, OnDemandPoint("cloud-1", "app"));
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "cloud-1", "Completed"));
  const fs::path target = dir_.path() / "from-s3";
  Create(kRestores, {{"apiVersion", "lifeboat.dev/v1alpha1"},
                     {"kind", "Restore"},
                     {"metadata", {{"name", "from-s3"}, {"namespace", kNs}}},
                     {"spec",
                      {{"source", {{"recoveryPointRef", {{"name", "cloud-1"}}}}},
                       {"target", {{"path", target.string()}}}}}});
  ASSERT_TRUE(WaitPhase(kRestores, "from-s3", "Completed"));
  EXPECT_EQ(Get(kRestores, "from-s3")["status"]["verified"], true);
  EXPECT_EQ(Read(target / "app/data/blob.bin"), Read(root_ / "volumes/app/data/blob.bin"));
  EXPECT_EQ(Read(target / "db/pg/base.dat"), "rows\n");
}

namespace snapshot_tier {

const controller::ResourceRef kSnapshots{"lifeboat.dev", "v1alpha1", "snapshots", "Snapshot", true};

// Every regular file and symlink below `root`: relative path → content.
std::map<std::string, std::string> Tree(const fs::path& root) {
  std::map<std::string, std::string> out;
  for (const auto& e : fs::recursive_directory_iterator(root)) {
    if (e.is_regular_file()) out[e.path().lexically_relative(root).string()] = Read(e.path());
  }
  return out;
}

}  // namespace snapshot_tier

TEST_F(BackupReconcilersTest, ARestoreFromASnapshotIsByteIdenticalToTheVolumeAtSnapshotTime) {
  using snapshot_tier::kSnapshots;
  using snapshot_tier::Tree;
  StartOperator();
  const fs::path volume = root_ / "volumes/app";
  const auto before = Tree(volume);
  Create(kSnapshots, {{"apiVersion", "lifeboat.dev/v1alpha1"},
                      {"kind", "Snapshot"},
                      {"metadata", {{"name", "app-snap"}, {"namespace", kNs}}},
                      {"spec", {{"source", {{"name", "app"}, {"path", volume.string()}}}}}});
  // A Restore created at once waits for the snapshot to be made.
  const fs::path target = root_ / "from-snapshot";
  Json restore = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                  {"kind", "Restore"},
                  {"metadata", {{"name", "from-snap"}, {"namespace", kNs}}},
                  {"spec",
                   {{"source", {{"snapshotRef", {{"name", "app-snap"}}}}},
                    {"target", {{"path", target.string()}}}}}};
  ASSERT_TRUE(WaitFor([&] {
    return Get(kSnapshots, "app-snap").value("/status/readyToUse"_json_pointer, false);
  })) << Get(kSnapshots, "app-snap").dump(1);
  // Changing the source afterwards does not change what the snapshot restores.
  Write(volume / "config/app.conf", "changed after the snapshot\n");
  Create(kRestores, restore);
  ASSERT_TRUE(WaitPhase(kRestores, "from-snap", "Completed"));
  Json done = Get(kRestores, "from-snap");
  EXPECT_EQ(Str(done, "/status/tier"), "Snapshot");
  EXPECT_EQ(done["status"]["verified"], true) << done.dump(1);
  EXPECT_NE(Str(done, "/status/message").find("snapshot tier"), std::string::npos);
  EXPECT_EQ(done["status"]["restoredBytes"], static_cast<int64_t>((300 << 10) + 14));
  EXPECT_EQ(Tree(target / "app"), before);
  for (const auto& e : fs::directory_iterator(target)) {
    EXPECT_EQ(e.path().filename().string().find(".lifeboat-restore"), std::string::npos);
  }

  // A missing Snapshot and a path restore end in clear reasons.
  restore["metadata"]["name"] = "no-snap";
  restore["spec"]["source"]["snapshotRef"]["name"] = "nope";
  Create(kRestores, restore);
  ASSERT_TRUE(WaitPhase(kRestores, "no-snap", "Failed"));
  EXPECT_EQ(Reason(Get(kRestores, "no-snap")), "SnapshotNotFound");
  restore["metadata"]["name"] = "snap-paths";
  restore["spec"]["source"]["snapshotRef"]["name"] = "app-snap";
  restore["spec"]["paths"] = Json::array({"config"});
  Create(kRestores, restore);
  ASSERT_TRUE(WaitPhase(kRestores, "snap-paths", "Failed"));
  EXPECT_NE(Str(Get(kRestores, "snap-paths"), "/status/message").find("paths:"), std::string::npos);
}

TEST_F(BackupReconcilersTest, InstantRestoreKeepsTheNewestPointsSnapshotsAndRestoresFromThem) {
  using snapshot_tier::Tree;
  StartOperator();
  CreateVault("main", root_ / "vault");
  const fs::path app = root_ / "volumes/app";
  // The postHook changes the volume: what the point holds is the frozen state, in both tiers.
  Json extra = {
      {"consistency",
       {{"type", "Application"},
        {"preHook", {{"exec", {{"command", {"true"}}}}}},
        {"postHook",
         {{"exec",
           {{"command",
             {"sh", "-c", "echo after-the-freeze > " + (app / "config/app.conf").string()}}}}}}}},
      {"instantRestore", {{"snapshotRetention", 1}}},
      {"suspend", true}};
  Create(kBackupPolicies, Policy("instant", "main", extra));
  auto stored = [&] {
    auto store = lifeboat::snapshot::SnapshotStore::Open(dir_.path() / "engines/snapshots");
    if (!store.ok()) return size_t{0};
    auto list = (*store)->List();
    return list.ok() ? list->size() : size_t{0};
  };

  const auto first = Tree(app);
  Create(kRecoveryPoints, OnDemandPoint("p1", "instant", "Application"));
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "p1", "Completed"));
  EXPECT_EQ(Str(Get(kRecoveryPoints, "p1"), "/status/consistencyAchieved"), "Application");
  EXPECT_EQ(Read(app / "config/app.conf"), "after-the-freeze\n") << "the postHook ran";
  EXPECT_NE(Get(kRecoveryPoints, "p1")
                .value("/metadata/annotations"_json_pointer, Json::object())
                .value("lifeboat.dev/snapshots", "")
                .find("app="),
            std::string::npos);
  EXPECT_EQ(stored(), 2u) << "one snapshot per volume";

  Write(app / "config/app.conf", "second version\n");
  Write(app / "data/blob.bin", std::string(200 << 10, 'y'));
  const auto second = Tree(app);
  const auto db = Tree(root_ / "volumes/db");
  Create(kRecoveryPoints, OnDemandPoint("p2", "instant", "Application"));
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "p2", "Completed"));
  EXPECT_EQ(stored(), 2u) << "snapshotRetention 1: only the newest point's snapshots";
  EXPECT_TRUE(Get(kRecoveryPoints, "p1")
                  .value("/metadata/annotations"_json_pointer, Json::object())
                  .value("lifeboat.dev/snapshots", "")
                  .empty());

  auto restore = [&](const std::string& name, const std::string& point, const fs::path& target) {
    Create(kRestores, {{"apiVersion", "lifeboat.dev/v1alpha1"},
                       {"kind", "Restore"},
                       {"metadata", {{"name", name}, {"namespace", kNs}}},
                       {"spec",
                        {{"source", {{"recoveryPointRef", {{"name", point}}}}},
                         {"target", {{"path", target.string()}}}}}});
    EXPECT_TRUE(WaitPhase(kRestores, name, "Completed"));
    return Get(kRestores, name);
  };
  Json newest = restore("r2", "p2", root_ / "r2");
  EXPECT_EQ(Str(newest, "/status/tier"), "Snapshot") << newest.dump(1);
  EXPECT_NE(Str(newest, "/status/message").find("snapshot tier"), std::string::npos);
  EXPECT_EQ(newest["status"]["verified"], true);
  EXPECT_EQ(Tree(root_ / "r2/app"), second);
  EXPECT_EQ(Tree(root_ / "r2/db"), db);

  Json older = restore("r1", "p1", root_ / "r1");
  EXPECT_EQ(Str(older, "/status/tier"), "Vault") << older.dump(1);
  EXPECT_EQ(Tree(root_ / "r1/app"), first) << "the vault copy holds the frozen state";

  // Deleting the point deletes its snapshots.
  ASSERT_TRUE(client_->Delete(kRecoveryPoints, ObjectKey{kNs, "p2"}).ok());
  EXPECT_TRUE(WaitFor([&] { return stored() == 0; })) << stored();
  EXPECT_TRUE(WaitFor([&] { return Get(kRecoveryPoints, "p2").is_null(); }));

  // A point whose snapshots left the store (annotation still there) restores from the vault.
  Create(kRecoveryPoints, OnDemandPoint("p3", "instant", "Application"));
  ASSERT_TRUE(WaitPhase(kRecoveryPoints, "p3", "Completed"));
  {
    auto store = lifeboat::snapshot::SnapshotStore::Open(dir_.path() / "engines/snapshots");
    ASSERT_TRUE(store.ok()) << store.status();
    auto list = (*store)->List();
    ASSERT_TRUE(list.ok()) << list.status();
    for (const auto& snap : *list) ASSERT_TRUE((*store)->Delete(snap.id).ok());
  }
  Json gone = restore("r3", "p3", root_ / "r3");
  EXPECT_EQ(Str(gone, "/status/tier"), "Vault") << gone.dump(1);
  EXPECT_EQ(gone["status"]["verified"], true);
}

}  // namespace
}  // namespace lifeboat::reconcilers::backup
