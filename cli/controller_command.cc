// `lifeboat controller`: the Lifeboat controllers against any Kubernetes API server.
#include <pthread.h>
#include <signal.h>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>

#include "api/duration.h"
#include "apiserver/http_listener.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "controller/client_config.h"
#include "controller/rest_kube_client.h"
#include "metrics/metrics.h"
#include "operator/operator.h"

namespace lifeboat::cli {
namespace {

// SIGTERM/SIGINT (StopSignals) stop the operator gracefully.
class SignalWatcher {
 public:
  explicit SignalWatcher(Operator& op) : set_(StopSignals()) {
    thread_ = std::thread([this, &op] {
      int signal = 0;
      sigwait(&set_, &signal);
      if (signal != SIGUSR1) {
        spdlog::info("Received signal={}; stopping", signal == SIGTERM ? "SIGTERM" : "SIGINT");
        op.Stop();
      }
    });
  }
  ~SignalWatcher() {
    pthread_kill(thread_.native_handle(), SIGUSR1);
    thread_.join();
  }
  SignalWatcher(const SignalWatcher&) = delete;
  SignalWatcher& operator=(const SignalWatcher&) = delete;

 private:
  sigset_t set_;
  std::thread thread_;
};

Status ParseDurationFlag(const FlagSet& flags, const std::string& name, Clock::Duration* out) {
  auto parsed = api::ParseDuration(flags.Get(name));
  if (!parsed.ok()) {
    return InvalidArgumentError("--" + name + ": " + parsed.status().message());
  }
  *out = *parsed;
  return OkStatus();
}

StatusOr<controller::ManagerOptions> OptionsFromFlags(const FlagSet& flags,
                                                      const std::string& default_ns) {
  controller::ManagerOptions options;
  options.ns = flags.Get("namespace");
  try {
    options.workers = std::stoi(flags.Get("workers"));
  } catch (const std::exception&) {
    return InvalidArgumentError("--workers: \"" + flags.Get("workers") + "\" is not a number");
  }
  if (options.workers < 1 || options.workers > 64) {
    return InvalidArgumentError("--workers: must be between 1 and 64");
  }
  options.leader_elect = flags.GetBool("leader-elect");
  controller::LeaderElectionOptions& election = options.leader_election;
  election.lease_name = flags.Get("lease-name");
  election.lease_namespace =
      flags.WasSet("lease-namespace") ? flags.Get("lease-namespace") : default_ns;
  election.identity = flags.Get("identity");
  RETURN_IF_ERROR(ParseDurationFlag(flags, "lease-duration", &election.lease_duration));
  RETURN_IF_ERROR(ParseDurationFlag(flags, "renew-deadline", &election.renew_deadline));
  RETURN_IF_ERROR(ParseDurationFlag(flags, "retry-period", &election.retry_period));
  if (election.identity.empty()) {
    election.identity = controller::DefaultIdentity();
  }
  if (options.leader_elect) {
    RETURN_IF_ERROR(controller::LeaderElector::ValidateOptions(election));
  }
  return options;
}

// "host:port" → host and port; port 0 = a free port picked now.
StatusOr<apiserver::ListenerOptions> ParseBindAddress(const std::string& flag,
                                                      const std::string& value) {
  size_t colon = value.rfind(':');
  if (colon == std::string::npos || colon == 0) {
    return InvalidArgumentError("--" + flag + ": \"" + value + "\" is not host:port");
  }
  apiserver::ListenerOptions options;
  options.tls = false;
  options.host = value.substr(0, colon);
  if (options.host.size() > 2 && options.host.front() == '[' && options.host.back() == ']') {
    options.host = options.host.substr(1, options.host.size() - 2);
  }
  std::string port = value.substr(colon + 1);
  try {
    size_t used = 0;
    options.port = std::stoi(port, &used);
    if (used != port.size() || options.port < 0 || options.port > 65535) {
      throw std::out_of_range(port);
    }
  } catch (const std::exception&) {
    return InvalidArgumentError("--" + flag + ": \"" + port + "\" is not a port number");
  }
  if (options.port == 0) {
    ASSIGN_OR_RETURN(options.port, apiserver::PickFreePort(options.host));
  }
  return options;
}

// /healthz answers while the process serves; /readyz once the caches have synced (a standby
// replica that has not won the Lease is ready: it takes over without a restart).
StatusOr<std::unique_ptr<apiserver::HttpListener>> StartHealthProbes(
    const std::string& bind_address, const std::atomic<bool>& synced) {
  ASSIGN_OR_RETURN(apiserver::ListenerOptions options,
                   ParseBindAddress("health-probe-bind-address", bind_address));
  auto listener =
      apiserver::OpenHttpListener(options, [&synced](const apiserver::HttpRequest& request) {
        apiserver::HttpResponse response;
        response.content_type = "text/plain";
        if (request.path == "/healthz") {
          response.body = "ok";
        } else if (request.path == "/readyz") {
          bool ready = synced.load();
          response.status = ready ? 200 : 503;
          response.body = ready ? "ok" : "caches not synced";
        } else {
          response.status = 404;
          response.body = "not found";
        }
        return response;
      });
  if (!listener.ok()) {
    return listener.status().WithPrefix("--health-probe-bind-address " + bind_address);
  }
  spdlog::info("Serving health probes address=http://{}:{} paths=/healthz,/readyz", options.host,
               options.port);
  return listener;
}

std::filesystem::path DefaultDataDir() {
  const char* home = std::getenv("HOME");
  return std::filesystem::path(home != nullptr && *home ? home : ".") / ".lifeboat" / "controller";
}

}  // namespace

int RunController(const Args& args) {
  FlagSet flags("lifeboat controller", "lifeboat controller [--kubeconfig FILE] [flags]",
                "Runs the Lifeboat controllers against a Kubernetes API server (a cluster, or "
                "`lifeboat up`).");
  flags.String("kubeconfig", "", "",
               "kubeconfig file (default: $KUBECONFIG, in-cluster, ~/.kube/config)");
  flags.String("context", "", "", "kubeconfig context (default: current-context)");
  flags.String("namespace", "n", "", "watch only this namespace (default: all namespaces)");
  flags.String("workers", "", "2", "concurrent reconciles per kind");
  flags.Bool("leader-elect", "", "elect a leader through a coordination.k8s.io/v1 Lease");
  flags.String("lease-name", "", "lifeboat-controller", "name of the leader election Lease");
  flags.String("lease-namespace", "", "",
               "namespace of the Lease (default: the kubeconfig context's namespace)");
  flags.String("identity", "", "", "leader election identity (default: <hostname>_<pid>)");
  flags.String("lease-duration", "", "15s", "how long a Lease is valid without renewal");
  flags.String("renew-deadline", "", "10s", "how long the leader tries to renew before giving up");
  flags.String("retry-period", "", "2s", "interval between Lease attempts");
  flags.String("metrics-bind-address", "", "127.0.0.1:8080",
               "where /metrics is served (port 0 = pick a free port; \"0\" = off)");
  flags.String("data-dir", "", DefaultDataDir().string(),
               "engine state of this process (snapshot stores, replica roots, caches)");
  flags.String("health-probe-bind-address", "", "",
               "where /healthz and /readyz are served, e.g. 0.0.0.0:8081 (default: off)");
  AddLogFlags(flags);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  sigset_t stop_signals = StopSignals();
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  ReturnLargeBuffersToTheSystem();
  auto config = controller::ResolveClientConfig(flags.Get("kubeconfig"), flags.Get("context"));
  if (!config.ok()) {
    std::cerr << "lifeboat controller: " << config.status().message() << "\n";
    return 1;
  }
  auto options = OptionsFromFlags(flags, config->ns);
  if (!options.ok()) {
    std::cerr << "lifeboat controller: " << options.status().message() << "\n";
    return 2;
  }
  std::string server = config->server;
  auto client = controller::NewRestKubeClient(std::move(*config));
  if (!client.ok()) {
    std::cerr << "lifeboat controller: " << client.status().message() << "\n";
    return 1;
  }
  metrics::Metrics metrics;
  std::unique_ptr<metrics::MetricsServer> metrics_server;
  if (std::string bind = flags.Get("metrics-bind-address"); bind != "0") {
    auto started = metrics::MetricsServer::Start(metrics, bind);
    if (!started.ok()) {
      std::cerr << "lifeboat controller: " << started.status().message() << "\n";
      return 1;
    }
    metrics_server = std::move(*started);
    spdlog::info("Serving metrics address={} port={}", bind, metrics_server->port());
  }
  std::atomic<bool> synced{false};
  std::unique_ptr<apiserver::HttpListener> health;
  if (std::string bind = flags.Get("health-probe-bind-address"); !bind.empty()) {
    auto started = StartHealthProbes(bind, synced);
    if (!started.ok()) {
      std::cerr << "lifeboat controller: " << started.status().message() << "\n";
      return 1;
    }
    health = std::move(*started);
  }
  OperatorOptions operator_options;
  operator_options.manager = *options;
  operator_options.data_dir = flags.Get("data-dir");
  operator_options.metrics = metrics_server ? &metrics : nullptr;
  auto op = Operator::New(**client, std::move(operator_options));
  if (!op.ok()) {
    std::cerr << "lifeboat controller: " << op.status().message() << "\n";
    return 1;
  }
  SignalWatcher signals(**op);
  spdlog::info("Started controller server={} namespace={} leader_elect={} identity={}", server,
               options->ns.empty() ? "*" : options->ns, options->leader_elect,
               options->leader_election.identity);
  if (Status s = (*op)->Start(); !s.ok()) {
    std::cerr << "lifeboat controller: " << s.message() << "\n";
    (*op)->Stop();
    return 1;
  }
  synced = true;
  Status result = (*op)->Wait();
  if (result.code() == StatusCode::kAborted) {
    // Lost the Lease: another replica may already lead. Exit at once, without a graceful
    // stop that could still write (controller-runtime does the same).
    std::cerr << "lifeboat controller: " << result.message() << "\n";
    spdlog::shutdown();
    std::_Exit(1);
  }
  (*op)->Stop();
  if (!result.ok()) {
    std::cerr << "lifeboat controller: " << result.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace lifeboat::cli
