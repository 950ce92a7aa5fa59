// `lifeboat restore POINT [PATH...] --target DIR`: a whole point, or listed paths and globs.
#include <malloc.h>
#include <unistd.h>

#include <iostream>
#include <optional>

#include "api/json.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "engines/vault/cli_support.h"

namespace lifeboat::cli {

namespace {
constexpr int kMmapThreshold = 256 << 10;
}  // namespace

namespace {
constexpr int kExitPartial = 3;
}  // namespace

int RunRestore(const Args& args) {
  // Chunk and pack buffers are large and short-lived: serve them from mmap so freed memory goes
  // back to the system instead of growing glibc's heaps (keeps peak RSS near the budget).
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  FlagSet flags("lifeboat restore", "lifeboat restore POINT [PATH|GLOB...] --target DIR --vault V",
                "Restores a recovery point (an ID prefix or \"latest\"), or only the listed paths "
                "relative to its root. Every chunk is verified; a damaged file is reported and "
                "never written at its final name (exit code 3).");
  flags.String("vault", "", "", "vault directory (default $LIFEBOAT_VAULT)");
  flags.String("password-file", "", "", "file whose first line is the passphrase "
                                        "(default $LIFEBOAT_PASSWORD)");
  flags.String("key-file", "", "", "raw key file instead of a passphrase");
  flags.String("target", "t", "", "directory to restore into (created if missing)");
  flags.String("threads", "", "0", "worker threads (0: one per core)");
  flags.Bool("json", "", "print the result as JSON on stdout, no progress");
  AddLogFlags(flags);
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  if (flags.positionals().empty() || flags.Get("target").empty()) {
    std::cerr << "lifeboat restore: give a POINT and --target DIR\n";
    return 2;
  }
  auto opened = vault::OpenFromFlags(
      {flags.Get("vault"), flags.Get("password-file"), flags.Get("key-file")});
  if (!opened.ok()) {
    std::cerr << "lifeboat restore: " << opened.status().message() << "\n";
    return 1;
  }
  bool json = flags.GetBool("json");
  vault::ProgressPrinter printer(std::cerr, !json && ::isatty(STDERR_FILENO));
  vault::RestoreOptions options;
  options.point = flags.positionals()[0];
  options.include.assign(flags.positionals().begin() + 1, flags.positionals().end());
  options.target = flags.Get("target");
  options.threads = std::atoi(flags.Get("threads").c_str());
  if (printer.enabled()) {
    options.progress = [&](const vault::Progress& p) { printer(p); };
  }
  auto result = vault::Restore(*opened->repo, options);
  printer.Finish();
  if (!result.ok()) {
    std::cerr << "lifeboat restore: " << result.status().message() << "\n";
    return 1;
  }
  if (json) {
    Json errors = Json::array();
    for (const auto& e : result->errors) errors.push_back({{"path", e.path}, {"error", e.error}});
    std::cout << Json{{"files", result->files},
                      {"dirs", result->dirs},
                      {"bytes", result->bytes},
                      {"errors", errors}}
                     .dump()
              << "\n";
  } else {
    std::cout << "Restored " << result->files << " files, " << result->dirs << " directories, "
              << vault::HumanBytes(result->bytes) << " into " << options.target << "\n";
    for (const auto& e : result->errors) {
      std::cerr << "lifeboat restore: not restored: " << e.path << ": " << e.error << "\n";
    }
  }
  return result->errors.empty() ? 0 : kExitPartial;
}

}  // namespace lifeboat::cli
