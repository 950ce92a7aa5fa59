#pragma once

// File trees and recovery-point manifests (FORMAT.md §6–§7). A tree blob lists one directory:
// its entries sorted by name, files with their content (chunk IDs and holes), subdirectories by
// the ID of their own tree blob. A manifest (snapshots/<id>) names the root tree.
#include <optional>
#include <string>
#include <vector>

#include "api/json.h"
#include "common/clock.h"
#include "common/status.h"
#include "engines/vault/crypto.h"
#include "engines/vault/fingerprint.h"

namespace lifeboat::vault {

enum class NodeType { kFile, kDir, kSymlink, kFifo, kCharDev, kBlockDev };
const char* NodeTypeName(NodeType t);

// One extent of a file: a chunk, or a hole of `hole` bytes (never stored, restored as a hole).
struct Extent {
  Digest id{};
  uint64_t hole = 0;
  bool is_hole() const { return hole != 0; }
};

struct Node {
  std::string name;
  NodeType type = NodeType::kFile;
  uint32_t mode = 0;  // permission bits incl. setuid/setgid/sticky
  uint32_t uid = 0;
  uint32_t gid = 0;
  int64_t mtime_ns = 0;
  int64_t ctime_ns = 0;  // not restored; part of the change-detection key
  uint64_t inode = 0;
  uint64_t device = 0;
  uint64_t nlink = 1;
  uint64_t size = 0;
  uint64_t rdev = 0;
  std::string target;              // symlinks
  std::optional<Digest> subtree;   // directories
  std::vector<Extent> content;     // files
  // Version 3: the fingerprint of each chunk of `content` (holes have none), in order; empty
  // when not known. The next backup of the file reuses chunks whose bytes have them; restore
  // verifies the chunks by them (falling back to the ID, FORMAT.md §10).
  std::vector<ChunkFingerprint> fingerprints;
  // Extended attributes (name, value bytes), sorted by name.
  std::vector<std::pair<std::string, std::string>> xattrs;
};

// Glob match of a path relative to a point's root: '*' does not cross '/'; a pattern without
// '/' matches the last component ("*.img" matches "vm/disk.img").
bool MatchPath(const std::string& pattern, const std::string& path);

// Whether `s` is valid UTF-8 (no overlong forms, surrogates or code points above U+10FFFF).
// Trees store names, symlink targets and attribute names as JSON strings, which must be.
bool IsValidUtf8(std::string_view s);
// `s` with every byte that is not part of valid UTF-8 written as \xNN, for messages.
std::string EscapeInvalidUtf8(std::string_view s);

std::string EncodeTree(const std::vector<Node>& nodes);
StatusOr<std::vector<Node>> DecodeTree(std::string_view text);
namespace internal {
// EncodeTree through nlohmann's DOM: EncodeTree's reference (and its path for non-ASCII names).
std::string EncodeTreeGeneric(const std::vector<Node>& nodes);
}  // namespace internal

struct FileError {
  std::string path;
  std::string error;
};

struct PointSummary {
  uint64_t files = 0;
  uint64_t dirs = 0;
  uint64_t bytes = 0;            // logical size of the point
  uint64_t files_new = 0;
  uint64_t files_changed = 0;
  uint64_t files_unmodified = 0;
  uint64_t bytes_read = 0;       // bytes read from the source (unchanged files are not read)
  uint64_t bytes_matched = 0;    // of those, in chunks found again by fingerprint (not hashed)
  uint64_t data_added = 0;       // plaintext bytes of new blobs
  uint64_t stored_added = 0;     // bytes of new pack files
  double seconds = 0;
};

struct Manifest {
  std::string id;  // hex SHA-256 of the manifest file (filled in when loaded or saved)
  Clock::TimePoint time;
  std::string hostname;
  std::vector<std::string> paths;  // absolute source paths, one root entry each
  std::vector<std::string> tags;
  Digest tree{};
  std::string parent;
  bool partial = false;
  std::vector<FileError> errors;
  PointSummary summary;
};

// The summary's fields as JSON (manifests, `lifeboat backup --json`).
Json PointSummaryToJson(const PointSummary& s);

std::string EncodeManifest(const Manifest& m);
StatusOr<Manifest> DecodeManifest(std::string_view text);

}  // namespace lifeboat::vault
