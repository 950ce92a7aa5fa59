#pragma once

// The source side of replication. One call = one cycle: scan the volumes, reuse the hashes of
// files unchanged since the last committed cycle (size, mtime, inode), hash the rest (disk images
// in fixed 4 KiB blocks with holes skipped, other files in content-defined chunks), ask the target
// which new hashes it lacks, send only those (zstd, in batches, pipelined with hashing), then
// commit a recovery point as a delta against the previous one. Local state lives in
// `state_dir`; a cycle cut off anywhere resumes with what the target already holds.
#include <atomic>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <string>
#include <vector>

#include "common/clock.h"
#include "common/status.h"
#include "engines/replication/manifest.h"

namespace lifeboat::replication {

struct Volume {
  std::string name;  // the top-level directory in the point; default: the path's file name
  std::filesystem::path path;  // a directory tree or a single file (a disk image)
};

struct TargetEndpoint {
  std::string endpoint;  // https://host:port
  std::string ca_pem;    // trusted CA (PEM); empty = the system store
  std::string token;     // bearer token
  bool insecure_skip_verify = false;
  std::filesystem::path client_cert;  // optional mutual TLS
  std::filesystem::path client_key;
  std::chrono::milliseconds connect_timeout{5'000};
  std::chrono::milliseconds io_timeout{60'000};
};

struct ReplicationProgress {
  uint64_t bytes_done = 0;   // bytes of changed files read and hashed so far
  uint64_t bytes_total = 0;  // bytes of changed files in this cycle
  uint64_t bytes_sent = 0;   // request bytes sent so far
};

struct ReplicateOptions {
  std::string site;                 // the source site's id (the target's directory)
  std::string ns;                   // namespace of the policy
  std::string policy;               // policy name
  std::filesystem::path state_dir;  // source-side state (last committed manifest)
  Consistency consistency = Consistency::kCrash;
  uint64_t bandwidth_limit = 0;       // bytes/s; 0 = unlimited
  std::chrono::seconds retention{0};  // recoveryPointRetention; 0 = keep every point
  std::function<void(const ReplicationProgress&)> progress;  // called from a worker thread
  const std::atomic<bool>* cancel = nullptr;
  const Clock* clock = nullptr;
};

struct ReplicateResult {
  PointInfo point;
  bool full = false;  // no usable base: every hash was negotiated
  uint64_t files = 0;
  uint64_t files_changed = 0;  // files read this cycle
  uint64_t bytes_scanned = 0;  // logical bytes of all files
  uint64_t bytes_hashed = 0;   // bytes read and hashed
  uint64_t chunks_sent = 0;
  uint64_t data_bytes_sent = 0;  // raw bytes of the chunks sent (before compression)
  uint64_t bytes_sent = 0;       // request bytes on the wire (heads + bodies, before TLS)
  uint64_t bytes_received = 0;   // response bytes (heads + bodies)
  std::chrono::milliseconds duration{0};
};

StatusOr<ReplicateResult> Replicate(const std::vector<Volume>& volumes,
                                    const TargetEndpoint& target, const ReplicateOptions& options);

struct PingResult {
  std::string version;
  std::chrono::milliseconds latency{0};
};
StatusOr<PingResult> Ping(const TargetEndpoint& target);

struct RemoteJournal {
  std::vector<PointInfo> points;  // oldest first
  uint64_t stored_bytes = 0;
};
StatusOr<RemoteJournal> ListRemotePoints(const TargetEndpoint& target, const std::string& site,
                                         const std::string& ns, const std::string& policy);
Status DeleteRemotePoint(const TargetEndpoint& target, const std::string& site,
                         const std::string& ns, const std::string& policy,
                         const std::string& point);

}  // namespace lifeboat::replication
