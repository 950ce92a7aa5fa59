// `lifeboat snapshot create|ls|rm|restore|verify|gc`: local point-in-time snapshots of volumes.
#include <unistd.h>

#include <iostream>
#include <optional>

#include "api/json.h"
#include "cli/commands.h"
#include "cli/flags.h"
#include "common/clock.h"
#include "engines/snapshot/snapshot.h"
#include "engines/vault/cli_support.h"

namespace lifeboat::cli {
namespace {

constexpr const char* kSnapshotUsage =
    "Usage: lifeboat snapshot SUBCOMMAND [flags]\n\n"
    "Subcommands:\n"
    "  create    snapshot volumes: --store DIR --volume NAME=PATH [--volume ...]\n"
    "  ls        list snapshots with provisioned / used / exclusive bytes\n"
    "  rm        delete a snapshot, freeing the blocks only it used: rm ID\n"
    "  restore   materialise a snapshot as a new file or directory: restore ID --target PATH\n"
    "  verify    re-hash every block of a snapshot: verify ID\n"
    "  gc        remove what interrupted runs left behind\n\n"
    "The store defaults to $LIFEBOAT_SNAPSHOT_STORE. Run 'lifeboat snapshot SUBCOMMAND --help'.\n";

constexpr int kExitFailure = 1;
constexpr int kExitUsage = 2;

void AddStoreFlags(FlagSet& flags) {
  flags.String("store", "s", "", "snapshot store directory (default $LIFEBOAT_SNAPSHOT_STORE)");
  flags.Bool("json", "", "print the result as JSON on stdout, no progress");
  AddLogFlags(flags);
}

int Fail(const std::string& sub, const Status& s) {
  std::cerr << "lifeboat snapshot " << sub << ": " << s.message() << "\n";
  return kExitFailure;
}

// Opens the store; `create` allows a new one (create), the others need an existing store.
StatusOr<std::unique_ptr<snapshot::SnapshotStore>> OpenStore(const FlagSet& flags, bool create) {
  std::string dir = flags.Get("store");
  if (dir.empty()) {
    const char* env = std::getenv("LIFEBOAT_SNAPSHOT_STORE");
    dir = env != nullptr ? env : "";
  }
  if (dir.empty()) {
    return InvalidArgumentError("give --store DIR (or set LIFEBOAT_SNAPSHOT_STORE)");
  }
  std::error_code ec;
  if (!create && !std::filesystem::exists(std::filesystem::path(dir) / "store.json", ec)) {
    return NotFoundError("no snapshot store at " + dir +
                         " (create one with `lifeboat snapshot "
                         "create --store " +
                         dir + " ...`)");
  }
  snapshot::StoreOptions options;
  if (flags.WasDeclared("block-size") && flags.WasSet("block-size")) {
    ASSIGN_OR_RETURN(uint64_t bs, vault::ParseSize(flags.Get("block-size")));
    if (bs > snapshot::kMaxBlockSize) {
      return InvalidArgumentError("--block-size " + flags.Get("block-size") + " is too large");
    }
    options.block_size = static_cast<uint32_t>(bs);
    options.block_size_set = true;
  }
  return snapshot::SnapshotStore::Open(dir, options);
}

snapshot::ProgressFn ProgressTo(vault::ProgressPrinter& printer) {
  return [&printer](const snapshot::Progress& p) {
    vault::Progress vp;
    vp.phase = p.phase;
    vp.bytes_done = p.bytes_done;
    vp.bytes_total = p.bytes_total;
    printer(vp);
  };
}

Json InfoJson(const snapshot::SnapshotInfo& s) {
  return {{"id", s.id},
          {"volume", s.volume},
          {"kind", snapshot::VolumeKindName(s.kind)},
          {"source", s.source},
          {"creationTime", FormatRfc3339(s.creation_time)},
          {"parent", s.parent},
          {"provisionedBytes", s.provisioned_bytes},
          {"usedBytes", s.used_bytes},
          {"exclusiveBytes", s.exclusive_bytes},
          {"files", s.files},
          {"directories", s.directories},
          {"symlinks", s.symlinks},
          {"changedDuringRead", s.changed_during_read}};
}

int Create(const Args& args) {
  FlagSet flags("lifeboat snapshot create",
                "lifeboat snapshot create --store DIR --volume NAME=PATH [--volume NAME=PATH...]",
                "Snapshots each volume (a disk image file or a directory) into the store. Only "
                "blocks that are not already stored are written; zero blocks cost nothing. A "
                "file that changes while it is read fails the snapshot unless --allow-changes.");
  AddStoreFlags(flags);
  flags.Repeated("volume", "v", "NAME=PATH of a volume to snapshot (repeatable)");
  flags.String("block-size", "", "16K", "block size of a new store (4K..1M)");
  flags.String("threads", "", "0", "hashing threads (0: one per core)");
  flags.Bool("allow-changes", "",
             "keep a snapshot whose files changed while read, listing them (default: fail)");
  if (std::optional<int> rc = flags.ParseCommandLine(args)) return *rc;
  const auto& volumes = flags.GetAll("volume");
  if (volumes.empty() || !flags.positionals().empty()) {
    std::cerr << "lifeboat snapshot create: give one or more --volume NAME=PATH\n";
    return kExitUsage;
  }
  std::vector<std::pair<std::string, std::string>> parsed;
  for (const std::string& v : volumes) {
    size_t eq = v.find('=');
    if (eq == std::string::npos || eq == 0 || eq + 1 == v.size()) {
      std::cerr << "lifeboat snapshot create: --volume \"" << v << "\" is not NAME=PATH\n";
      return kExitUsage;
    }
    parsed.emplace_back(v.substr(0, eq), v.substr(eq + 1));
  }
  auto store = OpenStore(flags, /*create=*/true);
  if (!store.ok()) return Fail("create", store.status());
  bool json = flags.GetBool("json");
  Json out = Json::array();
  for (const auto& [name, path] : parsed) {
    vault::ProgressPrinter printer(std::cerr, !json && ::isatty(STDERR_FILENO));
    snapshot::CreateOptions options;
    options.volume = name;
    options.source = path;
    options.threads = std::atoi(flags.Get("threads").c_str());
    options.on_source_change = flags.GetBool("allow-changes")
                                   ? snapshot::SourceChangePolicy::kReport
                                   : snapshot::SourceChangePolicy::kFail;
    options.progress = ProgressTo(printer);
    auto result = (*store)->Create(options);
    printer.Finish();
    if (!result.ok()) return Fail("create", result.status().WithPrefix("volume " + name));
    const auto& s = result->snapshot;
    if (json) {
      Json j = InfoJson(s);
      j["bytesRead"] = result->bytes_read;
      j["bytesStored"] = result->bytes_stored;
      j["filesReused"] = result->files_reused;
      j["skipped"] = result->skipped;
      out.push_back(std::move(j));
      continue;
    }
    std::cout << "Created snapshot " << s.id << " of " << name << " (" << s.source
              << "): " << vault::HumanBytes(s.provisioned_bytes) << " provisioned, "
              << vault::HumanBytes(s.used_bytes) << " used, "
              << vault::HumanBytes(result->bytes_stored) << " new\n";
    for (const auto& c : s.changed_during_read) {
      std::cerr << "lifeboat snapshot create: changed while read: " << c << "\n";
    }
    for (const auto& k : result->skipped) {
      std::cerr << "lifeboat snapshot create: skipped " << k << "\n";
    }
  }
  if (json) std::cout << out.dump() << "\n";
  return 0;
}

int Ls(const Args& args) {
  FlagSet flags("lifeboat snapshot ls", "lifeboat snapshot ls --store DIR [--volume NAME]",
                "Lists snapshots, oldest first: used bytes are what a snapshot references, "
                "exclusive bytes what deleting it frees.");
  AddStoreFlags(flags);
  flags.String("volume", "v", "", "only this volume");
  if (std::optional<int> rc = flags.ParseCommandLine(args)) return *rc;
  auto store = OpenStore(flags, /*create=*/false);
  if (!store.ok()) return Fail("ls", store.status());
  auto list = (*store)->List();
  if (!list.ok()) return Fail("ls", list.status());
  const std::string& only = flags.Get("volume");
  Json out = Json::array();
  if (!flags.GetBool("json")) {
    std::cout << "ID            CREATED               VOLUME          KIND       PROVISIONED"
                 "        USED   EXCLUSIVE\n";
  }
  for (const auto& s : *list) {
    if (!only.empty() && s.volume != only) continue;
    if (flags.GetBool("json")) {
      out.push_back(InfoJson(s));
      continue;
    }
    char line[256];
    std::snprintf(line, sizeof(line), "%-13s %-21s %-15s %-9s %12s %11s %11s\n", s.id.c_str(),
                  FormatRfc3339(s.creation_time).c_str(), s.volume.c_str(),
                  std::string(snapshot::VolumeKindName(s.kind)).c_str(),
                  vault::HumanBytes(s.provisioned_bytes).c_str(),
                  vault::HumanBytes(s.used_bytes).c_str(),
                  vault::HumanBytes(s.exclusive_bytes).c_str());
    std::cout << line;
  }
  if (flags.GetBool("json")) std::cout << out.dump() << "\n";
  return 0;
}

int Rm(const Args& args) {
  FlagSet flags("lifeboat snapshot rm", "lifeboat snapshot rm ID... --store DIR",
                "Deletes snapshots (IDs or unique prefixes) and frees the blocks no other "
                "snapshot uses.");
  AddStoreFlags(flags);
  if (std::optional<int> rc = flags.ParseCommandLine(args)) return *rc;
  if (flags.positionals().empty()) {
    std::cerr << "lifeboat snapshot rm: give a snapshot ID\n";
    return kExitUsage;
  }
  auto store = OpenStore(flags, /*create=*/false);
  if (!store.ok()) return Fail("rm", store.status());
  Json out = Json::array();
  for (const std::string& id : flags.positionals()) {
    auto d = (*store)->Delete(id);
    if (!d.ok()) return Fail("rm", d.status());
    if (flags.GetBool("json")) {
      out.push_back({{"id", id}, {"bytesFreed", d->bytes_freed}, {"blocksFreed", d->blocks_freed}});
    } else {
      std::cout << "Deleted snapshot " << id << ", freed " << vault::HumanBytes(d->bytes_freed)
                << "\n";
    }
  }
  if (flags.GetBool("json")) std::cout << out.dump() << "\n";
  return 0;
}

int Restore(const Args& args) {
  FlagSet flags("lifeboat snapshot restore",
                "lifeboat snapshot restore ID --target PATH --store DIR",
                "Materialises a snapshot as a new sparse file or directory tree, byte-identical "
                "to the volume at snapshot time. Every block is verified; the target appears "
                "only when complete and must not exist (an empty directory is accepted).");
  AddStoreFlags(flags);
  flags.String("target", "t", "", "path of the new file or directory");
  flags.String("threads", "", "0", "worker threads (0: one per core)");
  if (std::optional<int> rc = flags.ParseCommandLine(args)) return *rc;
  if (flags.positionals().size() != 1 || flags.Get("target").empty()) {
    std::cerr << "lifeboat snapshot restore: give one snapshot ID and --target PATH\n";
    return kExitUsage;
  }
  auto store = OpenStore(flags, /*create=*/false);
  if (!store.ok()) return Fail("restore", store.status());
  bool json = flags.GetBool("json");
  vault::ProgressPrinter printer(std::cerr, !json && ::isatty(STDERR_FILENO));
  snapshot::MaterializeOptions options;
  options.id = flags.positionals()[0];
  options.target = flags.Get("target");
  options.threads = std::atoi(flags.Get("threads").c_str());
  options.progress = ProgressTo(printer);
  auto r = (*store)->Materialize(options);
  printer.Finish();
  if (!r.ok()) return Fail("restore", r.status());
  if (json) {
    std::cout << Json{{"target", r->target.string()},
                      {"bytesWritten", r->bytes_written},
                      {"files", r->files},
                      {"directories", r->directories},
                      {"symlinks", r->symlinks}}
                     .dump()
              << "\n";
  } else {
    std::cout << "Restored snapshot " << options.id << " to " << r->target.string() << " ("
              << vault::HumanBytes(r->bytes_written) << " of data)\n";
  }
  return 0;
}

int Verify(const Args& args) {
  FlagSet flags("lifeboat snapshot verify", "lifeboat snapshot verify ID... --store DIR",
                "Re-reads and re-hashes every block of each snapshot; exit 1 on any damage.");
  AddStoreFlags(flags);
  if (std::optional<int> rc = flags.ParseCommandLine(args)) return *rc;
  if (flags.positionals().empty()) {
    std::cerr << "lifeboat snapshot verify: give a snapshot ID\n";
    return kExitUsage;
  }
  auto store = OpenStore(flags, /*create=*/false);
  if (!store.ok()) return Fail("verify", store.status());
  bool json = flags.GetBool("json");
  Json out = Json::array();
  int rc = 0;
  for (const std::string& id : flags.positionals()) {
    vault::ProgressPrinter printer(std::cerr, !json && ::isatty(STDERR_FILENO));
    auto v = (*store)->Verify(id, ProgressTo(printer));
    printer.Finish();
    if (!v.ok()) {
      rc = Fail("verify", v.status());
      if (json) out.push_back({{"id", id}, {"ok", false}, {"error", v.status().message()}});
      continue;
    }
    if (json) {
      out.push_back({{"id", id},
                     {"ok", true},
                     {"blocksChecked", v->blocks_checked},
                     {"bytesChecked", v->bytes_checked}});
    } else {
      std::cout << "Snapshot " << id << " is intact: " << v->blocks_checked << " blocks, "
                << vault::HumanBytes(v->bytes_checked) << " verified\n";
    }
  }
  if (json) std::cout << out.dump() << "\n";
  return rc;
}

int Gc(const Args& args) {
  FlagSet flags("lifeboat snapshot gc", "lifeboat snapshot gc --store DIR",
                "Removes temp files and blocks no snapshot references (left by interrupted runs).");
  AddStoreFlags(flags);
  if (std::optional<int> rc = flags.ParseCommandLine(args)) return *rc;
  auto store = OpenStore(flags, /*create=*/false);
  if (!store.ok()) return Fail("gc", store.status());
  auto s = (*store)->CollectGarbage();
  if (!s.ok()) return Fail("gc", s.status());
  if (flags.GetBool("json")) {
    std::cout << Json{{"bytesFreed", s->bytes_freed},
                      {"blocksFreed", s->blocks_freed},
                      {"packsRemoved", s->packs_removed}}
                     .dump()
              << "\n";
  } else {
    std::cout << "Freed " << vault::HumanBytes(s->bytes_freed) << " in " << s->blocks_freed
              << " blocks\n";
  }
  return 0;
}

}  // namespace

int RunSnapshot(const Args& args) {
  if (args.empty() || args[0] == "--help" || args[0] == "-h" || args[0] == "help") {
    (args.empty() ? std::cerr : std::cout) << kSnapshotUsage;
    return args.empty() ? kExitUsage : 0;
  }
  Args rest(args.begin() + 1, args.end());
  const std::string& sub = args[0];
  if (sub == "create") return Create(rest);
  if (sub == "ls" || sub == "list") return Ls(rest);
  if (sub == "rm" || sub == "delete") return Rm(rest);
  if (sub == "restore") return Restore(rest);
  if (sub == "verify") return Verify(rest);
  if (sub == "gc") return Gc(rest);
  std::cerr << "lifeboat snapshot: unknown subcommand \"" << sub << "\"\n\n" << kSnapshotUsage;
  return kExitUsage;
}

}  // namespace lifeboat::cli
