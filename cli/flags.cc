#include "cli/flags.h"

#include <malloc.h>

#include <cassert>
#include <iostream>
#include <sstream>

namespace lifeboat::cli {

FlagSet::FlagSet(std::string command, std::string usage, std::string summary)
    : command_(std::move(command)), usage_(std::move(usage)), summary_(std::move(summary)) {}

void FlagSet::String(const std::string& name, const std::string& short_name,
                     std::string default_value, const std::string& help) {
  flags_.push_back(Flag{name, short_name, Type::kString, std::move(default_value), {}, help});
}

void FlagSet::Bool(const std::string& name, const std::string& short_name,
                   const std::string& help) {
  flags_.push_back(Flag{name, short_name, Type::kBool, "false", {}, help});
}

void FlagSet::Repeated(const std::string& name, const std::string& short_name,
                       const std::string& help) {
  flags_.push_back(Flag{name, short_name, Type::kRepeated, "", {}, help});
}

FlagSet::Flag* FlagSet::Find(const std::string& token) {
  for (Flag& f : flags_) {
    if (token == "--" + f.name || (!f.short_name.empty() && token == "-" + f.short_name)) {
      return &f;
    }
  }
  return nullptr;
}

Status FlagSet::Parse(const std::vector<std::string>& args) {
  bool only_positionals = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (only_positionals || arg.size() < 2 || arg[0] != '-') {
      positionals_.push_back(arg);
      continue;
    }
    if (arg == "--") {
      only_positionals = true;
      continue;
    }
    if (arg == "--help" || arg == "-h") {
      help_requested_ = true;
      continue;
    }
    std::string token = arg;
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); eq != std::string::npos && arg.rfind("--", 0) == 0) {
      token = arg.substr(0, eq);
      inline_value = arg.substr(eq + 1);
    }
    Flag* f = Find(token);
    if (f == nullptr) {
      return InvalidArgumentError(command_ + ": unknown flag " + token + " (see " + command_ +
                                  " --help)");
    }
    f->set = true;
    if (f->type == Type::kBool) {
      if (inline_value && *inline_value != "true" && *inline_value != "false") {
        return InvalidArgumentError(command_ + ": " + token + " takes true or false, not \"" +
                                    *inline_value + "\"");
      }
      f->value = inline_value.value_or("true");
      continue;
    }
    std::string value;
    if (inline_value) {
      value = *inline_value;
    } else if (i + 1 < args.size()) {
      value = args[++i];
    } else {
      return InvalidArgumentError(command_ + ": flag " + token + " needs a value");
    }
    if (f->type == Type::kRepeated) {
      f->values.push_back(value);
    } else {
      f->value = value;
    }
  }
  return OkStatus();
}

std::optional<int> FlagSet::ParseCommandLine(const std::vector<std::string>& args) {
  if (Status s = Parse(args); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }
  if (help_requested_) {
    std::cout << Help();
    return 0;
  }
  if (WasDeclared("log-level")) {
    if (Status s = ApplyLogFlags(*this); !s.ok()) {
      std::cerr << command_ << ": " << s.message() << "\n";
      return 2;
    }
  }
  return std::nullopt;
}

bool FlagSet::WasDeclared(const std::string& name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) {
      return true;
    }
  }
  return false;
}

std::string FlagSet::Help() const {
  std::ostringstream out;
  out << "Usage: " << usage_ << "\n\n" << summary_ << "\n";
  if (!flags_.empty()) {
    out << "\nFlags:\n";
  }
  for (const Flag& f : flags_) {
    std::string left = "  ";
    left += f.short_name.empty() ? "    " : "-" + f.short_name + ", ";
    left += "--" + f.name;
    if (f.type != Type::kBool) {
      left += " VALUE";
    }
    out << left;
    out << std::string(left.size() < 32 ? 32 - left.size() : 1, ' ') << f.help;
    if (f.type == Type::kString && !f.value.empty()) {
      out << " (default \"" << f.value << "\")";
    }
    if (f.type == Type::kRepeated) {
      out << " (repeatable)";
    }
    out << "\n";
  }
  out << "  -h, --help                    show this help\n";
  return out.str();
}

const std::string& FlagSet::Get(const std::string& name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) {
      return f.value;
    }
  }
  assert(false && "undeclared flag");
  static const std::string kEmpty;
  return kEmpty;
}

bool FlagSet::GetBool(const std::string& name) const { return Get(name) == "true"; }

const std::vector<std::string>& FlagSet::GetAll(const std::string& name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) {
      return f.values;
    }
  }
  assert(false && "undeclared flag");
  static const std::vector<std::string> kEmpty;
  return kEmpty;
}

bool FlagSet::WasSet(const std::string& name) const {
  for (const Flag& f : flags_) {
    if (f.name == name) {
      return f.set;
    }
  }
  return false;
}

}  // namespace lifeboat::cli

#include "common/logging.h"

namespace lifeboat::cli {

void AddLogFlags(FlagSet& flags) {
  flags.String("log-level", "", "info", "trace|debug|info|warn|error|off");
  flags.String("log-format", "", "text", "text|json");
}

sigset_t StopSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGTERM);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGUSR1);
  return set;
}

void ReturnLargeBuffersToTheSystem() {
  constexpr int kMmapThreshold = 256 << 10;
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
}

Status ApplyLogFlags(const FlagSet& flags) {
  LogOptions options;
  options.level = flags.Get("log-level");
  ASSIGN_OR_RETURN(options.format, ParseLogFormat(flags.Get("log-format")));
  return SetUpLogging(options);
}

}  // namespace lifeboat::cli
