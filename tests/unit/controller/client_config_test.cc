#include "controller/client_config.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace lifeboat::controller {
namespace {

using lifeboat::testing::TempDir;

const char kKubeconfig[] = R"(apiVersion: v1
kind: Config
current-context: dev
clusters:
- name: dev-cluster
  cluster:
    server: https://127.0.0.1:6443/
    certificate-authority-data: LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0t
- name: prod-cluster
  cluster:
    server: https://prod.example.com
    insecure-skip-tls-verify: true
contexts:
- name: dev
  context: {cluster: dev-cluster, user: dev-user, namespace: team-a}
- name: prod
  context: {cluster: prod-cluster, user: prod-user}
users:
- name: dev-user
  user: {token: s3cret}
- name: prod-user
  user:
    client-certificate: certs/client.crt
    client-key: certs/client.key
)";

TEST(ClientConfigTest, ReadsCurrentContextClusterUserAndNamespace) {
  TempDir dir;
  auto path = dir.WriteFile("kubeconfig", kKubeconfig);
  auto config = LoadKubeconfigFile(path);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://127.0.0.1:6443");
  EXPECT_EQ(config->bearer_token, "s3cret");
  EXPECT_EQ(config->ca_pem, "-----BEGIN CERTIFICATE-----");
  EXPECT_EQ(config->ns, "team-a");
  EXPECT_FALSE(config->insecure_skip_tls_verify);
}

TEST(ClientConfigTest, NamedContextWithClientCertificateFilesRelativeToTheKubeconfig) {
  TempDir dir;
  dir.WriteFile("certs/client.crt", "CERT");
  dir.WriteFile("certs/client.key", "KEY");
  auto path = dir.WriteFile("kubeconfig", kKubeconfig);
  auto config = LoadKubeconfigFile(path, "prod");
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://prod.example.com");
  EXPECT_TRUE(config->insecure_skip_tls_verify);
  EXPECT_EQ(config->client_cert_pem, "CERT");
  EXPECT_EQ(config->client_key_pem, "KEY");
  EXPECT_EQ(config->ns, "default");
}

TEST(ClientConfigTest, ErrorsNameTheFileAndTheMissingEntry) {
  TempDir dir;
  auto path = dir.WriteFile("kubeconfig", kKubeconfig);
  auto missing_context = LoadKubeconfigFile(path, "staging");
  ASSERT_FALSE(missing_context.ok());
  EXPECT_NE(missing_context.status().message().find("contexts has no entry named \"staging\""),
            std::string::npos)
      << missing_context.status();
  EXPECT_NE(missing_context.status().message().find(path.string()), std::string::npos);

  auto missing_files = LoadKubeconfigFile(path, "prod");  // certs/ not written
  ASSERT_FALSE(missing_files.ok());
  EXPECT_NE(missing_files.status().message().find("client-certificate"), std::string::npos)
      << missing_files.status();

  auto no_file = LoadKubeconfigFile(dir / "absent");
  EXPECT_EQ(no_file.status().code(), StatusCode::kNotFound);

  auto broken = ParseKubeconfig("clusters: [", dir.path(), "broken.yaml");
  EXPECT_EQ(broken.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(broken.status().message().find("broken.yaml"), std::string::npos);

  auto bad_base64 = ParseKubeconfig(
      "current-context: c\ncontexts: [{name: c, context: {cluster: k}}]\n"
      "clusters: [{name: k, cluster: {server: 'https://h', certificate-authority-data: '*!'}}]\n",
      dir.path(), "inline");
  ASSERT_FALSE(bad_base64.ok());
  EXPECT_NE(bad_base64.status().message().find("certificate-authority-data"), std::string::npos)
      << bad_base64.status();
}

TEST(ClientConfigTest, InClusterUsesTheServiceAccount) {
  TempDir dir;
  dir.WriteFile("sa/token", "tok-123\n");
  dir.WriteFile("sa/ca.crt", "CA");
  dir.WriteFile("sa/namespace", "lifeboat-system");
  InClusterEnvironment env;
  env.service_host = "10.0.0.1";
  env.service_port = "443";
  env.account_dir = dir / "sa";
  auto config = LoadInClusterConfig(env);
  ASSERT_TRUE(config.ok()) << config.status();
  EXPECT_EQ(config->server, "https://10.0.0.1:443");
  EXPECT_EQ(config->bearer_token, "tok-123");
  EXPECT_EQ(config->token_file, dir / "sa" / "token");
  EXPECT_EQ(config->ca_pem, "CA");
  EXPECT_EQ(config->ns, "lifeboat-system");

  env.service_host.clear();
  EXPECT_EQ(LoadInClusterConfig(env).status().code(), StatusCode::kFailedPrecondition);
}

TEST(ClientConfigTest, DecodesBase64) {
  EXPECT_EQ(*DecodeBase64("aGVsbG8="), "hello");
  EXPECT_EQ(*DecodeBase64("aGVsbG8"), "hello");
  EXPECT_FALSE(DecodeBase64("a$b").ok());
}

}  // namespace
}  // namespace lifeboat::controller
