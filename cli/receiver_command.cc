// `lifeboat receiver`: the replication endpoint of a site, standalone (engines/replication).
#include <signal.h>

#include <fstream>
#include <iostream>
#include <optional>
#include <sstream>

#include "cli/commands.h"
#include "cli/flags.h"
#include "engines/replication/receiver.h"

namespace lifeboat::cli {
namespace {

std::optional<int> ParsePort(const std::string& text) {
  try {
    size_t used = 0;
    int port = std::stoi(text, &used);
    if (used == text.size() && port >= 0 && port <= 65535) {
      return port;
    }
  } catch (const std::exception&) {
  }
  return std::nullopt;
}

}  // namespace

int RunReceiver(const Args& args) {
  FlagSet flags("lifeboat receiver",
                "lifeboat receiver --root DIR [--port N] --token-file F [--tls-cert F --tls-key F] "
                "[--client-ca F]",
                "Serves the replication endpoint of this site over HTTPS: other sites replicate "
                "their volumes into DIR/<site>/<namespace>/<policy>/. Without --tls-cert a "
                "self-signed certificate is created under DIR/.tls/ (senders trust that file). "
                "Prints \"listening on https://HOST:PORT\" once ready.");
  flags.String("root", "", "", "directory holding the replicas and their recovery points");
  flags.String("address", "", "0.0.0.0", "address to listen on");
  flags.String("port", "", "9443", "port to listen on (0 = pick a free port)");
  flags.String("token-file", "", "", "file holding the bearer token senders must present");
  flags.String("tls-cert", "", "", "PEM certificate (chain) of this endpoint");
  flags.String("tls-key", "", "", "PEM private key of --tls-cert");
  flags.String("client-ca", "", "", "require client certificates signed by this PEM CA");
  flags.String("gc-grace-seconds", "", "600",
               "unreferenced data younger than this is kept (a transfer may still commit it)");
  AddLogFlags(flags);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  replication::ReceiverOptions options;
  options.root = flags.Get("root");
  if (options.root.empty()) {
    std::cerr << "lifeboat receiver: --root is required\n";
    return 2;
  }
  options.host = flags.Get("address");
  std::optional<int> port = ParsePort(flags.Get("port"));
  if (!port) {
    std::cerr << "lifeboat receiver: --port: \"" << flags.Get("port")
              << "\" is not a port number\n";
    return 2;
  }
  options.port = *port;
  try {
    options.repo.gc_grace = std::chrono::seconds(std::stoll(flags.Get("gc-grace-seconds")));
  } catch (const std::exception&) {
    std::cerr << "lifeboat receiver: --gc-grace-seconds: not a number\n";
    return 2;
  }
  if (flags.WasSet("token-file")) {
    std::ifstream in(flags.Get("token-file"));
    if (!in) {
      std::cerr << "lifeboat receiver: --token-file: cannot read " << flags.Get("token-file")
                << "\n";
      return 1;
    }
    std::stringstream text;
    text << in.rdbuf();
    options.token = text.str();
    while (!options.token.empty() &&
           (options.token.back() == '\n' || options.token.back() == '\r' ||
            options.token.back() == ' ')) {
      options.token.pop_back();
    }
    if (options.token.empty()) {
      std::cerr << "lifeboat receiver: --token-file: " << flags.Get("token-file") << " is empty\n";
      return 1;
    }
  }
  if (flags.WasSet("tls-cert") != flags.WasSet("tls-key")) {
    std::cerr << "lifeboat receiver: --tls-cert and --tls-key go together\n";
    return 2;
  }
  options.tls.cert = flags.Get("tls-cert");
  options.tls.key = flags.Get("tls-key");
  options.tls.client_ca = flags.Get("client-ca");

  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGINT);
  sigaddset(&signals, SIGTERM);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  auto receiver = replication::StartReceiver(options);
  if (!receiver.ok()) {
    std::cerr << "lifeboat receiver: " << receiver.status().message() << "\n";
    return 1;
  }
  std::cout << "listening on " << (*receiver)->endpoint() << "\n" << std::flush;
  int sig = 0;
  sigwait(&signals, &sig);
  (*receiver)->Stop();
  return 0;
}

}  // namespace lifeboat::cli
