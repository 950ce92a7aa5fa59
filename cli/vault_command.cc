// `lifeboat vault init|points|check|stats|forget|prune|diff|copy|repair`: vault administration.
#include <malloc.h>
#include <unistd.h>

#include <iostream>
#include <optional>
#include <map>

#include "api/json.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "engines/vault/cli_support.h"
#include "engines/vault/repair.h"

namespace lifeboat::cli {

namespace {
constexpr int kMmapThreshold = 256 << 10;
}  // namespace

namespace {

constexpr const char* kVaultUsage =
    "Usage: lifeboat vault SUBCOMMAND [flags]\n\n"
    "Subcommands:\n"
    "  init      create a vault: lifeboat vault init --vault DIR\n"
    "  points    list recovery points\n"
    "  check     verify structure; --read-data verifies every byte\n"
    "  stats     logical and stored bytes, dedup ratio\n"
    "  forget    drop points by retention policy (--keep-last N, --keep-daily N, ...; --prune)\n"
    "  prune     remove data no point references, repacking partly used packs\n"
    "  diff      what changed between two points: lifeboat vault diff A B\n"
    "  copy      replicate the vault to a second directory: --to DIR\n"
    "  repair    rebuild a lost or damaged index from the packs (--read-data verifies them)\n\n"
    "Run 'lifeboat vault SUBCOMMAND --help' for its flags.\n";

void AddVaultFlags(FlagSet& flags) {
  flags.String("vault", "", "", "vault directory (default $LIFEBOAT_VAULT)");
  flags.String("password-file", "", "", "file whose first line is the passphrase "
                                        "(default $LIFEBOAT_PASSWORD)");
  flags.String("key-file", "", "", "raw key file (e.g. a mounted Secret) instead of a passphrase");
  flags.Bool("json", "", "print the result as JSON on stdout");
  AddLogFlags(flags);
}

vault::CliVaultFlags VaultFlags(const FlagSet& flags) {
  return {flags.Get("vault"), flags.Get("password-file"), flags.Get("key-file")};
}

// Parses; returns -1 to continue, or the exit code.
int ParseOrExit(FlagSet& flags, const Args& args) {
  return flags.ParseCommandLine(args).value_or(-1);
}

int Fail(const std::string& sub, const Status& s) {
  std::cerr << "lifeboat vault " << sub << ": " << s.message() << "\n";
  return 1;
}

Json PointJson(const vault::Manifest& m) {
  return {{"id", m.id},           {"time", FormatRfc3339(m.time)}, {"hostname", m.hostname},
          {"paths", m.paths},     {"tags", m.tags},                {"partial", m.partial},
          {"bytes", m.summary.bytes}, {"files", m.summary.files}};
}

int Init(const Args& args) {
  FlagSet flags("lifeboat vault init", "lifeboat vault init --vault DIR [--password-file F]",
                "Creates an empty vault with a random master key wrapped by the passphrase.");
  AddVaultFlags(flags);
  flags.String("chunk-min", "", "128K", "smallest chunk");
  flags.String("chunk-avg", "", "256K", "average chunk (a power of two)");
  flags.String("chunk-max", "", "2M", "largest chunk");
  flags.String("compression", "", "1", "zstd level (0: off)");
  flags.String("pack-size", "", "8M", "target pack file size");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto path = vault::ResolveVaultPath(VaultFlags(flags));
  if (!path.ok()) return Fail("init", path.status());
  auto credentials = vault::ResolveCredentials(VaultFlags(flags));
  if (!credentials.ok()) return Fail("init", credentials.status());
  vault::InitOptions options;
  options.credentials = *credentials;
  std::map<std::string, uint64_t> sizes;
  for (const char* name : {"chunk-min", "chunk-avg", "chunk-max", "pack-size"}) {
    auto v = vault::ParseSize(flags.Get(name));
    if (!v.ok()) {
      std::cerr << "lifeboat vault init: --" << name << ": " << v.status().message() << "\n";
      return 2;
    }
    sizes[name] = *v;
  }
  options.config.chunker = {static_cast<uint32_t>(sizes["chunk-min"]),
                            static_cast<uint32_t>(sizes["chunk-avg"]),
                            static_cast<uint32_t>(sizes["chunk-max"])};
  options.config.pack_size = static_cast<uint32_t>(sizes["pack-size"]);
  options.config.compression_level = std::atoi(flags.Get("compression").c_str());
  auto store = vault::OpenStoreAt(*path, /*create=*/true);
  if (!store.ok()) return Fail("init", store.status());
  if (Status s = vault::Repository::Init(**store, options); !s.ok()) return Fail("init", s);
  if (flags.GetBool("json")) {
    std::cout << Json{{"vault", *path}}.dump() << "\n";
  } else {
    std::cout << "Created vault " << *path << "\n";
  }
  return 0;
}

int Points(const Args& args) {
  FlagSet flags("lifeboat vault points", "lifeboat vault points --vault DIR [--json]",
                "Lists the recovery points, oldest first.");
  AddVaultFlags(flags);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto opened = vault::OpenFromFlags(VaultFlags(flags));
  if (!opened.ok()) return Fail("points", opened.status());
  auto points = vault::ListPoints(*opened->repo);
  if (!points.ok()) return Fail("points", points.status());
  if (flags.GetBool("json")) {
    Json out = Json::array();
    for (const auto& m : *points) out.push_back(PointJson(m));
    std::cout << out.dump() << "\n";
    return 0;
  }
  for (const auto& m : *points) {
    std::cout << m.id.substr(0, 8) << "  " << FormatRfc3339(m.time) << "  " << m.hostname << "  "
              << vault::HumanBytes(m.summary.bytes) << (m.partial ? "  PARTIAL" : "");
    for (const auto& p : m.paths) std::cout << "  " << p;
    std::cout << "\n";
  }
  return 0;
}

int CheckCmd(const Args& args) {
  FlagSet flags("lifeboat vault check", "lifeboat vault check --vault DIR [--read-data]",
                "Verifies the vault's structure; with --read-data every byte of every pack.");
  AddVaultFlags(flags);
  flags.Bool("read-data", "", "read and verify every blob");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto opened = vault::OpenFromFlags(VaultFlags(flags));
  if (!opened.ok()) return Fail("check", opened.status());
  bool json = flags.GetBool("json");
  vault::ProgressPrinter printer(std::cerr, !json && ::isatty(STDERR_FILENO));
  vault::CheckOptions options;
  options.read_data = flags.GetBool("read-data");
  options.progress = [&](const vault::Progress& p) { printer(p); };
  auto result = vault::Check(*opened->repo, options);
  printer.Finish();
  if (!result.ok()) return Fail("check", result.status());
  if (json) {
    std::cout << Json{{"ok", result->ok()},         {"errors", result->errors},
                      {"warnings", result->warnings}, {"points", result->points},
                      {"packs", result->packs},      {"blobs", result->blobs},
                      {"trees", result->trees}}
                     .dump()
              << "\n";
  } else {
    for (const auto& w : result->warnings) std::cerr << "warning: " << w << "\n";
    for (const auto& e : result->errors) std::cerr << "error: " << e << "\n";
    std::cout << (result->ok() ? "No errors" : std::to_string(result->errors.size()) + " errors")
              << " (" << result->points << " points, " << result->packs << " packs, "
              << result->trees << " trees, " << result->blobs << " blobs"
              << (options.read_data ? ", all data read" : "") << ")\n";
  }
  return result->ok() ? 0 : 1;
}

int StatsCmd(const Args& args) {
  FlagSet flags("lifeboat vault stats", "lifeboat vault stats --vault DIR [--json]",
                "Logical bytes (sum of the points), unique and stored bytes, dedup ratio.");
  AddVaultFlags(flags);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto opened = vault::OpenFromFlags(VaultFlags(flags));
  if (!opened.ok()) return Fail("stats", opened.status());
  auto s = vault::Stats(*opened->repo);
  if (!s.ok()) return Fail("stats", s.status());
  if (flags.GetBool("json")) {
    std::cout << Json{{"points", s->points},
                      {"logical_bytes", s->logical_bytes},
                      {"unique_bytes", s->unique_bytes},
                      {"stored_bytes", s->stored_bytes},
                      {"packs", s->packs},
                      {"blobs", s->blobs},
                      {"dedup_ratio", s->dedup_ratio},
                      {"compression_ratio", s->compression_ratio}}
                     .dump()
              << "\n";
  } else {
    std::cout << "points:            " << s->points << "\n"
              << "logical:           " << vault::HumanBytes(s->logical_bytes) << "\n"
              << "unique:            " << vault::HumanBytes(s->unique_bytes) << "\n"
              << "stored:            " << vault::HumanBytes(s->stored_bytes) << "\n"
              << "packs / blobs:     " << s->packs << " / " << s->blobs << "\n"
              << "dedup ratio:       " << s->dedup_ratio << "\n"
              << "compression ratio: " << s->compression_ratio << "\n";
  }
  return 0;
}

int PruneCmd(const std::string& sub, FlagSet& flags, vault::Repository& repo) {
  vault::PruneOptions options;
  auto result = vault::Prune(repo, options, SystemClock());
  if (!result.ok()) return Fail(sub, result.status());
  if (flags.GetBool("json")) {
    std::cout << Json{{"packs_deleted", result->packs_deleted},
                      {"packs_repacked", result->packs_repacked},
                      {"packs_kept", result->packs_kept},
                      {"bytes_freed", result->bytes_freed},
                      {"blobs_removed", result->blobs_removed}}
                     .dump()
              << "\n";
  } else {
    std::cout << "Pruned: " << result->packs_deleted << " packs deleted (" << result->packs_repacked
              << " repacked), " << result->blobs_removed << " blobs removed, "
              << vault::HumanBytes(result->bytes_freed) << " freed\n";
  }
  return 0;
}

int RepairCmd(const Args& args) {
  FlagSet flags("lifeboat vault repair", "lifeboat vault repair --vault DIR [--read-data]",
                "Rebuilds the index from the pack files (exclusive lock): one new index file\n"
                "naming every readable pack, then the old index files are removed. Damaged\n"
                "packs are listed and left out.");
  AddVaultFlags(flags);
  flags.Bool("read-data", "", "verify every pack's name and every blob, not only its header");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto opened = vault::OpenFromFlags(VaultFlags(flags));
  if (!opened.ok()) return Fail("repair", opened.status());
  bool json = flags.GetBool("json");
  vault::ProgressPrinter printer(std::cerr, !json && ::isatty(STDERR_FILENO));
  vault::RepairOptions options;
  options.read_data = flags.GetBool("read-data");
  options.progress = [&](const vault::Progress& p) { printer(p); };
  auto result = vault::Repair(*opened->repo, options, SystemClock());
  printer.Finish();
  if (!result.ok()) return Fail("repair", result.status());
  if (json) {
    std::cout << Json{{"packs", result->packs},
                      {"blobs", result->blobs},
                      {"packs_not_indexed_before", result->packs_not_indexed_before},
                      {"index_files_removed", result->index_files_removed},
                      {"index_file", result->index_file},
                      {"damaged", result->damaged}}
                     .dump()
              << "\n";
  } else {
    for (const auto& d : result->damaged) std::cerr << "damaged: " << d << "\n";
    std::cout << "Indexed " << result->packs << " packs (" << result->blobs << " blobs; "
              << result->packs_not_indexed_before << " were not indexed), removed "
              << result->index_files_removed << " old index files"
              << (result->damaged.empty()
                      ? ""
                      : "; " + std::to_string(result->damaged.size()) + " damaged packs")
              << "\n";
  }
  return result->damaged.empty() ? 0 : 1;
}

int Prune(const Args& args) {
  FlagSet flags("lifeboat vault prune", "lifeboat vault prune --vault DIR",
                "Deletes data no recovery point references (exclusive lock).");
  AddVaultFlags(flags);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  auto opened = vault::OpenFromFlags(VaultFlags(flags));
  if (!opened.ok()) return Fail("prune", opened.status());
  return PruneCmd("prune", flags, *opened->repo);
}

int Forget(const Args& args) {
  FlagSet flags("lifeboat vault forget",
                "lifeboat vault forget --vault DIR --keep-last N [--keep-daily N ...] [--prune]",
                "Removes the recovery points a retention policy does not keep (UTC buckets).");
  AddVaultFlags(flags);
  const char* rules[] = {"keep-last", "keep-hourly", "keep-daily", "keep-weekly", "keep-monthly",
                         "keep-yearly"};
  for (const char* r : rules) flags.String(r, "", "0", "points to keep by this rule");
  flags.Bool("dry-run", "n", "only print what would be removed");
  flags.Bool("prune", "", "prune afterwards");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  int values[6];
  for (int i = 0; i < 6; ++i) {
    const std::string& text = flags.Get(rules[i]);
    char* end = nullptr;
    long v = std::strtol(text.c_str(), &end, 10);
    if (end == text.c_str() || *end != '\0' || v < 0) {
      std::cerr << "lifeboat vault forget: --" << rules[i] << " must be a number >= 0, got \""
                << text << "\"\n";
      return 2;
    }
    values[i] = static_cast<int>(v);
  }
  vault::RetentionPolicy policy{values[0], values[1], values[2], values[3], values[4], values[5]};
  auto opened = vault::OpenFromFlags(VaultFlags(flags));
  if (!opened.ok()) return Fail("forget", opened.status());
  auto result = vault::Forget(*opened->repo, policy, flags.GetBool("dry-run"), SystemClock());
  if (!result.ok()) return Fail("forget", result.status());
  if (flags.GetBool("json")) {
    Json keep = Json::array(), remove = Json::array();
    for (const auto& m : result->keep) keep.push_back(m.id);
    for (const auto& m : result->remove) remove.push_back(m.id);
    std::cout << Json{{"keep", keep}, {"remove", remove}}.dump() << "\n";
  } else {
    for (const auto& m : result->remove) {
      std::cout << (flags.GetBool("dry-run") ? "would remove " : "removed ") << m.id.substr(0, 8)
                << "  " << FormatRfc3339(m.time) << "\n";
    }
    std::cout << "Kept " << result->keep.size() << " points, removed " << result->remove.size()
              << "\n";
  }
  if (flags.GetBool("prune") && !flags.GetBool("dry-run")) {
    return PruneCmd("forget", flags, *opened->repo);
  }
  return 0;
}

int DiffCmd(const Args& args) {
  FlagSet flags("lifeboat vault diff", "lifeboat vault diff POINT_A POINT_B --vault DIR",
                "Lists what changed: + added, - removed, M content, U metadata, T type.");
  AddVaultFlags(flags);
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  if (flags.positionals().size() != 2) {
    std::cerr << "lifeboat vault diff: give two points\n";
    return 2;
  }
  auto opened = vault::OpenFromFlags(VaultFlags(flags));
  if (!opened.ok()) return Fail("diff", opened.status());
  auto changes = vault::Diff(*opened->repo, flags.positionals()[0], flags.positionals()[1]);
  if (!changes.ok()) return Fail("diff", changes.status());
  for (const auto& c : *changes) {
    if (flags.GetBool("json")) {
      std::cout << Json{{"change", std::string(1, c.kind)}, {"path", c.path}}.dump() << "\n";
    } else {
      std::cout << c.kind << " " << c.path << "\n";
    }
  }
  return 0;
}

int CopyCmd(const Args& args) {
  FlagSet flags("lifeboat vault copy", "lifeboat vault copy --vault DIR --to DIR2",
                "Makes DIR2 a verified replica of the vault (geo-redundant copy); only files it "
                "lacks are copied.");
  AddVaultFlags(flags);
  flags.String("to", "", "", "the second vault directory");
  if (int rc = ParseOrExit(flags, args); rc >= 0) return rc;
  if (flags.Get("to").empty()) {
    std::cerr << "lifeboat vault copy: --to DIR is required\n";
    return 2;
  }
  auto opened = vault::OpenFromFlags(VaultFlags(flags));
  if (!opened.ok()) return Fail("copy", opened.status());
  auto target = vault::OpenStoreAt(flags.Get("to"), /*create=*/true);
  if (!target.ok()) return Fail("copy", target.status());
  bool json = flags.GetBool("json");
  vault::ProgressPrinter printer(std::cerr, !json && ::isatty(STDERR_FILENO));
  auto result = vault::Copy(*opened->repo, **target,
                            [&](const vault::Progress& p) { printer(p); });
  printer.Finish();
  if (!result.ok()) return Fail("copy", result.status());
  if (json) {
    std::cout << Json{{"packs_copied", result->packs_copied},
                      {"files_copied", result->files_copied},
                      {"bytes_copied", result->bytes_copied}}
                     .dump()
              << "\n";
  } else {
    std::cout << "Copied " << result->packs_copied << " packs and " << result->files_copied
              << " files (" << vault::HumanBytes(result->bytes_copied) << ")\n";
  }
  return 0;
}

}  // namespace

int RunVault(const Args& args) {
  // Chunk and pack buffers are large and short-lived: serve them from mmap so freed memory goes
  // back to the system instead of growing glibc's heaps (keeps peak RSS near the budget).
  mallopt(M_MMAP_THRESHOLD, kMmapThreshold);
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? std::cerr : std::cout) << kVaultUsage;
    return args.empty() ? 2 : 0;
  }
  Args rest(args.begin() + 1, args.end());
  const std::string& sub = args[0];
  if (sub == "init") return Init(rest);
  if (sub == "points" || sub == "snapshots") return Points(rest);
  if (sub == "check") return CheckCmd(rest);
  if (sub == "stats") return StatsCmd(rest);
  if (sub == "forget") return Forget(rest);
  if (sub == "prune") return Prune(rest);
  if (sub == "diff") return DiffCmd(rest);
  if (sub == "copy") return CopyCmd(rest);
  if (sub == "repair") return RepairCmd(rest);
  std::cerr << "lifeboat vault: unknown subcommand \"" << sub << "\"\n\n" << kVaultUsage;
  return 2;
}

}  // namespace lifeboat::cli
