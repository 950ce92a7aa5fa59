#pragma once

// A real embedded API server on 127.0.0.1 (HTTPS, bearer token, Lifeboat CRDs pre-loaded) and a
// RestKubeClient configured from the kubeconfig it writes — what `lifeboat up` gives users.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "apiserver/server.h"
#include "controller/client_config.h"
#include "controller/kube_client.h"
#include "controller/rest_kube_client.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::controller::testing {

inline const ResourceRef kNamespaces{"", "v1", "namespaces", "Namespace", false};
inline const ResourceRef kBackupPolicies{"lifeboat.dev", "v1alpha1", "backuppolicies",
                                         "BackupPolicy", true};
inline const ResourceRef kConfigMaps{"", "v1", "configmaps", "ConfigMap", true};

// Polls `done` (every few milliseconds) until it holds or `timeout` passes.
inline bool WaitFor(const std::function<bool()>& done,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10)) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!done()) {
    if (std::chrono::steady_clock::now() >= deadline) {
      return done();
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  return true;
}

inline Json BackupPolicy(const std::string& ns, const std::string& name,
                         const std::string& time_zone = "UTC") {
  return Json{{"apiVersion", "lifeboat.dev/v1alpha1"},
              {"kind", "BackupPolicy"},
              {"metadata", {{"name", name}, {"namespace", ns}, {"labels", {{"app", "db"}}}}},
              {"spec",
               {{"vaultRef", {{"name", "main"}}},
                {"volumes", Json::array({{{"name", "data"}, {"path", "/srv/data"}}})},
                {"schedule", {{"cron", "0 * * * *"}, {"timeZone", time_zone}}},
                {"rpo", "2h"}}}};
}

class ApiServerFixture : public ::testing::Test {
 protected:
  void SetUp() override { StartServer(0); }

  void StartServer(int port) {
    apiserver::ServerOptions options;
    options.data_dir = dir_.path() / "data";
    options.port = port;
    options.crd_dir = lifeboat::testing::SourceDir() / "crds";
    auto server = apiserver::NewServer(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    Status started = server_->Start();
    ASSERT_TRUE(started.ok()) << started;
    port_ = server_->port();
  }

  void StopServer() {
    if (server_) {
      server_->Stop();
      server_.reset();
    }
  }

  std::unique_ptr<KubeClient> NewClient() {
    if (!server_) {
      ADD_FAILURE() << "no API server is running";
      return nullptr;
    }
    auto config = LoadKubeconfigFile(server_->kubeconfig_path());
    if (!config.ok()) {
      ADD_FAILURE() << config.status();
      return nullptr;
    }
    auto client = NewRestKubeClient(std::move(*config));
    if (!client.ok()) {
      ADD_FAILURE() << client.status();
      return nullptr;
    }
    return std::move(*client);
  }

  void CreateNamespace(KubeClient& client, const std::string& name) {
    auto created = client.Create(
        kNamespaces,
        Json{{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", name}}}});
    ASSERT_TRUE(created.ok() || IsAlreadyExists(created.status())) << created.status();
  }

  void TearDown() override { StopServer(); }

  lifeboat::testing::TempDir dir_;
  std::unique_ptr<apiserver::Server> server_;
  int port_ = 0;
};

}  // namespace lifeboat::controller::testing
