#include "controller/client_config.h"

#include <yaml-cpp/yaml.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <vector>

namespace lifeboat::controller {
namespace {

StatusOr<std::string> ReadFile(const std::filesystem::path& path, const std::string& what) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return NotFoundError(what + ": cannot read " + path.string());
  }
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::string Trim(std::string s) {
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r' || s.back() == ' ')) {
    s.pop_back();
  }
  return s;
}

// Finds `name` in a kubeconfig list ("clusters", "contexts", "users") and returns its inner map
// (the "cluster"/"context"/"user" field).
StatusOr<YAML::Node> FindNamed(const YAML::Node& root, const std::string& list,
                               const std::string& inner, const std::string& name,
                               const std::string& origin) {
  YAML::Node entries = root[list];
  if (entries && entries.IsSequence()) {
    for (const YAML::Node& entry : entries) {
      if (entry["name"] && entry["name"].as<std::string>() == name) {
        YAML::Node value = entry[inner];
        if (!value || !value.IsMap()) {
          return InvalidArgumentError(origin + ": " + list + "[name=" + name + "]." + inner +
                                      " is missing");
        }
        return value;
      }
    }
  }
  return NotFoundError(origin + ": " + list + " has no entry named \"" + name + "\"");
}

std::string Str(const YAML::Node& node, const std::string& field) {
  YAML::Node v = node[field];
  return v && v.IsScalar() ? v.as<std::string>() : "";
}

// `<field>-data` (base64) or `<field>` (a file path relative to base_dir).
StatusOr<std::string> DataOrFile(const YAML::Node& node, const std::string& field,
                                 const std::filesystem::path& base_dir, const std::string& where) {
  std::string data = Str(node, field + "-data");
  if (!data.empty()) {
    auto decoded = DecodeBase64(data);
    if (!decoded.ok()) {
      return InvalidArgumentError(where + "." + field + "-data: " + decoded.status().message());
    }
    return *decoded;
  }
  std::string file = Str(node, field);
  if (file.empty()) {
    return std::string();
  }
  std::filesystem::path path(file);
  if (path.is_relative()) {
    path = base_dir / path;
  }
  return ReadFile(path, where + "." + field);
}

}  // namespace

StatusOr<std::string> DecodeBase64(const std::string& text) {
  auto value = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+' || c == '-') return 62;
    if (c == '/' || c == '_') return 63;
    return -1;
  };
  std::string out;
  unsigned buffer = 0;
  int bits = 0;
  for (char c : text) {
    if (c == '=' || c == '\n' || c == '\r' || c == ' ') {
      continue;
    }
    int v = value(c);
    if (v < 0) {
      return InvalidArgumentError("invalid base64 character '" + std::string(1, c) + "'");
    }
    buffer = (buffer << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(static_cast<char>((buffer >> bits) & 0xFF));
    }
  }
  return out;
}

StatusOr<ClientConfig> ParseKubeconfig(const std::string& text,
                                       const std::filesystem::path& base_dir,
                                       const std::string& origin, const std::string& context) {
  try {
    YAML::Node root = YAML::Load(text);
    if (!root || !root.IsMap()) {
      return InvalidArgumentError(origin + ": not a kubeconfig (expected a YAML mapping)");
    }
    std::string context_name = context.empty() ? Str(root, "current-context") : context;
    if (context_name.empty()) {
      return InvalidArgumentError(origin + ": current-context is not set and no context given");
    }
    ASSIGN_OR_RETURN(YAML::Node ctx, FindNamed(root, "contexts", "context", context_name, origin));
    std::string cluster_name = Str(ctx, "cluster");
    if (cluster_name.empty()) {
      return InvalidArgumentError(origin + ": contexts[name=" + context_name +
                                  "].context.cluster is missing");
    }
    ASSIGN_OR_RETURN(YAML::Node cluster,
                     FindNamed(root, "clusters", "cluster", cluster_name, origin));
    ClientConfig config;
    config.server = Str(cluster, "server");
    if (config.server.empty()) {
      return InvalidArgumentError(origin + ": clusters[name=" + cluster_name +
                                  "].cluster.server is missing");
    }
    while (!config.server.empty() && config.server.back() == '/') {
      config.server.pop_back();
    }
    std::string cluster_where = origin + ": clusters[name=" + cluster_name + "].cluster";
    ASSIGN_OR_RETURN(config.ca_pem,
                     DataOrFile(cluster, "certificate-authority", base_dir, cluster_where));
    if (YAML::Node insecure = cluster["insecure-skip-tls-verify"]; insecure) {
      config.insecure_skip_tls_verify = insecure.as<bool>();
    }
    if (std::string ns = Str(ctx, "namespace"); !ns.empty()) {
      config.ns = ns;
    }
    std::string user_name = Str(ctx, "user");
    if (!user_name.empty()) {
      ASSIGN_OR_RETURN(YAML::Node user, FindNamed(root, "users", "user", user_name, origin));
      std::string user_where = origin + ": users[name=" + user_name + "].user";
      config.bearer_token = Str(user, "token");
      if (std::string token_file = Str(user, "tokenFile"); !token_file.empty()) {
        std::filesystem::path path(token_file);
        config.token_file = path.is_relative() ? base_dir / path : path;
      }
      ASSIGN_OR_RETURN(config.client_cert_pem,
                       DataOrFile(user, "client-certificate", base_dir, user_where));
      ASSIGN_OR_RETURN(config.client_key_pem, DataOrFile(user, "client-key", base_dir, user_where));
      if (config.client_cert_pem.empty() != config.client_key_pem.empty()) {
        return InvalidArgumentError(user_where +
                                    ": client-certificate and client-key must be set together");
      }
    }
    return config;
  } catch (const YAML::Exception& e) {
    return InvalidArgumentError(origin + ": invalid kubeconfig: " + e.what());
  }
}

StatusOr<ClientConfig> LoadKubeconfigFile(const std::filesystem::path& path,
                                          const std::string& context) {
  ASSIGN_OR_RETURN(std::string text, ReadFile(path, "kubeconfig"));
  std::filesystem::path base = path.has_parent_path() ? path.parent_path() : ".";
  return ParseKubeconfig(text, base, path.string(), context);
}

InClusterEnvironment InClusterEnvironment::FromProcess() {
  InClusterEnvironment env;
  if (const char* host = std::getenv("KUBERNETES_SERVICE_HOST")) {
    env.service_host = host;
  }
  if (const char* port = std::getenv("KUBERNETES_SERVICE_PORT")) {
    env.service_port = port;
  }
  if (const char* dir = std::getenv("LIFEBOAT_SERVICE_ACCOUNT_DIR"); dir != nullptr && *dir) {
    env.account_dir = dir;
  }
  return env;
}

StatusOr<ClientConfig> LoadInClusterConfig(const InClusterEnvironment& env) {
  if (env.service_host.empty() || env.service_port.empty()) {
    return FailedPreconditionError(
        "in-cluster config: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set");
  }
  ClientConfig config;
  std::string host = env.service_host;
  if (host.find(':') != std::string::npos) {
    host = "[" + host + "]";  // IPv6
  }
  config.server = "https://" + host + ":" + env.service_port;
  config.token_file = env.account_dir / "token";
  ASSIGN_OR_RETURN(std::string token, ReadFile(config.token_file, "in-cluster token"));
  config.bearer_token = Trim(token);
  ASSIGN_OR_RETURN(config.ca_pem, ReadFile(env.account_dir / "ca.crt", "in-cluster CA"));
  if (auto ns = ReadFile(env.account_dir / "namespace", "in-cluster namespace"); ns.ok()) {
    config.ns = Trim(*ns);
  }
  return config;
}

StatusOr<ClientConfig> ResolveClientConfig(const std::string& kubeconfig_flag,
                                           const std::string& context) {
  if (!kubeconfig_flag.empty()) {
    return LoadKubeconfigFile(kubeconfig_flag, context);
  }
  if (const char* env = std::getenv("KUBECONFIG"); env != nullptr && *env != '\0') {
    std::stringstream list(env);
    std::string item;
    while (std::getline(list, item, ':')) {
      if (!item.empty() && std::filesystem::exists(item)) {
        return LoadKubeconfigFile(item, context);
      }
    }
    return NotFoundError(std::string("KUBECONFIG=") + env + ": none of the listed files exists");
  }
  InClusterEnvironment in_cluster = InClusterEnvironment::FromProcess();
  if (!in_cluster.service_host.empty()) {
    return LoadInClusterConfig(in_cluster);
  }
  if (const char* home = std::getenv("HOME"); home != nullptr) {
    std::filesystem::path path = std::filesystem::path(home) / ".kube" / "config";
    if (std::filesystem::exists(path)) {
      return LoadKubeconfigFile(path, context);
    }
  }
  return NotFoundError(
      "no Kubernetes configuration: pass --kubeconfig, set KUBECONFIG, run in a cluster, or "
      "create ~/.kube/config");
}

}  // namespace lifeboat::controller
