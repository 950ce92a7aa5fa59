#include "engines/replication/manifest.h"

#include <algorithm>
#include <cstring>
#include <unordered_map>

#include "engines/replication/wire.h"

namespace lifeboat::replication {
namespace {

constexpr std::string_view kMagic = "LBRM0001";
// A patch is worth it when it lists fewer than this fraction of the file's blocks.
constexpr size_t kPatchDivisor = 4;

void PutRef(Writer& w, const ChunkRef& r) {
  w.U32(r.length);
  w.Bytes(std::string_view(reinterpret_cast<const char*>(r.hash.data()), r.hash.size()));
}

bool GetRef(Reader& r, ChunkRef* out) {
  std::string_view h;
  if (!r.U32(&out->length) || !r.Bytes(out->hash.size(), &h)) {
    return false;
  }
  std::memcpy(out->hash.data(), h.data(), h.size());
  return true;
}

}  // namespace

std::string_view ConsistencyName(Consistency c) {
  return c == Consistency::kApplication ? "Application" : "Crash";
}

StatusOr<Consistency> ParseConsistency(std::string_view s) {
  if (s == "Application") {
    return Consistency::kApplication;
  }
  if (s == "Crash") {
    return Consistency::kCrash;
  }
  return InvalidArgumentError("consistency must be Crash or Application, got \"" + std::string(s) +
                              "\"");
}

std::string HashHex(const Hash& h) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out(h.size() * 2, '0');
  for (size_t i = 0; i < h.size(); ++i) {
    out[2 * i] = kDigits[h[i] >> 4];
    out[2 * i + 1] = kDigits[h[i] & 15];
  }
  return out;
}

bool SafeRelativePath(std::string_view path) {
  if (path.empty() || path.front() == '/') {
    return false;
  }
  size_t start = 0;
  while (start <= path.size()) {
    size_t end = path.find('/', start);
    if (end == std::string_view::npos) {
      end = path.size();
    }
    std::string_view part = path.substr(start, end - start);
    if (part.empty() || part == "." || part == ".." || part.find('\0') != std::string_view::npos) {
      return false;
    }
    start = end + 1;
  }
  return true;
}

std::string EncodeManifest(const Manifest& m) {
  Writer w;
  w.Bytes(kMagic);
  w.Str(m.info.id);
  w.U64(static_cast<uint64_t>(m.info.time_ms));
  w.U8(static_cast<uint8_t>(m.info.consistency));
  w.U64(m.info.logical_bytes);
  w.U64(m.info.files);
  w.Str(m.info.base);
  w.U64(m.entries.size());
  for (const Entry& e : m.entries) {
    w.U8(static_cast<uint8_t>(e.type));
    w.U8(static_cast<uint8_t>(e.encoding));
    w.U8(static_cast<uint8_t>(e.chunking));
    w.Str(e.path);
    w.U32(e.mode);
    w.U64(static_cast<uint64_t>(e.mtime_ns));
    w.U64(e.size);
    w.U64(e.inode);
    if (e.type == EntryType::kSymlink) {
      w.Str(e.target);
    } else if (e.type == EntryType::kFile) {
      if (e.encoding == FileEncoding::kFull) {
        w.U32(static_cast<uint32_t>(e.chunks.size()));
        for (const ChunkRef& r : e.chunks) {
          PutRef(w, r);
        }
      } else if (e.encoding == FileEncoding::kPatch) {
        w.U32(e.patch_count);
        w.U32(static_cast<uint32_t>(e.patches.size()));
        for (const auto& [index, ref] : e.patches) {
          w.U32(index);
          PutRef(w, ref);
        }
      }
    }
  }
  return w.Take();
}

StatusOr<Manifest> DecodeManifest(std::string_view data, std::string_view what) {
  auto corrupt = [&](const std::string& detail) {
    return DataLossError("manifest " + std::string(what) + ": " + detail);
  };
  Reader r(data);
  std::string_view magic;
  if (!r.Bytes(kMagic.size(), &magic) || magic != kMagic) {
    return corrupt("bad magic (not a replication manifest)");
  }
  Manifest m;
  uint64_t time_ms = 0;
  uint8_t consistency = 0;
  uint64_t count = 0;
  if (!r.Str(&m.info.id) || !r.U64(&time_ms) || !r.U8(&consistency) ||
      !r.U64(&m.info.logical_bytes) || !r.U64(&m.info.files) || !r.Str(&m.info.base) ||
      !r.U64(&count) || consistency > 1) {
    return corrupt("truncated or invalid header");
  }
  m.info.time_ms = static_cast<int64_t>(time_ms);
  m.info.consistency = static_cast<Consistency>(consistency);
  if (count > data.size()) {
    return corrupt("entry count " + std::to_string(count) + " exceeds the data");
  }
  m.entries.resize(count);
  for (uint64_t i = 0; i < count; ++i) {
    Entry& e = m.entries[i];
    uint8_t type = 0, encoding = 0, chunking = 0;
    uint64_t mtime = 0;
    if (!r.U8(&type) || !r.U8(&encoding) || !r.U8(&chunking) || !r.Str(&e.path) ||
        !r.U32(&e.mode) || !r.U64(&mtime) || !r.U64(&e.size) || !r.U64(&e.inode) || type > 2 ||
        encoding > 2 || chunking > 1) {
      return corrupt("entry " + std::to_string(i) + " is truncated or invalid");
    }
    if (!SafeRelativePath(e.path)) {
      return corrupt("entry " + std::to_string(i) + " has an unsafe path \"" + e.path + "\"");
    }
    e.type = static_cast<EntryType>(type);
    e.encoding = static_cast<FileEncoding>(encoding);
    e.chunking = static_cast<ChunkingKind>(chunking);
    e.mtime_ns = static_cast<int64_t>(mtime);
    if (e.type == EntryType::kSymlink) {
      if (!r.Str(&e.target)) {
        return corrupt("symlink " + e.path + " is truncated");
      }
    } else if (e.type == EntryType::kFile) {
      if (e.encoding == FileEncoding::kFull) {
        uint32_t n = 0;
        if (!r.U32(&n) || n > r.remaining() / 36) {
          return corrupt("file " + e.path + " has a bad chunk count");
        }
        e.chunks.resize(n);
        uint64_t total = 0;
        for (ChunkRef& ref : e.chunks) {
          if (!GetRef(r, &ref)) {
            return corrupt("file " + e.path + " is truncated");
          }
          total += ref.length;
        }
        if (total != e.size) {
          return corrupt("file " + e.path + ": chunks add up to " + std::to_string(total) +
                         " bytes, size is " + std::to_string(e.size));
        }
      } else if (e.encoding == FileEncoding::kPatch) {
        uint32_t n = 0;
        if (!r.U32(&e.patch_count) || !r.U32(&n) || n > r.remaining() / 40) {
          return corrupt("file " + e.path + " has a bad patch count");
        }
        e.patches.resize(n);
        for (auto& [index, ref] : e.patches) {
          if (!r.U32(&index) || !GetRef(r, &ref)) {
            return corrupt("file " + e.path + " is truncated");
          }
        }
      }
    }
  }
  if (r.remaining() != 0) {
    return corrupt(std::to_string(r.remaining()) + " trailing bytes");
  }
  for (size_t i = 1; i < m.entries.size(); ++i) {
    if (!(m.entries[i - 1].path < m.entries[i].path)) {
      return corrupt("entries are not sorted and unique at \"" + m.entries[i - 1].path + "\", \"" +
                     m.entries[i].path + "\"");
    }
  }
  return m;
}

StatusOr<Manifest> ApplyDelta(const Manifest& base, Manifest delta) {
  std::unordered_map<std::string_view, const Entry*> by_path;
  by_path.reserve(base.entries.size());
  for (const Entry& e : base.entries) {
    by_path.emplace(e.path, &e);
  }
  for (Entry& e : delta.entries) {
    if (e.type != EntryType::kFile || e.encoding == FileEncoding::kFull) {
      e.encoding = FileEncoding::kFull;
      continue;
    }
    auto it = by_path.find(e.path);
    if (it == by_path.end() || it->second->type != EntryType::kFile) {
      return FailedPreconditionError("delta refers to " + e.path + ", which base point " +
                                     base.info.id + " does not hold");
    }
    std::vector<ChunkRef> chunks = it->second->chunks;
    if (e.encoding == FileEncoding::kPatch) {
      chunks.resize(e.patch_count);
      for (const auto& [index, ref] : e.patches) {
        if (index >= chunks.size()) {
          return InvalidArgumentError("patch of " + e.path + " writes block " +
                                      std::to_string(index) + " beyond its " +
                                      std::to_string(chunks.size()) + " blocks");
        }
        chunks[index] = ref;
      }
      e.patches.clear();
    }
    uint64_t total = 0;
    for (const ChunkRef& ref : chunks) {
      total += ref.length;
    }
    if (total != e.size) {
      return InvalidArgumentError("delta for " + e.path + " yields " + std::to_string(total) +
                                  " bytes, size is " + std::to_string(e.size));
    }
    e.chunks = std::move(chunks);
    e.encoding = FileEncoding::kFull;
    e.patch_count = 0;
  }
  delta.info.base.clear();
  return delta;
}

Manifest MakeDelta(const Manifest& base, const Manifest& next) {
  std::unordered_map<std::string_view, const Entry*> by_path;
  by_path.reserve(base.entries.size());
  for (const Entry& e : base.entries) {
    by_path.emplace(e.path, &e);
  }
  Manifest out;
  out.info = next.info;
  out.info.base = base.info.id;
  out.entries.reserve(next.entries.size());
  for (const Entry& e : next.entries) {
    Entry d = e;
    d.encoding = FileEncoding::kFull;
    auto it = by_path.find(e.path);
    if (e.type == EntryType::kFile && it != by_path.end() && it->second->type == EntryType::kFile) {
      const std::vector<ChunkRef>& old = it->second->chunks;
      if (old == e.chunks) {
        d.encoding = FileEncoding::kUnchanged;
        d.chunks.clear();
      } else if (e.chunking == ChunkingKind::kFixedBlocks) {
        std::vector<std::pair<uint32_t, ChunkRef>> patches;
        for (size_t i = 0; i < e.chunks.size(); ++i) {
          if (i >= old.size() || !(old[i] == e.chunks[i])) {
            patches.emplace_back(static_cast<uint32_t>(i), e.chunks[i]);
          }
        }
        if (patches.size() < e.chunks.size() / kPatchDivisor) {
          d.encoding = FileEncoding::kPatch;
          d.patch_count = static_cast<uint32_t>(e.chunks.size());
          d.patches = std::move(patches);
          d.chunks.clear();
        }
      }
    }
    out.entries.push_back(std::move(d));
  }
  return out;
}

}  // namespace lifeboat::replication
