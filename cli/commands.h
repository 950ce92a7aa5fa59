#pragma once

// One function per `lifeboat` subcommand, each in its own file (cli/<name>_command.cc).
// Each receives the arguments after its name, prints --help on request, and returns the exit
// code: 0 success, 1 failure (a clear message on stderr), 2 usage error.
#include <string>
#include <vector>

namespace lifeboat::cli {

using Args = std::vector<std::string>;

int RunVersion(const Args& args);
int RunController(const Args& args);
int RunValidate(const Args& args);
int RunUp(const Args& args);
int RunVault(const Args& args);
int RunBackup(const Args& args);
int RunRestore(const Args& args);
int RunLs(const Args& args);
int RunSnapshot(const Args& args);
int RunReceiver(const Args& args);
int RunFailover(const Args& args);

}  // namespace lifeboat::cli
