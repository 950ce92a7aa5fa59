#include "engines/replication/sender.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <set>
#include <thread>
#include <unordered_map>
#include <unordered_set>

#include "engines/replication/fs_util.h"
#include "engines/replication/https.h"
#include "engines/replication/protocol.h"
#include "engines/replication/store.h"
#include "engines/replication/target_client.h"
#include "engines/vault/chunker.h"
#include "engines/vault/crypto.h"

namespace lifeboat::replication {
namespace fs = std::filesystem;
namespace {

constexpr size_t kBatchBytes = 4 << 20;  // chunk data per upload request
constexpr size_t kBatchChunks = 8192;    // hashes per negotiation
constexpr size_t kQueueDepth = 4;        // batches hashed ahead of the network
// Uploads in flight at once: the target verifies and fsyncs one batch while the next arrives.
constexpr int kUploadConnections = 3;
constexpr size_t kReadBuffer = 8 << 20;
constexpr int kChunkZstdLevel = 3;
constexpr uint64_t kMinImageBytes = 1 << 20;
constexpr auto kProgressInterval = std::chrono::milliseconds(200);
// Small chunks for files: an insertion costs about one chunk on the wire.
constexpr vault::ChunkerParams kFileChunking{4 << 10, 16 << 10, 64 << 10};
constexpr std::string_view kStateFile = "state.bin";
constexpr std::string_view kImageExtensions[] = {".img",  ".raw", ".qcow2",
                                                 ".vmdk", ".vhd", ".vhdx"};

std::array<uint8_t, vault::kKeySize> ChunkerKey() {
  vault::Digest d = vault::Sha256("lifeboat replication chunker v1");
  std::array<uint8_t, vault::kKeySize> key;
  std::copy(d.begin(), d.end(), key.begin());
  return key;
}

std::string RepoPath(const ReplicateOptions& o) {
  return "/v1/repos/" + o.site + "/" + o.ns + "/" + o.policy;
}

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

bool IsZero(const char* p, size_t n) {
  static const char kZeros[kImageBlockSize] = {};
  return n <= sizeof(kZeros) && std::memcmp(p, kZeros, n) == 0;
}

struct Batch {
  std::vector<Hash> hashes;
  std::vector<std::string> data;
  size_t bytes = 0;
};

class BatchQueue {
 public:
  // False when the consumer failed (the producer stops).
  bool Push(Batch b) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return q_.size() < kQueueDepth || failed_; });
    if (failed_) {
      return false;
    }
    q_.push_back(std::move(b));
    cv_.notify_all();
    return true;
  }
  std::optional<Batch> Pop() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait(lock, [&] { return !q_.empty() || closed_; });
    if (q_.empty()) {
      return std::nullopt;
    }
    Batch b = std::move(q_.front());
    q_.pop_front();
    cv_.notify_all();
    return b;
  }
  void Close() {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  void Fail() {
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = true;
    cv_.notify_all();
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Batch> q_;
  bool closed_ = false;
  bool failed_ = false;
};

StatusOr<std::unique_ptr<HttpsClient>> Connect(const TargetEndpoint& t,
                                               std::shared_ptr<BandwidthPacer> pacer) {
  return ConnectTarget(t, std::move(pacer));
}

StatusOr<HttpResponse> Call(HttpsClient& client, const std::string& method,
                            const std::string& target, const std::string& body,
                            std::string_view what) {
  ASSIGN_OR_RETURN(HttpResponse resp, client.Do(method, target, body));
  if (resp.status != 200) {
    return StatusFromResponse(
        resp.status, resp.body,
        "replication endpoint " + client.endpoint() + " " + std::string(what));
  }
  return resp;
}

StatusOr<RemoteJournal> ParseJournal(const HttpResponse& resp, const std::string& endpoint) {
  Json j = Json::parse(resp.body, nullptr, false);
  if (!j.is_object() || !j.contains("points") || !j["points"].is_array()) {
    return UnavailableError("replication endpoint " + endpoint + " returned a malformed journal");
  }
  RemoteJournal journal;
  journal.stored_bytes = j.value("storedBytes", uint64_t{0});
  for (const Json& p : j["points"]) {
    ASSIGN_OR_RETURN(PointInfo info, PointInfoFromJson(p));
    journal.points.push_back(std::move(info));
  }
  return journal;
}

// What one cycle scans and how.
struct FileJob {
  size_t entry = 0;  // index into the manifest's entries
  fs::path path;
};

Status WalkVolume(const Volume& v, std::vector<Entry>* out, std::vector<fs::path>* paths) {
  struct stat st {};
  if (::lstat(v.path.c_str(), &st) != 0) {
    return ErrnoStatus("volume " + v.path.string());
  }
  auto add = [&](const std::string& rel, const fs::path& p, const struct stat& s) -> Status {
    Entry e;
    e.path = rel;
    e.mode = s.st_mode & 07777;
    e.mtime_ns = MtimeNs(s);
    e.inode = s.st_ino;
    if (S_ISDIR(s.st_mode)) {
      e.type = EntryType::kDirectory;
    } else if (S_ISLNK(s.st_mode)) {
      e.type = EntryType::kSymlink;
      std::error_code ec;
      e.target = fs::read_symlink(p, ec).string();
      if (ec) {
        return UnavailableError("read link " + p.string() + ": " + ec.message());
      }
    } else if (S_ISREG(s.st_mode)) {
      e.type = EntryType::kFile;
      e.size = static_cast<uint64_t>(s.st_size);
      bool sparse = static_cast<uint64_t>(s.st_blocks) * 512 < e.size;
      std::string ext = p.extension().string();
      bool image_ext = std::find(std::begin(kImageExtensions), std::end(kImageExtensions), ext) !=
                       std::end(kImageExtensions);
      if (p == v.path || image_ext || (sparse && e.size >= kMinImageBytes)) {
        e.chunking = ChunkingKind::kFixedBlocks;
      }
    } else {
      return OkStatus();  // sockets, fifos, devices: not data
    }
    out->push_back(std::move(e));
    paths->push_back(p);
    return OkStatus();
  };
  RETURN_IF_ERROR(add(v.name, v.path, st));
  if (!S_ISDIR(st.st_mode)) {
    return OkStatus();
  }
  std::error_code ec;
  fs::recursive_directory_iterator it(v.path, fs::directory_options::none, ec);
  for (; !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path& p = it->path();
    struct stat s {};
    if (::lstat(p.c_str(), &s) != 0) {
      if (errno == ENOENT) {
        continue;  // deleted while we walked
      }
      return ErrnoStatus("stat " + p.string());
    }
    std::string rel = v.name + "/" + p.lexically_relative(v.path).generic_string();
    RETURN_IF_ERROR(add(rel, p, s));
  }
  if (ec) {
    return UnavailableError("walk volume " + v.path.string() + ": " + ec.message());
  }
  return OkStatus();
}

class Cycle {
 public:
  Cycle(const ReplicateOptions& options, std::vector<HttpsClient*> uploaders,
        ReplicateResult& result)
      : options_(options),
        uploaders_(std::move(uploaders)),
        result_(result),
        chunker_(kFileChunking, ChunkerKey()) {}

  Status Run(Manifest& next, const std::vector<fs::path>& paths, const Manifest* base) {
    std::unordered_map<std::string_view, const Entry*> old;
    if (base != nullptr) {
      for (const Entry& e : base->entries) {
        old.emplace(e.path, &e);
        for (const ChunkRef& r : e.chunks) {
          known_.insert(r.hash);
        }
      }
    }
    std::vector<FileJob> jobs;
    for (size_t i = 0; i < next.entries.size(); ++i) {
      Entry& e = next.entries[i];
      if (e.type != EntryType::kFile) {
        continue;
      }
      ++result_.files;
      result_.bytes_scanned += e.size;
      auto it = old.find(e.path);
      if (it != old.end() && it->second->type == EntryType::kFile && it->second->size == e.size &&
          it->second->mtime_ns == e.mtime_ns && it->second->inode == e.inode &&
          it->second->chunking == e.chunking) {
        e.chunks = it->second->chunks;
        continue;
      }
      jobs.push_back({i, paths[i]});
      progress_.bytes_total += e.size;
    }
    result_.files_changed = jobs.size();
    std::vector<std::thread> network;
    for (HttpsClient* c : uploaders_) {
      network.emplace_back([this, c] { NetworkLoop(*c); });
    }
    Status hashed = OkStatus();
    for (const FileJob& job : jobs) {
      hashed = HashFile(next.entries[job.entry], job.path);
      if (!hashed.ok()) {
        break;
      }
    }
    if (hashed.ok() && !batch_.hashes.empty()) {
      if (!queue_.Push(std::move(batch_))) {
        hashed = CancelledError("upload stopped");
      }
    }
    queue_.Close();
    for (std::thread& t : network) {
      t.join();
    }
    ReportProgress(true);
    if (!network_status_.ok()) {
      return network_status_;
    }
    return hashed;
  }

 private:
  bool Cancelled() const {
    return options_.cancel != nullptr && options_.cancel->load(std::memory_order_relaxed);
  }

  Status Emit(std::vector<ChunkRef>& chunks, const char* data, size_t size, bool image) {
    if (image && IsZero(data, size)) {
      chunks.push_back({static_cast<uint32_t>(size), kHoleHash});
      return OkStatus();
    }
    Hash h = vault::Sha256(std::string_view(data, size));
    chunks.push_back({static_cast<uint32_t>(size), h});
    if (!known_.contains(h) && seen_.insert(h).second) {
      batch_.hashes.push_back(h);
      batch_.data.emplace_back(data, size);
      batch_.bytes += size;
      if (batch_.bytes >= kBatchBytes || batch_.hashes.size() >= kBatchChunks) {
        if (!queue_.Push(std::move(batch_))) {
          return CancelledError("upload stopped");
        }
        batch_ = Batch{};
      }
    }
    return OkStatus();
  }

  Status HashFile(Entry& e, const fs::path& path) {
    auto fd_or = OpenRead(path);
    if (!fd_or.ok()) {
      if (IsNotFound(fd_or.status())) {
        e.size = 0;  // deleted since the walk: recorded as empty; the next cycle drops it
        e.chunks.clear();
        return OkStatus();
      }
      return fd_or.status();
    }
    int fd = fd_or->get();
    ::posix_fadvise(fd, 0, 0, POSIX_FADV_SEQUENTIAL);
    buffer_.resize(kReadBuffer);
    e.chunks.clear();
    bool image = e.chunking == ChunkingKind::kFixedBlocks;
    if (image) {
      return HashImage(e, fd, path);
    }
    size_t filled = 0, pos = 0;
    bool eof = false;
    uint64_t total = 0;
    while (true) {
      if (Cancelled()) {
        return CancelledError("replication cancelled");
      }
      if (!eof && filled - pos < kFileChunking.max_size) {
        std::memmove(buffer_.data(), buffer_.data() + pos, filled - pos);
        filled -= pos;
        pos = 0;
        while (filled < buffer_.size()) {
          ssize_t n = ::read(fd, buffer_.data() + filled, buffer_.size() - filled);
          if (n < 0 && errno == EINTR) {
            continue;
          }
          if (n < 0) {
            return ErrnoStatus("read " + path.string());
          }
          if (n == 0) {
            eof = true;
            break;
          }
          filled += static_cast<size_t>(n);
          Advance(static_cast<uint64_t>(n));
        }
      }
      if (pos == filled) {
        break;
      }
      size_t cut =
          chunker_.Cut(reinterpret_cast<const uint8_t*>(buffer_.data() + pos), filled - pos, eof);
      RETURN_IF_ERROR(Emit(e.chunks, buffer_.data() + pos, cut, false));
      pos += cut;
      total += cut;
    }
    e.size = total;  // a file that grew or shrank while read is recorded as read
    return OkStatus();
  }

  Status HashImage(Entry& e, int fd, const fs::path& path) {
    uint64_t size = e.size;
    uint64_t offset = 0;
    while (offset < size) {
      if (Cancelled()) {
        return CancelledError("replication cancelled");
      }
      off_t data = ::lseek(fd, static_cast<off_t>(offset), SEEK_DATA);
      uint64_t data_start = data < 0 ? size : std::min<uint64_t>(static_cast<uint64_t>(data), size);
      data_start -= data_start % kImageBlockSize;
      data_start = std::max(data_start, offset);
      for (; offset < data_start; offset += kImageBlockSize) {
        uint32_t len = static_cast<uint32_t>(std::min<uint64_t>(kImageBlockSize, size - offset));
        e.chunks.push_back({len, kHoleHash});
      }
      if (offset >= size) {
        break;
      }
      off_t hole = ::lseek(fd, static_cast<off_t>(offset), SEEK_HOLE);
      uint64_t data_end = hole < 0 ? size : std::min<uint64_t>(static_cast<uint64_t>(hole), size);
      data_end =
          std::min(size, (data_end + kImageBlockSize - 1) / kImageBlockSize * kImageBlockSize);
      if (data_end <= offset) {
        data_end = std::min(size, offset + kImageBlockSize);
      }
      while (offset < data_end) {
        size_t want = static_cast<size_t>(std::min<uint64_t>(buffer_.size(), data_end - offset));
        size_t got = 0;
        while (got < want) {
          ssize_t n =
              ::pread(fd, buffer_.data() + got, want - got, static_cast<off_t>(offset + got));
          if (n < 0 && errno == EINTR) {
            continue;
          }
          if (n < 0) {
            return ErrnoStatus("read " + path.string());
          }
          if (n == 0) {
            // Shrunk while read: the rest reads as zeros (the size recorded at the walk stays).
            std::memset(buffer_.data() + got, 0, want - got);
            break;
          }
          got += static_cast<size_t>(n);
        }
        Advance(want);
        for (size_t b = 0; b < want; b += kImageBlockSize) {
          size_t len = std::min<size_t>(kImageBlockSize, want - b);
          RETURN_IF_ERROR(Emit(e.chunks, buffer_.data() + b, len, true));
          if (Cancelled()) {
            return CancelledError("replication cancelled");
          }
        }
        offset += want;
      }
    }
    return OkStatus();
  }

  void Advance(uint64_t n) {
    progress_.bytes_done += n;
    result_.bytes_hashed += n;
    ReportProgress(false);
  }

  void ReportProgress(bool force) {
    if (!options_.progress) {
      return;
    }
    auto now = std::chrono::steady_clock::now();
    std::lock_guard<std::mutex> lock(progress_mu_);
    if (!force && now - last_progress_ < kProgressInterval) {
      return;
    }
    last_progress_ = now;
    ReplicationProgress p = progress_;
    p.bytes_sent = sent_.load();
    options_.progress(p);
  }

  void NetworkLoop(HttpsClient& client) {
    std::string base = RepoPath(options_);
    while (std::optional<Batch> batch = queue_.Pop()) {
      {
        std::lock_guard<std::mutex> lock(result_mu_);
        if (!network_status_.ok()) {
          continue;  // drain so the producer never blocks
        }
      }
      uint64_t before = client.bytes_sent();
      Status s = Upload(client, *batch, base);
      sent_ += client.bytes_sent() - before;
      if (!s.ok()) {
        std::lock_guard<std::mutex> lock(result_mu_);
        if (network_status_.ok()) {
          network_status_ = s;
        }
        queue_.Fail();
      }
      ReportProgress(false);
    }
  }

  Status Upload(HttpsClient& client, const Batch& batch, const std::string& base) {
    if (Cancelled()) {
      return CancelledError("replication cancelled");
    }
    std::string query(batch.hashes.size() * 32, '\0');
    std::memcpy(query.data(), batch.hashes.data(), query.size());
    ASSIGN_OR_RETURN(HttpResponse resp,
                     Call(client, "POST", base + "/missing", query, "negotiation"));
    if (resp.body.size() % 32 != 0) {
      return UnavailableError("replication endpoint " + client.endpoint() +
                              " returned a malformed missing list");
    }
    std::unordered_set<Hash, HashHasher> missing;
    for (size_t i = 0; i < resp.body.size(); i += 32) {
      Hash h;
      std::memcpy(h.data(), resp.body.data() + i, 32);
      missing.insert(h);
    }
    if (!missing.empty()) {
      std::string records;
      uint64_t chunks = 0, bytes = 0;
      for (size_t i = 0; i < batch.hashes.size(); ++i) {
        if (!missing.contains(batch.hashes[i])) {
          continue;
        }
        records.append(reinterpret_cast<const char*>(batch.hashes[i].data()), 32);
        uint32_t len = static_cast<uint32_t>(batch.data[i].size());
        char lb[4] = {static_cast<char>(len & 0xff), static_cast<char>((len >> 8) & 0xff),
                      static_cast<char>((len >> 16) & 0xff), static_cast<char>(len >> 24)};
        records.append(lb, 4);
        records.append(batch.data[i]);
        ++chunks;
        bytes += len;
      }
      RETURN_IF_ERROR(
          Call(client, "POST", base + "/chunks", FrameBody(records, kChunkZstdLevel), "upload")
              .status());
      std::lock_guard<std::mutex> lock(result_mu_);
      result_.chunks_sent += chunks;
      result_.data_bytes_sent += bytes;
    }
    return OkStatus();
  }

  const ReplicateOptions& options_;
  std::vector<HttpsClient*> uploaders_;
  ReplicateResult& result_;
  std::mutex result_mu_;  // network_status_ and the sent counters of result_
  vault::Chunker chunker_;
  std::unordered_set<Hash, HashHasher> known_;
  std::unordered_set<Hash, HashHasher> seen_;
  std::vector<char> buffer_;
  Batch batch_;
  BatchQueue queue_;
  Status network_status_;
  std::mutex progress_mu_;
  ReplicationProgress progress_;
  std::atomic<uint64_t> sent_{0};
  std::chrono::steady_clock::time_point last_progress_{};
};

StatusOr<std::optional<Manifest>> LoadState(const fs::path& dir) {
  fs::path path = dir / kStateFile;
  auto data = ReadWholeFile(path);
  if (!data.ok()) {
    if (IsNotFound(data.status())) {
      return std::optional<Manifest>();
    }
    return data.status();
  }
  auto m = DecodeManifest(*data, path.string());
  if (!m.ok()) {
    return std::optional<Manifest>();  // unreadable state: start over with a full cycle
  }
  return std::optional<Manifest>(std::move(*m));
}

}  // namespace

StatusOr<std::unique_ptr<HttpsClient>> ConnectTarget(const TargetEndpoint& t,
                                                     std::shared_ptr<BandwidthPacer> pacer) {
  HttpsClientOptions o;
  o.endpoint = t.endpoint;
  o.ca_pem = t.ca_pem;
  o.bearer_token = t.token;
  o.insecure_skip_verify = t.insecure_skip_verify;
  o.client_cert = t.client_cert;
  o.client_key = t.client_key;
  o.connect_timeout = t.connect_timeout;
  o.io_timeout = t.io_timeout;
  o.pacer = std::move(pacer);
  return HttpsClient::Create(std::move(o));
}

StatusOr<ReplicateResult> Replicate(const std::vector<Volume>& volumes_in,
                                    const TargetEndpoint& target, const ReplicateOptions& options) {
  const Clock& clock = options.clock != nullptr ? *options.clock : SystemClock();
  auto started = std::chrono::steady_clock::now();
  RETURN_IF_ERROR(ValidateRepoName("site", options.site));
  RETURN_IF_ERROR(ValidateRepoName("namespace", options.ns));
  RETURN_IF_ERROR(ValidateRepoName("policy", options.policy));
  if (options.state_dir.empty()) {
    return InvalidArgumentError("replication: state directory is required");
  }
  if (volumes_in.empty()) {
    return InvalidArgumentError("replication: no volumes given");
  }
  std::vector<Volume> volumes = volumes_in;
  std::set<std::string> names;
  for (Volume& v : volumes) {
    if (v.name.empty()) {
      v.name = v.path.filename().string();
    }
    if (!SafeRelativePath(v.name) || v.name.find('/') != std::string::npos) {
      return InvalidArgumentError("volume name \"" + v.name + "\" of " + v.path.string() +
                                  " must be a plain file name");
    }
    if (!names.insert(v.name).second) {
      return InvalidArgumentError("two volumes are named \"" + v.name + "\"");
    }
  }
  std::error_code ec;
  fs::create_directories(options.state_dir, ec);
  if (ec) {
    return UnavailableError("replication: cannot create state directory " +
                            options.state_dir.string() + ": " + ec.message());
  }
  ASSIGN_OR_RETURN(std::optional<Manifest> state, LoadState(options.state_dir));
  std::shared_ptr<BandwidthPacer> pacer;
  if (options.bandwidth_limit > 0) {
    pacer = std::make_shared<BandwidthPacer>(options.bandwidth_limit);
  }
  ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> client, Connect(target, pacer));
  std::vector<std::unique_ptr<HttpsClient>> uploaders;
  std::vector<HttpsClient*> uploader_ptrs;
  for (int i = 0; i < kUploadConnections; ++i) {
    ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> c, Connect(target, pacer));
    uploader_ptrs.push_back(c.get());
    uploaders.push_back(std::move(c));
  }
  std::string base_path = RepoPath(options);
  ASSIGN_OR_RETURN(HttpResponse jr, Call(*client, "GET", base_path + "/points", "", "journal"));
  ASSIGN_OR_RETURN(RemoteJournal journal, ParseJournal(jr, target.endpoint));
  bool base_valid = state.has_value() && !journal.points.empty() &&
                    std::any_of(journal.points.begin(), journal.points.end(),
                                [&](const PointInfo& p) { return p.id == state->info.id; });

  for (int attempt = 0; attempt < 2; ++attempt) {
    ReplicateResult result;
    result.full = !base_valid;
    Manifest next;
    next.info.time_ms =
        std::chrono::duration_cast<std::chrono::milliseconds>(clock.Now().time_since_epoch())
            .count();
    next.info.consistency = options.consistency;
    std::vector<fs::path> paths;
    for (const Volume& v : volumes) {
      RETURN_IF_ERROR(WalkVolume(v, &next.entries, &paths));
    }
    std::vector<size_t> order(next.entries.size());
    for (size_t i = 0; i < order.size(); ++i) {
      order[i] = i;
    }
    std::sort(order.begin(), order.end(),
              [&](size_t a, size_t b) { return next.entries[a].path < next.entries[b].path; });
    {
      std::vector<Entry> sorted;
      std::vector<fs::path> sorted_paths;
      sorted.reserve(order.size());
      for (size_t i : order) {
        sorted.push_back(std::move(next.entries[i]));
        sorted_paths.push_back(std::move(paths[i]));
      }
      next.entries = std::move(sorted);
      paths = std::move(sorted_paths);
    }
    Cycle cycle(options, uploader_ptrs, result);
    RETURN_IF_ERROR(cycle.Run(next, paths, base_valid ? &*state : nullptr));
    if (options.cancel != nullptr && options.cancel->load()) {
      return CancelledError("replication cancelled before the commit");
    }
    Manifest wire = base_valid ? MakeDelta(*state, next) : next;
    if (!base_valid) {
      wire.info.base.clear();
    }
    for (Entry& e : wire.entries) {
      e.inode = 0;
    }
    std::string target_path = base_path + "/points";
    if (options.retention.count() > 0) {
      target_path += "?retentionSeconds=" + std::to_string(options.retention.count());
    }
    // A fresh connection: the journal's may have been closed by the target while data moved, and
    // a commit is not retried on a broken connection (it may have been applied).
    ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> committer, Connect(target, nullptr));
    auto committed =
        Call(*committer, "POST", target_path, FrameBody(EncodeManifest(wire), 3), "commit");
    result.bytes_sent += committer->bytes_sent();
    result.bytes_received += committer->bytes_received();
    if (!committed.ok()) {
      if (committed.status().code() == StatusCode::kFailedPrecondition && base_valid) {
        base_valid = false;  // the target lost the base or its data: negotiate everything
        continue;
      }
      return committed.status();
    }
    Json j = Json::parse(committed->body, nullptr, false);
    ASSIGN_OR_RETURN(result.point, PointInfoFromJson(j));
    next.info.id = result.point.id;
    next.info.base.clear();
    RETURN_IF_ERROR(
        WriteFileAtomic(options.state_dir, std::string(kStateFile), EncodeManifest(next)));
    result.bytes_sent += client->bytes_sent();
    result.bytes_received += client->bytes_received();
    for (const auto& c : uploaders) {
      result.bytes_sent += c->bytes_sent();
      result.bytes_received += c->bytes_received();
    }
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - started);
    return result;
  }
  return FailedPreconditionError("replication endpoint " + target.endpoint +
                                 " rejected the commit twice");
}

StatusOr<PingResult> Ping(const TargetEndpoint& target) {
  ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> client, Connect(target, nullptr));
  auto start = std::chrono::steady_clock::now();
  ASSIGN_OR_RETURN(HttpResponse resp, Call(*client, "GET", "/v1/ping", "", "ping"));
  PingResult r;
  r.latency = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  Json j = Json::parse(resp.body, nullptr, false);
  if (!j.is_object() || !j.contains("version") || !j["version"].is_string()) {
    return UnavailableError("replication endpoint " + target.endpoint +
                            " answered ping with something else than a Lifeboat endpoint");
  }
  r.version = j["version"].get<std::string>();
  return r;
}

StatusOr<RemoteJournal> ListRemotePoints(const TargetEndpoint& target, const std::string& site,
                                         const std::string& ns, const std::string& policy) {
  ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> client, Connect(target, nullptr));
  ASSIGN_OR_RETURN(HttpResponse resp,
                   Call(*client, "GET", "/v1/repos/" + site + "/" + ns + "/" + policy + "/points",
                        "", "journal"));
  return ParseJournal(resp, target.endpoint);
}

Status DeleteRemotePoint(const TargetEndpoint& target, const std::string& site,
                         const std::string& ns, const std::string& policy,
                         const std::string& point) {
  ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> client, Connect(target, nullptr));
  return Call(*client, "DELETE", "/v1/repos/" + site + "/" + ns + "/" + policy + "/points/" + point,
              "", "delete")
      .status();
}

}  // namespace lifeboat::replication
