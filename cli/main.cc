// `lifeboat`: one binary for the control plane, the engines and the operator's tools.
#include <cstring>
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"
#include "engines/vault/work_pool.h"

namespace lifeboat::cli {
namespace {

struct Command {
  const char* name;
  const char* summary;
  int (*run)(const Args& args);
  bool data_path =
      false;  // a one-shot run of the vault's data path (vault::KeepLargeBuffersInHeap)
};

constexpr Command kCommands[] = {
    {"controller", "run the controllers: lifeboat controller [--kubeconfig F]", RunController},
    {"up", "run standalone: embedded API server + kubeconfig: lifeboat up [-f FILE]", RunUp},
    {"validate", "check manifests offline: lifeboat validate -f FILE|DIR", RunValidate},
    {"version", "print the version", RunVersion},
    {"vault", "vault administration: lifeboat vault init|points|check|stats|forget|prune|diff|copy",
     RunVault, true},
    {"backup", "back up paths into a vault: lifeboat backup PATH... --vault DIR", RunBackup, true},
    {"restore", "restore a recovery point: lifeboat restore POINT [PATH...] --target DIR",
     RunRestore, true},
    {"ls", "list a recovery point: lifeboat ls POINT [PATTERN] --vault DIR", RunLs},
    {"snapshot", "local snapshots: lifeboat snapshot create|ls|rm|restore|verify --store DIR",
     RunSnapshot},
    {"receiver", "serve this site's replication endpoint: lifeboat receiver --root DIR",
     RunReceiver},
    {"failover", "run a RecoveryPlan and follow it: lifeboat failover PLAN --type Test|Planned|...",
     RunFailover},
};

void PrintUsage(std::ostream& out) {
  out << "lifeboat: declarative disaster recovery (backup, snapshots, replication).\n\n"
         "Usage: lifeboat COMMAND [flags]\n\nCommands:\n";
  for (const Command& c : kCommands) {
    std::string name = c.name;
    out << "  " << name << std::string(name.size() < 14 ? 14 - name.size() : 1, ' ') << c.summary
        << "\n";
  }
  out << "\nRun 'lifeboat COMMAND --help' for the flags of a command.\n";
}

}  // namespace
}  // namespace lifeboat::cli

int main(int argc, char** argv) {
  using namespace lifeboat::cli;
  if (argc < 2 || std::strcmp(argv[1], "--help") == 0 || std::strcmp(argv[1], "-h") == 0 ||
      std::strcmp(argv[1], "help") == 0) {
    PrintUsage(argc < 2 ? std::cerr : std::cout);
    return argc < 2 ? 2 : 0;
  }
  Args args(argv + 2, argv + argc);
  for (const Command& c : kCommands) {
    if (c.name == std::string(argv[1])) {
      if (c.data_path) {
        lifeboat::vault::KeepLargeBuffersInHeap();
      }
      try {
        return c.run(args);
      } catch (const std::exception& e) {
        // Every layer converts its exceptions to Status; this is the last line of defence.
        std::cerr << "lifeboat " << c.name << ": internal error: " << e.what() << "\n";
        return 1;
      }
    }
  }
  std::cerr << "lifeboat: unknown command \"" << argv[1] << "\"\n\n";
  PrintUsage(std::cerr);
  return 2;
}
