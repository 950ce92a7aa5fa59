#pragma once

// A small command-line parser for `lifeboat` subcommands: --name value, --name=value, short
// aliases (-f), booleans, repeated flags, positionals, and a generated --help text.
#include <signal.h>

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "common/status.h"

namespace lifeboat::cli {

class FlagSet {
 public:
  FlagSet(std::string command, std::string usage, std::string summary);

  // Declares flags. `short_name` may be empty. Defaults show in --help.
  void String(const std::string& name, const std::string& short_name, std::string default_value,
              const std::string& help);
  void Bool(const std::string& name, const std::string& short_name, const std::string& help);
  void Repeated(const std::string& name, const std::string& short_name, const std::string& help);

  // Parses args (without the command words). `--help`/`-h` sets help_requested().
  Status Parse(const std::vector<std::string>& args);

  // What every command does first: parses; prints --help (exit 0) or the error (exit 2);
  // sets up logging when the log flags are declared. nullopt = go on with the command.
  std::optional<int> ParseCommandLine(const std::vector<std::string>& args);

  bool help_requested() const { return help_requested_; }
  std::string Help() const;

  const std::string& Get(const std::string& name) const;
  bool GetBool(const std::string& name) const;
  const std::vector<std::string>& GetAll(const std::string& name) const;
  bool WasSet(const std::string& name) const;
  bool WasDeclared(const std::string& name) const;
  const std::vector<std::string>& positionals() const { return positionals_; }

 private:
  enum class Type { kString, kBool, kRepeated };
  struct Flag {
    std::string name;
    std::string short_name;
    Type type;
    std::string value;
    std::vector<std::string> values;
    std::string help;
    bool set = false;
  };
  Flag* Find(const std::string& token);

  std::string command_;
  std::string usage_;
  std::string summary_;
  std::vector<Flag> flags_;
  std::vector<std::string> positionals_;
  bool help_requested_ = false;
};

}  // namespace lifeboat::cli

namespace lifeboat::cli {
// Every subcommand takes --log-level and --log-format (text|json).
void AddLogFlags(FlagSet& flags);
Status ApplyLogFlags(const FlagSet& flags);

// SIGTERM, SIGINT and SIGUSR1: what long-running commands block before any thread starts (so
// every thread inherits the mask) and take on one thread with sigwait; SIGUSR1 is how a
// command wakes that thread when it ends on its own.
sigset_t StopSignals();

// For the long-running servers (`lifeboat up`, `lifeboat controller`): allocations from 256 KiB
// up are mapped and unmapped on their own. glibc otherwise raises that threshold to the largest
// block freed so far, so after one list of 10,000 objects (~8 MiB) such transient buffers come
// from the heap and its freed pages stay resident (~10-20 MiB measured at 10,000 objects). Call
// before any thread starts. (The one-shot `lifeboat backup/restore/vault` commands choose the
// opposite, vault::KeepLargeBuffersInHeap; backups run by the server's controllers do not.)
void ReturnLargeBuffersToTheSystem();
}  // namespace lifeboat::cli
