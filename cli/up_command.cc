// `lifeboat up`: the standalone mode. Starts the embedded API server, the controller manager
// (talking to that server over HTTPS with the same client it uses against a cluster) and the
// metrics endpoint in one process, applies -f manifests through the API, prints the
// kubeconfig, and runs until SIGINT/SIGTERM.
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "apiserver/client.h"
#include "apiserver/server.h"
#include "api/manifest.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "controller/client_config.h"
#include "controller/rest_kube_client.h"
#include "engines/replication/receiver.h"
#include "metrics/metrics.h"
#include "operator/operator.h"

namespace lifeboat::cli {
namespace {

namespace fs = std::filesystem;

// The CRD directory when --crd-dir is not given: $LIFEBOAT_CRD_DIR, else the first existing of
// <binary dir>/crds, <binary dir>/../crds (a build dir inside the source tree, e.g. build/),
// <binary dir>/../share/lifeboat/crds (an installed layout). Empty when none exists.
fs::path DefaultCrdDir() {
  if (const char* env = std::getenv("LIFEBOAT_CRD_DIR"); env && *env) {
    return env;
  }
  std::error_code ec;
  fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (ec) {
    return {};
  }
  fs::path bin = exe.parent_path();
  for (const fs::path& candidate :
       {bin / "crds", bin / ".." / "crds", bin / ".." / "share" / "lifeboat" / "crds"}) {
    if (fs::is_directory(candidate, ec)) {
      return fs::weakly_canonical(candidate, ec);
    }
  }
  return {};
}

fs::path DefaultDataDir() {
  if (const char* home = std::getenv("HOME"); home && *home) {
    return fs::path(home) / ".lifeboat";
  }
  return ".lifeboat";
}

// Every manifest file named by -f (a file, or the .yaml/.yml/.json files of a directory).
StatusOr<std::vector<fs::path>> ManifestFiles(const std::vector<std::string>& args) {
  std::vector<fs::path> files;
  for (const std::string& arg : args) {
    std::error_code ec;
    if (fs::is_directory(arg, ec)) {
      std::vector<fs::path> in_dir;
      for (const auto& entry : fs::directory_iterator(arg)) {
        std::string ext = entry.path().extension().string();
        if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
          in_dir.push_back(entry.path());
        }
      }
      std::sort(in_dir.begin(), in_dir.end());
      files.insert(files.end(), in_dir.begin(), in_dir.end());
    } else if (fs::is_regular_file(arg, ec)) {
      files.emplace_back(arg);
    } else {
      return NotFoundError("-f " + arg + ": no such file or directory");
    }
  }
  return files;
}

Status ApplyManifests(const apiserver::Server& server, const std::string& ca_pem,
                      const std::vector<fs::path>& files) {
  ASSIGN_OR_RETURN(auto client, apiserver::NewClient(apiserver::ClientOptions{
                                    server.url(), server.bearer_token(), ca_pem}));
  for (const fs::path& file : files) {
    std::ifstream in(file);
    std::stringstream text;
    text << in.rdbuf();
    ASSIGN_OR_RETURN(std::vector<api::Document> docs,
                     api::ParseManifests(text.str(), file.string()));
    for (const api::Document& doc : docs) {
      auto applied = apiserver::ApplyObject(*client, doc.object);
      if (!applied.ok()) {
        return applied.status().WithPrefix(file.string());
      }
      std::cout << *applied << "\n";
    }
  }
  return OkStatus();
}

}  // namespace

int RunUp(const Args& args) {
  FlagSet flags("lifeboat up",
                "lifeboat up [--data-dir DIR] [-f MANIFESTS]... [--port N] [--crd-dir DIR]",
                "Runs Lifeboat standalone: an embedded Kubernetes-compatible API server (state "
                "in SQLite under --data-dir), the controllers and /metrics, and writes a "
                "kubeconfig for kubectl.");
  flags.String("data-dir", "", DefaultDataDir().string(),
               "state, credentials and the kubeconfig live here");
  flags.Repeated("filename", "f", "manifests to apply once started (file or directory)");
  flags.String("port", "", "6443", "HTTPS port (0 = pick a free port)");
  flags.String("bind-address", "", "127.0.0.1", "address to listen on");
  flags.String("crd-dir", "", "",
               "CRDs to serve at start (default: $LIFEBOAT_CRD_DIR, else crds/ next to the "
               "binary or one level up)");
  flags.Bool("plain-http", "", "serve plain HTTP instead of HTTPS (loopback addresses only)");
  flags.String("metrics-bind-address", "", "127.0.0.1:8080",
               "where /metrics is served (port 0 = pick a free port)");
  flags.String("workers", "", "2", "concurrent reconciles per kind");
  flags.String("replication-port", "", "",
               "serve this site's replication endpoint on --bind-address:PORT (replicas under "
               "DATA_DIR/replicas; needs --replication-token-file)");
  flags.String("replication-token-file", "", "", "bearer token other sites replicate with");
  flags.Bool("no-controllers", "",
             "serve the API and /metrics only; controllers run elsewhere (`lifeboat controller`)");
  AddLogFlags(flags);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  apiserver::ServerOptions options;
  options.data_dir = flags.Get("data-dir");
  options.bind_address = flags.Get("bind-address");
  options.plain_http = flags.GetBool("plain-http");
  try {
    size_t used = 0;
    options.port = std::stoi(flags.Get("port"), &used);
    if (used != flags.Get("port").size()) {
      throw std::invalid_argument("trailing characters");
    }
  } catch (const std::exception&) {
    std::cerr << "lifeboat up: --port: \"" << flags.Get("port") << "\" is not a number\n";
    return 2;
  }
  options.crd_dir = flags.WasSet("crd-dir") ? fs::path(flags.Get("crd-dir")) : DefaultCrdDir();
  int workers = 0;
  try {
    workers = std::stoi(flags.Get("workers"));
  } catch (const std::exception&) {
  }
  if (workers < 1 || workers > 64) {
    std::cerr << "lifeboat up: --workers: must be a number between 1 and 64\n";
    return 2;
  }
  auto files = ManifestFiles(flags.GetAll("filename"));
  if (!files.ok()) {
    std::cerr << "lifeboat up: " << files.status().message() << "\n";
    return 2;
  }

  // Block the shutdown signals before any thread starts, so every thread inherits the mask and
  // this thread alone receives them through sigwait.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  ReturnLargeBuffersToTheSystem();

  // Built before the server, which reports every request it serves into it.
  metrics::Metrics metrics;
  options.on_request = [&metrics](const apiserver::RequestRecord& r) {
    metrics.apiserver().ObserveRequest(r.verb, r.group, r.resource, r.subresource, r.code,
                                       r.seconds);
  };
  auto server = apiserver::NewServer(options);
  if (!server.ok()) {
    std::cerr << "lifeboat up: " << server.status().message() << "\n";
    return 1;
  }
  if (Status s = (*server)->Start(); !s.ok()) {
    std::cerr << "lifeboat up: " << s.message() << "\n";
    return 1;
  }
  std::string ca_pem;
  if (!options.plain_http) {
    std::ifstream ca(options.data_dir / "ca.crt");
    std::stringstream text;
    text << ca.rdbuf();
    ca_pem = text.str();
  }
  if (Status s = ApplyManifests(**server, ca_pem, *files); !s.ok()) {
    std::cerr << "lifeboat up: " << s.message() << "\n";
    (*server)->Stop();
    return 1;
  }
  metrics.apiserver().SetFiguresSource([api = server->get()] {
    apiserver::ServerStats stats = api->stats();
    metrics::ApiServerFigures figures;
    figures.connections = static_cast<double>(stats.connections);
    figures.watch_streams = static_cast<double>(stats.streams);
    figures.registered_watchers = static_cast<double>(stats.watches);
    figures.watch_backlog_bytes = static_cast<double>(stats.stream_backlog_bytes);
    return figures;
  });
  // The controller reaches the API server over HTTPS with the client it uses in a cluster.
  auto metrics_server = metrics::MetricsServer::Start(metrics, flags.Get("metrics-bind-address"));
  if (!metrics_server.ok()) {
    std::cerr << "lifeboat up: " << metrics_server.status().message() << "\n";
    (*server)->Stop();
    return 1;
  }
  std::unique_ptr<replication::Receiver> receiver;
  if (flags.WasSet("replication-port")) {
    replication::ReceiverOptions r;
    r.root = options.data_dir / "replicas";
    r.host = options.bind_address;
    std::ifstream token_file(flags.Get("replication-token-file"));
    std::getline(token_file, r.token);
    try {
      r.port = std::stoi(flags.Get("replication-port"));
    } catch (const std::exception&) {
      r.port = -1;
    }
    auto started = r.port < 0 ? StatusOr<std::unique_ptr<replication::Receiver>>(
                                    InvalidArgumentError("--replication-port: not a number"))
                              : replication::StartReceiver(r);
    if (!started.ok()) {
      std::cerr << "lifeboat up: replication endpoint: " << started.status().message() << "\n";
      (*server)->Stop();
      return 1;
    }
    receiver = std::move(*started);
  }
  auto config = controller::LoadKubeconfigFile((*server)->kubeconfig_path());
  StatusOr<std::unique_ptr<controller::KubeClient>> client =
      config.ok() ? controller::NewRestKubeClient(std::move(*config))
                  : StatusOr<std::unique_ptr<controller::KubeClient>>(config.status());
  if (!client.ok()) {
    std::cerr << "lifeboat up: controller client: " << client.status().message() << "\n";
    (*server)->Stop();
    return 1;
  }
  OperatorOptions operator_options;
  operator_options.manager.workers = workers;
  operator_options.metrics = &metrics;
  operator_options.data_dir = options.data_dir / "engines";
  operator_options.receiver = receiver.get();
  auto op = Operator::New(**client, operator_options);
  if (!op.ok()) {
    std::cerr << "lifeboat up: " << op.status().message() << "\n";
    (*server)->Stop();
    return 1;
  }
  const bool run_controllers = !flags.GetBool("no-controllers");
  if (Status s = run_controllers ? (*op)->Start() : OkStatus(); !s.ok()) {
    std::cerr << "lifeboat up: controller: " << s.message() << "\n";
    (*op)->Stop();
    (*server)->Stop();
    return 1;
  }

  std::string kubeconfig = fs::absolute((*server)->kubeconfig_path()).string();
  std::string controllers =
      run_controllers ? "Controllers running (" + std::to_string(workers) + " workers per kind)"
                      : "Controllers not started (--no-controllers)";
  std::cout << "Lifeboat API server listening on " << (*server)->url() << "\n"
            << controllers << "\n"
            << "Metrics on http://127.0.0.1:" << (*metrics_server)->port() << "/metrics\n"
            << (receiver ? "Replication endpoint on " + receiver->endpoint() + "\n" : "")
            << "kubeconfig: " << kubeconfig << "\n"
            << "export KUBECONFIG=" << kubeconfig << "; kubectl get lifeboat" << std::endl;

  int received = 0;
  sigwait(&signals, &received);
  std::cout << "Received " << (received == SIGINT ? "SIGINT" : "SIGTERM") << ", shutting down"
            << std::endl;
  (*op)->Stop();
  (*server)->Stop();
  metrics.apiserver().SetFiguresSource(nullptr);
  return 0;
}

}  // namespace lifeboat::cli
