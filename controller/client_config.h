#pragma once

// Where the API server is and how to authenticate: from a kubeconfig file (kubectl's format)
// or from the in-cluster service account.
#include <chrono>
#include <filesystem>
#include <string>

#include "common/status.h"

namespace lifeboat::controller {

struct ClientConfig {
  std::string server;                // "https://127.0.0.1:6443"
  std::string bearer_token;          // static token (kubeconfig `token`)
  std::filesystem::path token_file;  // re-read periodically (`tokenFile`, service account)
  std::string ca_pem;                // certificate-authority(-data); empty = system roots
  std::string client_cert_pem;       // client-certificate(-data)
  std::string client_key_pem;        // client-key(-data)
  bool insecure_skip_tls_verify = false;
  std::string ns = "default";  // the context's namespace (or the service account's)
  std::chrono::milliseconds request_timeout{30'000};
};

// Reads a kubeconfig file. `context` empty = current-context. Relative file paths in it are
// resolved against the file's directory. Errors name the file and the missing entry.
StatusOr<ClientConfig> LoadKubeconfigFile(const std::filesystem::path& path,
                                          const std::string& context = "");
// Same from text (`base_dir` resolves relative paths; `origin` names the source in errors).
StatusOr<ClientConfig> ParseKubeconfig(const std::string& text,
                                       const std::filesystem::path& base_dir,
                                       const std::string& origin, const std::string& context = "");

struct InClusterEnvironment {
  std::string service_host;  // KUBERNETES_SERVICE_HOST
  std::string service_port;  // KUBERNETES_SERVICE_PORT
  std::filesystem::path account_dir = "/var/run/secrets/kubernetes.io/serviceaccount";
  // Reads the variables from the process environment; $LIFEBOAT_SERVICE_ACCOUNT_DIR, when set,
  // replaces account_dir (tests, or a token projected elsewhere).
  static InClusterEnvironment FromProcess();
};

// https://<host>:<port> with the service account's token file, CA and namespace.
StatusOr<ClientConfig> LoadInClusterConfig(const InClusterEnvironment& env);

// The usual resolution order: `kubeconfig_flag` if set; else $KUBECONFIG (the first listed file
// that exists); else in-cluster when KUBERNETES_SERVICE_HOST is set; else ~/.kube/config.
StatusOr<ClientConfig> ResolveClientConfig(const std::string& kubeconfig_flag,
                                           const std::string& context = "");

// Standard base64 (padding optional); kInvalidArgument on bad input.
StatusOr<std::string> DecodeBase64(const std::string& text);

}  // namespace lifeboat::controller
