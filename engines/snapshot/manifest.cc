#include "engines/snapshot/manifest.h"

#include <zstd.h>

#include <cstring>

#include "api/json.h"

namespace lifeboat::snapshot {
namespace {

constexpr char kMagic[8] = {'L', 'B', 'S', 'N', 'A', 'P', '1', '\n'};
constexpr int kZstdLevel = 3;
constexpr uint64_t kMaxRaw = 1ull << 34;

std::string_view TypeName(EntryType t) {
  switch (t) {
    case EntryType::kFile:
      return "file";
    case EntryType::kDirectory:
      return "dir";
    case EntryType::kSymlink:
      return "symlink";
  }
  return "file";
}

}  // namespace

std::string EncodeManifest(const Manifest& m) {
  Json entries = Json::array();
  for (const Entry& e : m.entries) {
    Json j = {{"path", e.path}, {"type", TypeName(e.type)},
              {"mode", e.mode}, {"mtimeNs", e.mtime_ns},
              {"uid", e.uid},   {"gid", e.gid}};
    if (e.type == EntryType::kFile) {
      j["size"] = e.size;
      j["firstBlock"] = e.first_block;
      j["ino"] = e.ino;
      j["dev"] = e.dev;
      j["ctimeNs"] = e.ctime_ns;
    } else if (e.type == EntryType::kSymlink) {
      j["target"] = e.target;
    }
    entries.push_back(std::move(j));
  }
  Json head = {{"id", m.id},
               {"volume", m.volume},
               {"kind", VolumeKindName(m.kind)},
               {"source", m.source},
               {"createdNs", m.created_ns},
               {"parent", m.parent},
               {"blockSize", m.block_size},
               {"provisionedBytes", m.provisioned},
               {"changedDuringRead", m.changed},
               {"blocks", m.blocks.size()},
               {"entries", std::move(entries)}};
  std::string json = head.dump();
  std::string raw;
  uint64_t json_len = json.size();
  raw.append(reinterpret_cast<const char*>(&json_len), sizeof(json_len));
  raw.append(json);
  // Delta coding turns runs of consecutive slots into runs of 1s, which zstd all but erases.
  uint64_t prev = 0;
  for (uint64_t key : m.blocks) {
    uint64_t delta = key - prev;
    raw.append(reinterpret_cast<const char*>(&delta), sizeof(delta));
    prev = key;
  }
  std::string out(kMagic, sizeof(kMagic));
  uint64_t raw_len = raw.size();
  out.append(reinterpret_cast<const char*>(&raw_len), sizeof(raw_len));
  size_t bound = ZSTD_compressBound(raw.size());
  size_t header = out.size();
  out.resize(header + bound);
  size_t n = ZSTD_compress(out.data() + header, bound, raw.data(), raw.size(), kZstdLevel);
  assert(!ZSTD_isError(n));
  out.resize(header + n);
  BlockHash sum = HashBlock({reinterpret_cast<const uint8_t*>(out.data()), out.size()});
  out.append(reinterpret_cast<const char*>(sum.data()), sum.size());
  return out;
}

StatusOr<Manifest> DecodeManifest(std::string_view raw_file, const std::string& what) {
  auto damaged = [&](const std::string& why) {
    return DataLossError("snapshot manifest " + what + " is damaged: " + why);
  };
  constexpr size_t kHead = sizeof(kMagic) + sizeof(uint64_t);
  if (raw_file.size() < kHead + sizeof(BlockHash) ||
      std::memcmp(raw_file.data(), kMagic, sizeof(kMagic)) != 0) {
    return damaged("not a snapshot manifest");
  }
  size_t body = raw_file.size() - sizeof(BlockHash);
  BlockHash sum = HashBlock({reinterpret_cast<const uint8_t*>(raw_file.data()), body});
  if (std::memcmp(sum.data(), raw_file.data() + body, sum.size()) != 0) {
    return damaged("checksum mismatch");
  }
  uint64_t raw_len = 0;
  std::memcpy(&raw_len, raw_file.data() + sizeof(kMagic), sizeof(raw_len));
  if (raw_len > kMaxRaw) {
    return damaged("implausible length");
  }
  std::string raw(raw_len, '\0');
  size_t n = ZSTD_decompress(raw.data(), raw.size(), raw_file.data() + kHead, body - kHead);
  if (ZSTD_isError(n) || n != raw_len || raw_len < sizeof(uint64_t)) {
    return damaged("bad compressed body");
  }
  uint64_t json_len = 0;
  std::memcpy(&json_len, raw.data(), sizeof(json_len));
  if (json_len > raw_len - sizeof(uint64_t) ||
      (raw_len - sizeof(uint64_t) - json_len) % sizeof(uint64_t) != 0) {
    return damaged("bad section lengths");
  }
  Manifest m;
  try {
    Json head = Json::parse(raw.substr(sizeof(uint64_t), json_len));
    m.id = head.at("id").get<std::string>();
    m.volume = head.at("volume").get<std::string>();
    m.kind = head.at("kind").get<std::string>() == "directory" ? VolumeKind::kDirectory
                                                               : VolumeKind::kImage;
    m.source = head.at("source").get<std::string>();
    m.created_ns = head.at("createdNs").get<int64_t>();
    m.parent = head.at("parent").get<std::string>();
    m.block_size = head.at("blockSize").get<uint32_t>();
    m.provisioned = head.at("provisionedBytes").get<uint64_t>();
    m.changed = head.at("changedDuringRead").get<std::vector<std::string>>();
    for (const Json& j : head.at("entries")) {
      Entry e;
      e.path = j.at("path").get<std::string>();
      std::string type = j.at("type").get<std::string>();
      e.type = type == "dir" ? EntryType::kDirectory
                             : (type == "symlink" ? EntryType::kSymlink : EntryType::kFile);
      e.mode = j.at("mode").get<uint32_t>();
      e.mtime_ns = j.at("mtimeNs").get<int64_t>();
      e.uid = j.at("uid").get<uint32_t>();
      e.gid = j.at("gid").get<uint32_t>();
      if (e.type == EntryType::kFile) {
        e.size = j.at("size").get<uint64_t>();
        e.first_block = j.at("firstBlock").get<uint64_t>();
        e.ino = j.at("ino").get<uint64_t>();
        e.dev = j.at("dev").get<uint64_t>();
        e.ctime_ns = j.at("ctimeNs").get<int64_t>();
      } else if (e.type == EntryType::kSymlink) {
        e.target = j.at("target").get<std::string>();
      }
      m.entries.push_back(std::move(e));
    }
    uint64_t count = head.at("blocks").get<uint64_t>();
    if (count != (raw_len - sizeof(uint64_t) - json_len) / sizeof(uint64_t)) {
      return damaged("block table length");
    }
  } catch (const std::exception& e) {
    return damaged(e.what());
  }
  if (!ValidateBlockSize(m.block_size).ok()) {
    return damaged("block size " + std::to_string(m.block_size));
  }
  const char* p = raw.data() + sizeof(uint64_t) + json_len;
  size_t count = (raw_len - sizeof(uint64_t) - json_len) / sizeof(uint64_t);
  m.blocks.resize(count);
  uint64_t prev = 0;
  for (size_t i = 0; i < count; ++i) {
    uint64_t delta = 0;
    std::memcpy(&delta, p + i * sizeof(uint64_t), sizeof(delta));
    prev += delta;
    m.blocks[i] = prev;
  }
  // Every file's blocks must lie inside the table, in order and without overlap.
  uint64_t next = 0;
  for (const Entry& e : m.entries) {
    if (e.type != EntryType::kFile) {
      continue;
    }
    if (e.first_block != next) {
      return damaged("file " + e.path + " has a wrong block offset");
    }
    next += BlockCount(e.size, m.block_size);
  }
  if (next != m.blocks.size()) {
    return damaged("block table does not match the files");
  }
  return m;
}

}  // namespace lifeboat::snapshot
