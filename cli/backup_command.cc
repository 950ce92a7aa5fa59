// `lifeboat backup PATH... --vault V`: one recovery point of directories and disk images.
#include <malloc.h>
#include <unistd.h>

#include <iostream>
#include <optional>

#include "api/json.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "engines/vault/cli_support.h"
#include "engines/vault/tree.h"

namespace lifeboat::cli {

namespace {
constexpr int kMmapThreshold = 256 << 10;
}  // namespace

namespace {
constexpr int kExitPartial = 3;
}  // namespace

int RunBackup(const Args& args) {
  // Chunk and pack buffers are large and short-lived: serve them from mmap so freed memory goes
  // back to the system instead of growing glibc's heaps (keeps peak RSS near the budget).
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  FlagSet flags("lifeboat backup", "lifeboat backup PATH... --vault DIR [--tag T] [--json]",
                "Backs up directories and files (disk images) into one recovery point. Exit code "
                "3: the point was written but some files could not be read (listed).");
  flags.String("vault", "", "", "vault directory (default $LIFEBOAT_VAULT)");
  flags.String("password-file", "", "", "file whose first line is the passphrase "
                                        "(default $LIFEBOAT_PASSWORD)");
  flags.String("key-file", "", "", "raw key file (e.g. a mounted Secret) instead of a passphrase");
  flags.Repeated("tag", "", "tag for the point");
  flags.String("host", "", "", "host name recorded in the point (default: this host)");
  flags.String("parent", "", "", "point whose metadata skips unchanged files (default: latest "
                                 "point of the same paths and host)");
  flags.Bool("no-parent", "", "read every file, ignoring earlier points");
  flags.String("threads", "", "0", "worker threads (0: one per core)");
  flags.String("memory", "", "32M", "budget for chunks in flight");
  flags.Bool("json", "", "print the result as JSON on stdout, no progress");
  AddLogFlags(flags);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  if (flags.positionals().empty()) {
    std::cerr << "lifeboat backup: give at least one PATH\n";
    return 2;
  }
  auto memory = vault::ParseSize(flags.Get("memory"));
  int threads = std::atoi(flags.Get("threads").c_str());
  if (!memory.ok() || threads < 0) {
    std::cerr << "lifeboat backup: --memory/--threads: "
              << (memory.ok() ? "threads must be >= 0" : memory.status().message()) << "\n";
    return 2;
  }
  auto opened = vault::OpenFromFlags(
      {flags.Get("vault"), flags.Get("password-file"), flags.Get("key-file")});
  if (!opened.ok()) {
    std::cerr << "lifeboat backup: " << opened.status().message() << "\n";
    return 1;
  }
  bool json = flags.GetBool("json");
  vault::ProgressPrinter printer(std::cerr, !json && ::isatty(STDERR_FILENO));
  vault::BackupOptions options;
  options.paths = flags.positionals();
  options.tags = flags.GetAll("tag");
  options.hostname = flags.Get("host");
  options.parent = flags.Get("parent");
  options.no_parent = flags.GetBool("no-parent");
  options.threads = threads;
  options.memory_budget = *memory;
  if (printer.enabled()) {
    options.progress = [&](const vault::Progress& p) { printer(p); };
  }
  auto result = vault::Backup(*opened->repo, options);
  printer.Finish();
  if (!result.ok()) {
    std::cerr << "lifeboat backup: " << result.status().message() << "\n";
    return 1;
  }
  const vault::Manifest& m = result->manifest;
  const vault::PointSummary& s = m.summary;
  if (json) {
    Json errors = Json::array();
    for (const auto& e : m.errors) errors.push_back({{"path", e.path}, {"error", e.error}});
    Json out = {{"point", m.id}, {"parent", m.parent}, {"partial", m.partial}, {"errors", errors}};
    out.update(vault::PointSummaryToJson(s));
    std::cout << out.dump() << "\n";
  } else {
    std::cout << "Created recovery point " << m.id.substr(0, 8) << " (" << s.files << " files, "
              << vault::HumanBytes(s.bytes) << "; new " << s.files_new << ", changed "
              << s.files_changed << ", unmodified " << s.files_unmodified << "; added "
              << vault::HumanBytes(s.data_added) << ", stored "
              << vault::HumanBytes(s.stored_added) << " in " << s.seconds << " s)\n";
    for (const auto& e : m.errors) {
      std::cerr << "lifeboat backup: not backed up: " << e.path << ": " << e.error << "\n";
    }
    if (m.partial) {
      std::cerr << "lifeboat backup: point " << m.id.substr(0, 8) << " is PARTIAL: "
                << m.errors.size() << " file(s) could not be read\n";
    }
  }
  return m.partial ? kExitPartial : 0;
}

}  // namespace lifeboat::cli
