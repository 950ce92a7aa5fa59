// `lifeboat ls POINT [PATTERN]`: the entries of a recovery point.
#include <ctime>
#include <iomanip>
#include <iostream>
#include <optional>

#include "api/json.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "engines/vault/cli_support.h"

namespace lifeboat::cli {

namespace {
std::string ModeString(const vault::Node& n) {
  std::string s = "-";
  if (n.type == vault::NodeType::kDir) s = "d";
  if (n.type == vault::NodeType::kSymlink) s = "l";
  if (n.type == vault::NodeType::kFifo) s = "p";
  if (n.type == vault::NodeType::kCharDev) s = "c";
  if (n.type == vault::NodeType::kBlockDev) s = "b";
  const char* bits = "rwxrwxrwx";
  for (int i = 0; i < 9; ++i) s += (n.mode & (0400u >> i)) ? bits[i] : '-';
  return s;
}
}  // namespace

int RunLs(const Args& args) {
  FlagSet flags("lifeboat ls", "lifeboat ls POINT [PATTERN] --vault V [--long] [--json]",
                "Lists the files of a recovery point (an ID prefix or \"latest\"). PATTERN is a "
                "path or glob ('*' stays within a directory; without '/' it matches names).");
  flags.String("vault", "", "", "vault directory (default $LIFEBOAT_VAULT)");
  flags.String("password-file", "", "", "file whose first line is the passphrase "
                                        "(default $LIFEBOAT_PASSWORD)");
  flags.String("key-file", "", "", "raw key file instead of a passphrase");
  flags.Bool("long", "l", "show mode, owner, size and modification time");
  flags.Bool("json", "", "one JSON object per entry");
  AddLogFlags(flags);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  if (flags.positionals().empty() || flags.positionals().size() > 2) {
    std::cerr << "lifeboat ls: give a POINT and at most one PATTERN\n";
    return 2;
  }
  auto opened = vault::OpenFromFlags(
      {flags.Get("vault"), flags.Get("password-file"), flags.Get("key-file")});
  if (!opened.ok()) {
    std::cerr << "lifeboat ls: " << opened.status().message() << "\n";
    return 1;
  }
  std::string pattern = flags.positionals().size() > 1 ? flags.positionals()[1] : "";
  bool json = flags.GetBool("json");
  bool long_format = flags.GetBool("long");
  Status s = vault::Ls(*opened->repo, flags.positionals()[0], pattern, [&](const vault::Entry& e) {
    const vault::Node& n = e.node;
    if (json) {
      Json j = {{"path", e.path}, {"type", vault::NodeTypeName(n.type)}, {"mode", n.mode},
                {"uid", n.uid},   {"gid", n.gid},   {"size", n.size},
                {"mtime_ns", n.mtime_ns}};
      if (n.type == vault::NodeType::kSymlink) j["target"] = n.target;
      std::cout << j.dump() << "\n";
      return;
    }
    if (long_format) {
      std::time_t t = static_cast<std::time_t>(n.mtime_ns / 1'000'000'000);
      std::tm tm{};
      gmtime_r(&t, &tm);
      std::cout << ModeString(n) << " " << std::setw(5) << n.uid << " " << std::setw(5) << n.gid
                << " " << std::setw(12) << n.size << " " << std::put_time(&tm, "%Y-%m-%dT%H:%M:%SZ")
                << " ";
    }
    std::cout << e.path;
    if (long_format && n.type == vault::NodeType::kSymlink) std::cout << " -> " << n.target;
    std::cout << "\n";
  });
  if (!s.ok()) {
    std::cerr << "lifeboat ls: " << s.message() << "\n";
    return 1;
  }
  return 0;
}

}  // namespace lifeboat::cli
