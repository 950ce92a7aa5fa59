#include "engines/vault/blob_saver.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "engines/vault/compress.h"

namespace lifeboat::vault {

namespace {
// Full packs waiting for an uploader; bounds memory to (this + uploaders + open lanes) packs.
constexpr size_t kMaxQueuedPacks = 1;
// Uploaded pack buffers kept for reuse instead of being freed and faulted in again.
constexpr size_t kMaxFreePacks = 6;
// Room for the sealed header and trailer appended at upload (it grows when a pack holds many
// tiny blobs).
constexpr size_t kPackSlack = 1 << 20;
// Tree packs start small: directories are few bytes next to file data.
constexpr size_t kTreePackStart = 1 << 20;

size_t ThreadLane(size_t lanes) {
  static std::atomic<size_t> next{0};
  thread_local size_t mine = next.fetch_add(1, std::memory_order_relaxed);
  return mine % lanes;
}
}  // namespace

void BlobSaver::FreeDeleter::operator()(char* p) const { std::free(p); }

void BlobSaver::OpenPack::Reserve(size_t n) {
  if (n <= capacity) {
    return;
  }
  constexpr size_t kAlign = 4096;
  size_t grown = (std::max(n, 2 * capacity) + kAlign - 1) / kAlign * kAlign;
  std::unique_ptr<char[], FreeDeleter> bigger(
      static_cast<char*>(std::aligned_alloc(kAlign, grown)));
  if (bigger == nullptr) {
    throw std::bad_alloc();
  }
  if (size > 0) {
    std::memcpy(bigger.get(), bytes.get(), size);
  }
  bytes = std::move(bigger);
  capacity = grown;
}

void BlobSaver::OpenPack::Append(std::string_view data) {
  Reserve(size + data.size());
  std::memcpy(bytes.get() + size, data.data(), data.size());
  sha.Update(data.data(), data.size());
  size += data.size();
}

BlobSaver::BlobSaver(Repository& repo, int upload_threads) : repo_(repo) {
  for (int i = 0; i < std::max(1, upload_threads); ++i) {
    uploaders_.emplace_back([this] { UploadLoop(); });
  }
}

BlobSaver::~BlobSaver() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  queue_cv_.notify_all();
  space_cv_.notify_all();
  for (auto& t : uploaders_) {
    t.join();
  }
}

Status BlobSaver::error() const {
  std::lock_guard lock(mu_);
  return error_;
}

StatusOr<Digest> BlobSaver::Save(BlobType type, std::string_view plain) {
  Digest id = repo_.hmac().Sum(plain);
  RETURN_IF_ERROR(Add(type, id, plain, Dedup::kAgainstIndex));
  return id;
}

Status BlobSaver::SaveWithId(BlobType type, const Digest& id, std::string_view plain) {
  return Add(type, id, plain, Dedup::kAgainstIndex);
}

bool BlobSaver::Has(const Digest& id) const {
  {
    std::lock_guard lock(mu_);
    if (in_flight_.contains(id)) {
      return true;
    }
  }
  return repo_.Lookup(id).has_value();
}

Status BlobSaver::Repack(BlobType type, const Digest& id, std::string_view plain) {
  return Add(type, id, plain, Dedup::kInFlightOnly);
}

std::unique_ptr<BlobSaver::OpenPack> BlobSaver::NewPack(BlobType type) {
  std::unique_ptr<OpenPack> pack;
  {
    std::lock_guard lock(mu_);
    if (!free_.empty()) {
      pack = std::move(free_.back());
      free_.pop_back();
    }
  }
  if (pack == nullptr) {
    pack = std::make_unique<OpenPack>();
  }
  pack->size = 0;
  pack->entries.clear();
  // Exact capacity up front for data: growing by doubling would hold up to twice the pack.
  pack->Reserve(type == BlobType::kTree
                    ? kTreePackStart
                    : repo_.config().pack_size + repo_.config().chunker.max_size + kPackSlack);
  return pack;
}

Status BlobSaver::Add(BlobType type, const Digest& id, std::string_view plain, Dedup dedup) {
  {
    std::lock_guard lock(mu_);
    RETURN_IF_ERROR(error_);
    if (in_flight_.contains(id) ||
        (dedup == Dedup::kAgainstIndex && repo_.Lookup(id).has_value())) {
      return OkStatus();
    }
    in_flight_.insert(id);
  }
  thread_local ScratchBuffer scratch;
  std::optional<std::string_view> frame =
      MaybeCompressTo(plain, repo_.config().compression_level, scratch);
  std::string_view payload = frame.value_or(plain);
  const size_t sealed_size = payload.size() + kSealOverhead;

  Lane& lane = lanes_[ThreadLane(kLanes)];
  std::unique_ptr<OpenPack> full;
  {
    std::lock_guard lock(lane.mu);
    std::unique_ptr<OpenPack>& pack = lane.open[static_cast<int>(type)];
    if (pack == nullptr) {
      pack = NewPack(type);
    }
    pack->Reserve(pack->size + sealed_size + kPackSlack);
    auto* out = reinterpret_cast<uint8_t*>(pack->bytes.get() + pack->size);
    SealTo(repo_.key().encryption, payload,
           std::string_view(reinterpret_cast<const char*>(id.data()), id.size()), out);
    pack->sha.Update(out, sealed_size);
    PackEntry e;
    e.id = id;
    e.type = type;
    e.compressed = frame.has_value();
    e.offset = static_cast<uint32_t>(pack->size);
    e.length = static_cast<uint32_t>(sealed_size);
    e.raw_length = static_cast<uint32_t>(plain.size());
    pack->size += sealed_size;
    pack->entries.push_back(e);
    if (pack->size >= repo_.config().pack_size) {
      full = std::move(pack);
    }
  }
  {
    std::lock_guard lock(mu_);
    stats_.new_blobs++;
    stats_.new_raw_bytes += plain.size();
  }
  if (full != nullptr) {
    Enqueue(std::move(full));
  }
  return OkStatus();
}

void BlobSaver::Enqueue(std::unique_ptr<OpenPack> pack) {
  std::unique_lock lock(mu_);
  space_cv_.wait(lock, [&] { return queue_.size() < kMaxQueuedPacks || stopping_; });
  queue_.push_back(std::move(pack));
  queue_cv_.notify_one();
}

void BlobSaver::UploadLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    queue_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) {
      return;
    }
    std::unique_ptr<OpenPack> pack = std::move(queue_.front());
    queue_.pop_front();
    ++uploading_;
    space_cv_.notify_all();
    lock.unlock();
    Status s = Upload(*pack);
    lock.lock();
    --uploading_;
    if (!s.ok() && error_.ok()) {
      error_ = s;
    }
    if (free_.size() < kMaxFreePacks) {
      free_.push_back(std::move(pack));
    }
    space_cv_.notify_all();
  }
}

Status BlobSaver::Upload(OpenPack& pack) {
  std::string header = Seal(repo_.key().encryption, EncodePackHeader(pack.entries), kAadPackHeader);
  uint32_t header_len = static_cast<uint32_t>(header.size());
  char trailer[4];
  for (int i = 0; i < 4; ++i) {
    trailer[i] = static_cast<char>(header_len >> (8 * i));
  }
  pack.Append(header);
  pack.Append(std::string_view(trailer, sizeof(trailer)));
  PackInfo info;
  info.id = pack.sha.Final();
  info.size = pack.size;
  info.blobs = pack.entries;
  Status s = repo_.store().Put(PackName(info.id), std::string_view(pack.bytes.get(), pack.size));
  if (!s.ok() && !IsAlreadyExists(s)) {
    return s;
  }
  repo_.AddPack(info);
  std::lock_guard lock(mu_);
  // Indexed now: the in-flight set only holds blobs of packs not yet uploaded.
  for (const PackEntry& e : info.blobs) {
    in_flight_.erase(e.id);
  }
  stats_.packs++;
  stats_.packed_bytes += info.size;
  new_packs_.push_back(std::move(info));
  return OkStatus();
}

Status BlobSaver::FlushPacks() {
  for (Lane& lane : lanes_) {
    std::unique_ptr<OpenPack> open[2];
    {
      std::lock_guard lock(lane.mu);
      for (int t = 0; t < 2; ++t) {
        if (lane.open[t] != nullptr && !lane.open[t]->entries.empty()) {
          open[t] = std::move(lane.open[t]);
        }
      }
    }
    for (auto& pack : open) {
      if (pack != nullptr) {
        Enqueue(std::move(pack));
      }
    }
  }
  std::unique_lock lock(mu_);
  space_cv_.wait(lock, [&] { return (queue_.empty() && uploading_ == 0) || !error_.ok(); });
  return error_;
}

StatusOr<std::string> BlobSaver::Finish() {
  RETURN_IF_ERROR(FlushPacks());
  std::vector<PackInfo> packs = new_packs();
  if (packs.empty()) {
    return std::string();
  }
  return repo_.SaveFile(kIndexPrefix, EncodeIndex(packs), kAadIndex);
}

SaverStats BlobSaver::stats() const {
  std::lock_guard lock(mu_);
  return stats_;
}

std::vector<PackInfo> BlobSaver::new_packs() const {
  std::lock_guard lock(mu_);
  return new_packs_;
}

}  // namespace lifeboat::vault
