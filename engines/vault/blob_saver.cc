#include "engines/vault/blob_saver.h"

#include "engines/vault/compress.h"

namespace lifeboat::vault {

namespace {
// Full packs waiting for an uploader; bounds memory to (this + uploaders + open) packs.
constexpr size_t kMaxQueuedPacks = 1;
// Room for the last blob's envelope and the sealed header appended at upload.
constexpr size_t kPackSlack = 1 << 20;
}  // namespace

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

Status BlobSaver::Repack(BlobType type, const Digest& id, std::string_view plain) {
  return Add(type, id, plain, Dedup::kInFlightOnly);
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
  Compressed c = MaybeCompress(plain, repo_.config().compression_level);
  std::string_view payload = c.compressed ? std::string_view(c.data) : plain;
  std::string sealed = Seal(repo_.key().encryption, payload,
                            std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
  std::unique_lock lock(mu_);
  RETURN_IF_ERROR(error_);
  OpenPack& pack = open_[static_cast<int>(type)];
  if (pack.bytes.capacity() == 0) {
    // Exact capacity up front: growing by doubling would hold up to twice the pack in memory.
    pack.bytes.reserve(repo_.config().pack_size + repo_.config().chunker.max_size + kPackSlack);
  }
  PackEntry e;
  e.id = id;
  e.type = type;
  e.compressed = c.compressed;
  e.offset = static_cast<uint32_t>(pack.bytes.size());
  e.length = static_cast<uint32_t>(sealed.size());
  e.raw_length = static_cast<uint32_t>(plain.size());
  pack.bytes += sealed;
  pack.entries.push_back(e);
  stats_.new_blobs++;
  stats_.new_raw_bytes += plain.size();
  if (pack.bytes.size() >= repo_.config().pack_size) {
    OpenPack full = std::move(pack);
    pack = OpenPack{};
    space_cv_.wait(lock, [&] { return queue_.size() < kMaxQueuedPacks || stopping_; });
    queue_.push_back(std::move(full));
    queue_cv_.notify_one();
  }
  return OkStatus();
}

void BlobSaver::UploadLoop() {
  std::unique_lock lock(mu_);
  while (true) {
    queue_cv_.wait(lock, [&] { return !queue_.empty() || stopping_; });
    if (queue_.empty()) {
      return;
    }
    OpenPack pack = std::move(queue_.front());
    queue_.pop_front();
    ++uploading_;
    space_cv_.notify_all();
    lock.unlock();
    Status s = Upload(pack);
    lock.lock();
    --uploading_;
    if (!s.ok() && error_.ok()) {
      error_ = s;
    }
    space_cv_.notify_all();
  }
}

Status BlobSaver::Upload(OpenPack& pack) {
  std::string header = Seal(repo_.key().encryption, EncodePackHeader(pack.entries),
                            kAadPackHeader);
  uint32_t header_len = static_cast<uint32_t>(header.size());
  pack.bytes += header;
  for (int i = 0; i < 4; ++i) {
    pack.bytes.push_back(static_cast<char>(header_len >> (8 * i)));
  }
  PackInfo info;
  info.id = Sha256(pack.bytes);
  info.size = pack.bytes.size();
  info.blobs = std::move(pack.entries);
  Status s = repo_.store().Put(PackName(info.id), pack.bytes);
  if (!s.ok() && !IsAlreadyExists(s)) {
    return s;
  }
  repo_.AddPack(info);
  std::lock_guard lock(mu_);
  stats_.packs++;
  stats_.packed_bytes += info.size;
  new_packs_.push_back(std::move(info));
  return OkStatus();
}

Status BlobSaver::FlushPacks() {
  std::unique_lock lock(mu_);
    for (OpenPack& pack : open_) {
      if (!pack.entries.empty()) {
        queue_.push_back(std::move(pack));
        pack = OpenPack{};
        queue_cv_.notify_one();
      }
    }
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
