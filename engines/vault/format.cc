#include "engines/vault/format.h"

#include <cstring>

namespace lifeboat::vault {

namespace {
constexpr char kPackMagic[4] = {'L', 'B', 'P', 'H'};
constexpr char kIndexMagic[4] = {'L', 'B', 'I', 'X'};
constexpr size_t kHeaderEntrySize = 1 + 1 + 4 + 4 + 32;
constexpr uint8_t kFlagCompressed = 1;

void Put32(std::string& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 4);
}
void Put64(std::string& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>(v >> (8 * i));
  out.append(b, 8);
}

class Reader {
 public:
  explicit Reader(std::string_view in) : in_(in) {}
  bool Take(size_t n, const char** p) {
    if (in_.size() - pos_ < n) return false;
    *p = in_.data() + pos_;
    pos_ += n;
    return true;
  }
  bool U8(uint8_t* v) {
    const char* p;
    if (!Take(1, &p)) return false;
    *v = static_cast<uint8_t>(*p);
    return true;
  }
  bool U32(uint32_t* v) {
    const char* p;
    if (!Take(4, &p)) return false;
    *v = 0;
    for (int i = 0; i < 4; ++i) *v |= uint32_t{static_cast<uint8_t>(p[i])} << (8 * i);
    return true;
  }
  bool U64(uint64_t* v) {
    const char* p;
    if (!Take(8, &p)) return false;
    *v = 0;
    for (int i = 0; i < 8; ++i) *v |= uint64_t{static_cast<uint8_t>(p[i])} << (8 * i);
    return true;
  }
  bool Id(Digest* d) {
    const char* p;
    if (!Take(32, &p)) return false;
    std::memcpy(d->data(), p, 32);
    return true;
  }
  bool done() const { return pos_ == in_.size(); }

 private:
  std::string_view in_;
  size_t pos_ = 0;
};

void PutEntry(std::string& out, const PackEntry& e, bool with_offset) {
  out.push_back(static_cast<char>(e.type));
  out.push_back(static_cast<char>(e.compressed ? kFlagCompressed : 0));
  if (with_offset) Put32(out, e.offset);
  Put32(out, e.length);
  Put32(out, e.raw_length);
  out.append(reinterpret_cast<const char*>(e.id.data()), 32);
}

bool GetEntry(Reader& r, PackEntry* e, bool with_offset) {
  uint8_t type = 0;
  uint8_t flags = 0;
  if (!r.U8(&type) || !r.U8(&flags)) return false;
  if (type > static_cast<uint8_t>(BlobType::kTree)) return false;
  e->type = static_cast<BlobType>(type);
  e->compressed = (flags & kFlagCompressed) != 0;
  if (with_offset && !r.U32(&e->offset)) return false;
  return r.U32(&e->length) && r.U32(&e->raw_length) && r.Id(&e->id);
}
}  // namespace

const char* BlobTypeName(BlobType t) { return t == BlobType::kTree ? "tree" : "data"; }

std::string PackName(const Digest& id) { return std::string(kDataPrefix) + ToHex(id); }

std::string EncodePackHeader(const std::vector<PackEntry>& blobs) {
  std::string out(kPackMagic, 4);
  Put32(out, kFormatVersion);
  Put32(out, static_cast<uint32_t>(blobs.size()));
  for (const PackEntry& e : blobs) {
    PutEntry(out, e, /*with_offset=*/false);
  }
  return out;
}

StatusOr<std::vector<PackEntry>> DecodePackHeader(std::string_view plain) {
  Reader r(plain);
  const char* magic;
  uint32_t version = 0;
  uint32_t count = 0;
  if (!r.Take(4, &magic) || std::memcmp(magic, kPackMagic, 4) != 0 || !r.U32(&version) ||
      !r.U32(&count)) {
    return DataLossError("pack header has no valid magic/version");
  }
  if (version != kFormatVersion) {
    return DataLossError("pack header version " + std::to_string(version) + " is not supported");
  }
  if (count > plain.size() / kHeaderEntrySize) {
    return DataLossError("pack header claims too many entries");
  }
  std::vector<PackEntry> out(count);
  uint32_t offset = 0;
  for (PackEntry& e : out) {
    if (!GetEntry(r, &e, /*with_offset=*/false)) {
      return DataLossError("pack header entry is truncated");
    }
    e.offset = offset;
    offset += e.length;
  }
  if (!r.done()) {
    return DataLossError("pack header has trailing bytes");
  }
  return out;
}

std::string EncodeIndex(const std::vector<PackInfo>& packs) {
  std::string out(kIndexMagic, 4);
  Put32(out, kFormatVersion);
  Put32(out, static_cast<uint32_t>(packs.size()));
  for (const PackInfo& p : packs) {
    out.append(reinterpret_cast<const char*>(p.id.data()), 32);
    Put64(out, p.size);
    Put32(out, static_cast<uint32_t>(p.blobs.size()));
    for (const PackEntry& e : p.blobs) {
      PutEntry(out, e, /*with_offset=*/true);
    }
  }
  return out;
}

StatusOr<std::vector<PackInfo>> DecodeIndex(std::string_view plain) {
  Reader r(plain);
  const char* magic;
  uint32_t version = 0;
  uint32_t count = 0;
  if (!r.Take(4, &magic) || std::memcmp(magic, kIndexMagic, 4) != 0 || !r.U32(&version) ||
      !r.U32(&count)) {
    return DataLossError("index has no valid magic/version");
  }
  if (version != kFormatVersion) {
    return DataLossError("index version " + std::to_string(version) + " is not supported");
  }
  std::vector<PackInfo> out;
  for (uint32_t i = 0; i < count; ++i) {
    PackInfo p;
    uint32_t blobs = 0;
    if (!r.Id(&p.id) || !r.U64(&p.size) || !r.U32(&blobs)) {
      return DataLossError("index pack record is truncated");
    }
    if (blobs > plain.size()) {
      return DataLossError("index pack record claims too many blobs");
    }
    p.blobs.resize(blobs);
    for (PackEntry& e : p.blobs) {
      if (!GetEntry(r, &e, /*with_offset=*/true)) {
        return DataLossError("index blob record is truncated");
      }
    }
    out.push_back(std::move(p));
  }
  if (!r.done()) {
    return DataLossError("index has trailing bytes");
  }
  return out;
}

StatusOr<std::vector<PackEntry>> ReadPackHeader(const std::array<uint8_t, kKeySize>& key,
                                                std::string_view tail, uint64_t pack_size) {
  if (tail.size() < kPackTrailer || pack_size < kPackTrailer) {
    return DataLossError("pack is shorter than its trailer");
  }
  uint32_t header_len = 0;
  for (int i = 0; i < 4; ++i) {
    header_len |= uint32_t{static_cast<uint8_t>(tail[tail.size() - 4 + i])} << (8 * i);
  }
  if (uint64_t{header_len} + kPackTrailer > pack_size) {
    return DataLossError("pack header length " + std::to_string(header_len) +
                         " exceeds the pack size " + std::to_string(pack_size));
  }
  if (uint64_t{header_len} + kPackTrailer > tail.size()) {
    return OutOfRangeError(std::to_string(header_len + kPackTrailer));
  }
  std::string_view sealed = tail.substr(tail.size() - kPackTrailer - header_len, header_len);
  auto plain = Open(key, sealed, kAadPackHeader);
  if (!plain.ok()) {
    return DataLossError("pack header: " + plain.status().message());
  }
  ASSIGN_OR_RETURN(std::vector<PackEntry> entries, DecodePackHeader(*plain));
  uint64_t data_end = pack_size - kPackTrailer - header_len;
  uint64_t covered = entries.empty() ? 0 : uint64_t{entries.back().offset} + entries.back().length;
  if (covered != data_end) {
    return DataLossError("pack header covers " + std::to_string(covered) +
                         " bytes but the data area has " + std::to_string(data_end));
  }
  return entries;
}

}  // namespace lifeboat::vault
