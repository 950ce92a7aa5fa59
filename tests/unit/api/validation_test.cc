#include "api/validation.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/kinds.h"
#include "api/manifest.h"

namespace lifeboat::api {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::IsEmpty;

std::vector<std::string> Messages(const FieldErrors& errors) {
  std::vector<std::string> out;
  for (const FieldError& e : errors) {
    out.push_back(e.ToString());
  }
  return out;
}

TEST(ValidationTest, Dns1123Names) {
  EXPECT_TRUE(IsDns1123Label("db-1"));
  EXPECT_TRUE(IsDns1123Label("a"));
  EXPECT_TRUE(IsDns1123Label(std::string(63, 'a')));
  EXPECT_FALSE(IsDns1123Label(std::string(64, 'a')));
  EXPECT_FALSE(IsDns1123Label("Db"));
  EXPECT_FALSE(IsDns1123Label("-db"));
  EXPECT_FALSE(IsDns1123Label("db-"));
  EXPECT_FALSE(IsDns1123Label("a.b"));
  EXPECT_FALSE(IsDns1123Label(""));
  EXPECT_TRUE(IsDns1123Subdomain("db.prod-1.example"));
  EXPECT_FALSE(IsDns1123Subdomain("db..prod"));
  EXPECT_FALSE(IsDns1123Subdomain(".db"));
  EXPECT_FALSE(IsDns1123Subdomain("db_prod"));
  EXPECT_FALSE(IsDns1123Subdomain(std::string(254, 'a')));
}

TEST(ValidationTest, QualifiedNamesAndLabelValues) {
  FieldErrors errors;
  ValidateQualifiedName("app.kubernetes.io/name", "k", &errors);
  ValidateQualifiedName("lifeboat.dev/cleanup", "k", &errors);
  ValidateQualifiedName("Tier_1", "k", &errors);
  ValidateLabelValue("", "v", &errors);
  ValidateLabelValue("v1.2_x", "v", &errors);
  EXPECT_THAT(errors, IsEmpty());
  ValidateQualifiedName("Bad Prefix/x", "k1", &errors);
  ValidateQualifiedName("x/", "k2", &errors);
  ValidateLabelValue("-x", "v1", &errors);
  EXPECT_EQ(errors.size(), 3u);
}

TEST(ValidationTest, UrlsAndPaths) {
  FieldErrors errors;
  ValidateUrl("https://dr.example.com:9443/x", {"https"}, "u", &errors);
  ValidateUrl("http://127.0.0.1/q", {"http", "https"}, "u", &errors);
  ValidateAbsolutePath("/var/lib", "p", &errors);
  EXPECT_THAT(errors, IsEmpty());
  ValidateUrl("http://x", {"https"}, "u1", &errors);
  ValidateUrl("https://", {"https"}, "u2", &errors);
  ValidateUrl("https://a b", {"https"}, "u3", &errors);
  ValidateAbsolutePath("rel", "p1", &errors);
  ValidateAbsolutePath("", "p2", &errors);
  EXPECT_THAT(Messages(errors),
              ElementsAre("u1: must be a URL starting with https://, got \"http://x\"",
                          "u2: URL \"https://\" has no host",
                          "u3: URL \"https://a b\" contains spaces or control characters",
                          "p1: must be an absolute path, got \"rel\"", "p2: required"));
}

TEST(ValidationTest, ValidateObjectDispatchesOnApiVersionAndKind) {
  EXPECT_THAT(Messages(ValidateObject(Json::parse(R"({"kind":"Vault"})"))),
              ElementsAre("apiVersion: required"));
  EXPECT_THAT(Messages(ValidateObject(Json::parse(R"({"apiVersion":"lifeboat.dev/v1alpha1"})"))),
              ElementsAre("kind: required"));
  EXPECT_THAT(Messages(ValidateObject(Json::parse(R"({"apiVersion":5,"kind":"Vault"})"))),
              ElementsAre("apiVersion: must be a non-empty string"));
  EXPECT_THAT(Messages(ValidateObject(Json::parse(R"({"apiVersion":"apps/v1","kind":"Deployment"})"))),
              ElementsAre(HasSubstr("apiVersion: unknown apiVersion \"apps/v1\" (kind \"Deployment\")")));
  EXPECT_THAT(Messages(ValidateObject(Json::parse(R"({"apiVersion":"lifeboat.dev/v1alpha1","kind":"Backup"})"))),
              ElementsAre(HasSubstr("kind: unknown kind \"Backup\" in lifeboat.dev/v1alpha1 (known: Vault, BackupPolicy")));
  EXPECT_THAT(Messages(ValidateObject(Json("text"))),
              ElementsAre("a manifest must be an object (a map), got string"));
}

TEST(ValidationTest, CoreObjectsGetMetadataChecksOnly) {
  EXPECT_THAT(ValidateObject(Json::parse(R"({"apiVersion":"v1","kind":"Secret",
      "metadata":{"name":"k","namespace":"default"},"type":"Opaque","data":{"a":"YQ=="}})")),
              IsEmpty());
  EXPECT_THAT(Messages(ValidateObject(Json::parse(R"({"apiVersion":"v1","kind":"Namespace",
      "metadata":{"name":"x","namespace":"y"}})"))),
              ElementsAre("metadata.namespace: must be empty: this kind is cluster-scoped"));
  EXPECT_THAT(Messages(ValidateObject(Json::parse(R"({"apiVersion":"v1","kind":"ConfigMap"})"))),
              ElementsAre("metadata: required"));
}

TEST(ValidationTest, ReportsDecodeAndSemanticErrorsTogetherWithoutDuplicates) {
  Json j = Json::parse(R"({
    "apiVersion": "lifeboat.dev/v1alpha1", "kind": "BackupPolicy",
    "metadata": {"name": "db"},
    "spec": {"vaultRef": {"name": "Main"}, "volumes": [{"name": "a", "path": "rel"}],
             "schedule": {"cron": "0 0 31 2 *"}, "retention": {"daily": "x", "weekly": -1}}})");
  EXPECT_THAT(Messages(ValidateObject(j)),
              ElementsAre("spec.retention.daily: must be an integer, got string",
                          HasSubstr("spec.vaultRef.name: \"Main\" is not a DNS-1123 subdomain"),
                          "spec.volumes[0].path: must be an absolute path, got \"rel\"",
                          HasSubstr("spec.schedule.cron: cron \"0 0 31 2 *\" never fires"),
                          "spec.retention.weekly: must be >= 0, got -1"));
}

TEST(ValidationTest, VaultChunkingOrder) {
  Vault vault;
  vault.metadata.name = "v";
  vault.spec.storage.filesystem = FilesystemStorage{"/v"};
  vault.spec.encryption_key_secret_ref = {"k", "passphrase"};
  vault.spec.chunking = ChunkingSpec{};
  vault.spec.chunking->max_size = Quantity("256Ki");  // below the default avgSize 1Mi
  EXPECT_THAT(Messages(Validate(vault)),
              ElementsAre("spec.chunking.maxSize: must be >= avgSize (262144 < 1048576 bytes)"));
  vault.spec.chunking->avg_size = Quantity("128Ki");
  vault.spec.chunking->min_size = Quantity("64Ki");
  EXPECT_THAT(Validate(vault), IsEmpty());
}

TEST(ValidationTest, RecoveryPlanPolicyInOneGroupOnly) {
  RecoveryPlan plan;
  plan.metadata.name = "shop";
  plan.spec.groups = {RecoveryGroup{"data", {"db", "cache"}, {}, {}},
                      RecoveryGroup{"app", {"web", "db"}, {}, {}}};
  EXPECT_THAT(Messages(Validate(plan)),
              ElementsAre("spec.groups[1].replicationPolicies[1]: policy \"db\" is already in "
                          "group \"data\": a policy may be in one group only"));
}

}  // namespace
}  // namespace lifeboat::api
