#pragma once

// The S3-compatible server for tests (tests/s3/server.js: pinned s3rver + SigV4 checks,
// conditional writes, whole-body uploads) started on 127.0.0.1 with a free port and a temp
// directory, and a loopback TCP proxy that cuts connections (fault tests). Compiled into the
// test binaries that use it.
#include <sys/types.h>

#include <atomic>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/status.h"
#include "engines/storage/s3_blob_store.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::testing {

class S3TestServer {
 public:
  static constexpr const char* kBucket = "lifeboat-test";
  static constexpr const char* kLockedBucket = "lifeboat-locked";  // with Object Lock
  static constexpr const char* kAccessKeyId = "lifeboat-test-key";
  static constexpr const char* kSecretAccessKey = "lifeboat-test-secret";

  // kUnavailable with the reason when node or tests/s3/node_modules is missing (tests skip
  // then: `make test-deps` installs it), or when the server does not come up in time.
  static StatusOr<std::unique_ptr<S3TestServer>> Start();
  ~S3TestServer();
  S3TestServer(const S3TestServer&) = delete;
  S3TestServer& operator=(const S3TestServer&) = delete;

  int port() const { return port_; }
  std::string endpoint() const { return "http://127.0.0.1:" + std::to_string(port_); }
  // Options for a store in kBucket under `prefix`, with the server's credentials.
  storage::S3Options StoreOptions(const std::string& prefix) const;
  // The next `n` requests answer 503 SlowDown (0 ends it).
  Status InjectSlowDowns(int n) const;
  // Where the server keeps its files (tests look for leftovers).
  const std::filesystem::path& directory() const { return dir_.path(); }

 private:
  S3TestServer() = default;
  TempDir dir_;
  pid_t pid_ = -1;
  int stdin_fd_ = -1;
  int port_ = 0;
};

// Forwards 127.0.0.1:port() to 127.0.0.1:upstream_port. While cuts remain, a connection is
// closed (both ways, with RST) once `cut_after_bytes` bytes came from the client on it or, with
// kOnFirstResponse, when an answer byte arrives (the request was served, the client never hears
// so). Each cut uses one of `cuts`; Arm adds more.
class CuttingProxy {
 public:
  enum class Mode { kAfterClientBytes, kOnFirstResponse };
  CuttingProxy(int upstream_port, uint64_t cut_after_bytes, int cuts,
               Mode mode = Mode::kAfterClientBytes);
  ~CuttingProxy();
  CuttingProxy(const CuttingProxy&) = delete;
  CuttingProxy& operator=(const CuttingProxy&) = delete;

  int port() const { return port_; }
  void Arm(int cuts) { cuts_left_ += cuts; }
  int cuts_done() const { return cuts_done_.load(); }

 private:
  void AcceptLoop();
  void Serve(int client);

  int upstream_port_;
  uint64_t cut_after_bytes_;
  Mode mode_;
  std::atomic<int> cuts_left_;
  std::atomic<int> cuts_done_{0};
  std::atomic<bool> stop_{false};
  int listen_fd_ = -1;
  int port_ = 0;
  std::thread acceptor_;
  std::mutex mu_;
  std::vector<std::thread> workers_;
};

}  // namespace lifeboat::testing
