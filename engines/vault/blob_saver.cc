#include "engines/vault/blob_saver.h"

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <new>

#include "common/sha256_ni.h"
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
  Appended(data.size());
}

void BlobSaver::OpenPack::Appended(size_t n) {
  if (!sha256ni::Available()) {
    sha.Update(bytes.get() + size, n);
  }
  size += n;
}

Digest BlobSaver::OpenPack::FinalHash() {
  if (!sha256ni::Available()) {
    return sha.Final();
  }
  const auto* p = reinterpret_cast<const uint8_t*>(bytes.get());
  size_t blocks = (size - hashed) / 64;
  sha256ni::Compress(state, p + hashed, blocks);
  hashed += 64 * blocks;
  uint8_t pad[128];
  size_t n = sha256ni::PaddingBlocks(p + hashed, size - hashed, size, pad);
  sha256ni::Compress(state, pad, n);
  Digest d;
  sha256ni::DigestOf(state, d.data());
  return d;
}

namespace {
// Hashes the bytes that both packs have and the other has not hashed yet, two streams at once.
void HashTogether(uint32_t state_a[8], const char* a, size_t a_size, size_t& a_hashed,
                  uint32_t state_b[8], const char* b, size_t b_size, size_t& b_hashed) {
  size_t blocks = std::min(a_size - a_hashed, b_size - b_hashed) / 64;
  if (blocks == 0) {
    return;
  }
  sha256ni::Compress2(state_a, reinterpret_cast<const uint8_t*>(a) + a_hashed, state_b,
                      reinterpret_cast<const uint8_t*>(b) + b_hashed, blocks);
  a_hashed += 64 * blocks;
  b_hashed += 64 * blocks;
}
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

Status BlobSaver::SaveWithId(BlobType type, const Digest& id, std::string_view plain) {
  return Add(type, id, plain, Dedup::kAgainstIndex);
}

bool BlobSaver::Has(const Digest& id) const {
  {
    InFlightShard& shard = ShardOf(id);
    std::lock_guard lock(shard.mu);
    if (shard.ids.contains(id)) {
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
  std::memcpy(pack->state, sha256ni::kInitialState, sizeof(pack->state));
  pack->hashed = 0;
  // Exact capacity up front for data: growing by doubling would hold up to twice the pack.
  pack->Reserve(type == BlobType::kTree
                    ? kTreePackStart
                    : repo_.config().pack_size + repo_.config().chunker.max_size + kPackSlack);
  return pack;
}

Status BlobSaver::Add(BlobType type, const Digest& id, std::string_view plain, Dedup dedup) {
  if (failed_.load(std::memory_order_relaxed)) {
    return error();
  }
  {
    // Under the shard's lock: an uploader indexes a pack's blobs before it drops them from the
    // in-flight set, so a blob is always in one or the other.
    InFlightShard& shard = ShardOf(id);
    std::lock_guard lock(shard.mu);
    if (shard.ids.contains(id) || (dedup == Dedup::kAgainstIndex && repo_.Lookup(id).has_value())) {
      return OkStatus();
    }
    shard.ids.insert(id);
  }
  thread_local ScratchBuffer scratch;
  std::optional<std::string_view> frame =
      MaybeCompressTo(plain, repo_.config().compression_level, scratch);
  std::string_view payload = frame.value_or(plain);
  const size_t sealed_size = payload.size() + kSealOverhead;
  const size_t pack_size = repo_.config().pack_size;

  Lane& lane = lanes_[ThreadLane(kLanes)];
  std::unique_ptr<OpenPack> full[2];
  {
    std::lock_guard lock(lane.mu);
    // Trees go to the lane's tree pack; data to the smaller of its two data packs (an empty
    // slot first), so that the two grow together and their bytes can be hashed in pairs.
    std::unique_ptr<OpenPack>* slot = &lane.tree;
    std::unique_ptr<OpenPack>* partner = nullptr;
    if (type == BlobType::kData) {
      int i = lane.data[0] == nullptr                    ? 0
              : lane.data[1] == nullptr                  ? 1
              : lane.data[0]->size <= lane.data[1]->size ? 0
                                                         : 1;
      slot = &lane.data[i];
      partner = &lane.data[1 - i];
    }
    std::unique_ptr<OpenPack>& pack = *slot;
    if (pack == nullptr) {
      pack = NewPack(type);
    }
    pack->Reserve(pack->size + sealed_size + kPackSlack);
    auto* out = reinterpret_cast<uint8_t*>(pack->bytes.get() + pack->size);
    SealTo(repo_.key().encryption, payload,
           std::string_view(reinterpret_cast<const char*>(id.data()), id.size()), out);
    PackEntry e;
    e.id = id;
    e.type = type;
    e.compressed = frame.has_value();
    e.offset = static_cast<uint32_t>(pack->size);
    e.length = static_cast<uint32_t>(sealed_size);
    e.raw_length = static_cast<uint32_t>(plain.size());
    pack->Appended(sealed_size);
    pack->entries.push_back(e);
    OpenPack* other = partner != nullptr ? partner->get() : nullptr;
    if (other != nullptr && sha256ni::Available()) {
      HashTogether(pack->state, pack->bytes.get(), pack->size, pack->hashed, other->state,
                   other->bytes.get(), other->size, other->hashed);
    }
    if (pack->size >= pack_size) {
      full[0] = std::move(pack);
      // The partner is about as full (it was the larger one): it goes too, rather than wait
      // for a new pack to grow past it. A partner left small by a huge blob stays open.
      if (other != nullptr && other->size >= pack_size / 2) {
        full[1] = std::move(*partner);
      }
    }
  }
  new_blobs_.fetch_add(1, std::memory_order_relaxed);
  new_raw_bytes_.fetch_add(plain.size(), std::memory_order_relaxed);
  for (auto& f : full) {
    if (f != nullptr) {
      Enqueue(std::move(f));
    }
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
      failed_.store(true);
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
  info.id = pack.FinalHash();
  info.size = pack.size;
  info.blobs = pack.entries;
  Status s = repo_.store().Put(PackName(info.id), std::string_view(pack.bytes.get(), pack.size));
  if (!s.ok() && !IsAlreadyExists(s)) {
    return s;
  }
  repo_.AddPack(info);
  // Indexed now: the in-flight set only holds blobs of packs not yet uploaded.
  for (const PackEntry& e : info.blobs) {
    InFlightShard& shard = ShardOf(e.id);
    std::lock_guard lock(shard.mu);
    shard.ids.erase(e.id);
  }
  std::lock_guard lock(mu_);
  stats_.packs++;
  stats_.packed_bytes += info.size;
  new_packs_.push_back(std::move(info));
  return OkStatus();
}

Status BlobSaver::FlushPacks() {
  for (Lane& lane : lanes_) {
    std::unique_ptr<OpenPack> open[3];
    {
      std::lock_guard lock(lane.mu);
      std::unique_ptr<OpenPack>* slots[3] = {&lane.tree, &lane.data[0], &lane.data[1]};
      for (int t = 0; t < 3; ++t) {
        if (*slots[t] != nullptr && !(*slots[t])->entries.empty()) {
          open[t] = std::move(*slots[t]);
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
  SaverStats s = stats_;
  s.new_blobs = new_blobs_.load();
  s.new_raw_bytes = new_raw_bytes_.load();
  return s;
}

std::vector<PackInfo> BlobSaver::new_packs() const {
  std::lock_guard lock(mu_);
  return new_packs_;
}

}  // namespace lifeboat::vault
