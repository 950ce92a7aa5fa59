#include "engines/vault/tree.h"

#include <fnmatch.h>
#include <rapidjson/document.h>
#include <rapidjson/error/en.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <limits>
#include <type_traits>

#include "api/json.h"

namespace lifeboat::vault {

namespace {
constexpr const char* kTypeNames[] = {"file", "dir", "symlink", "fifo", "chardev", "blockdev"};

std::optional<NodeType> ParseType(const std::string& s) {
  for (int i = 0; i < 6; ++i) {
    if (s == kTypeNames[i]) return static_cast<NodeType>(i);
  }
  return std::nullopt;
}


PointSummary PointSummaryFromJson(const Json& j) {
  PointSummary s;
  if (!j.is_object()) return s;
  s.files = j.value("files", uint64_t{0});
  s.dirs = j.value("dirs", uint64_t{0});
  s.bytes = j.value("bytes", uint64_t{0});
  s.files_new = j.value("files_new", uint64_t{0});
  s.files_changed = j.value("files_changed", uint64_t{0});
  s.files_unmodified = j.value("files_unmodified", uint64_t{0});
  s.bytes_read = j.value("bytes_read", uint64_t{0});
  s.bytes_matched = j.value("bytes_matched", uint64_t{0});
  s.data_added = j.value("data_added", uint64_t{0});
  s.stored_added = j.value("stored_added", uint64_t{0});
  s.seconds = j.value("seconds", 0.0);
  return s;
}
}  // namespace

Json PointSummaryToJson(const PointSummary& s) {
  return {{"files", s.files},
          {"dirs", s.dirs},
          {"bytes", s.bytes},
          {"files_new", s.files_new},
          {"files_changed", s.files_changed},
          {"files_unmodified", s.files_unmodified},
          {"bytes_read", s.bytes_read},
          {"bytes_matched", s.bytes_matched},
          {"data_added", s.data_added},
          {"stored_added", s.stored_added},
          {"seconds", s.seconds}};
}

const char* NodeTypeName(NodeType t) { return kTypeNames[static_cast<int>(t)]; }

bool MatchPath(const std::string& pattern, const std::string& path) {
  if (pattern.find('/') == std::string::npos) {
    std::string base = path.substr(path.rfind('/') + 1);
    return ::fnmatch(pattern.c_str(), base.c_str(), 0) == 0;
  }
  return ::fnmatch(pattern.c_str(), path.c_str(), FNM_PATHNAME) == 0;
}

namespace {
// Length of the valid UTF-8 sequence at s[i], or 0.
size_t Utf8SequenceAt(std::string_view s, size_t i) {
  const auto c = static_cast<unsigned char>(s[i]);
  if (c < 0x80) return 1;
  size_t len = 0;
  uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) {
    len = 2;
    cp = c & 0x1f;
  } else if (c >= 0xe0 && c <= 0xef) {
    len = 3;
    cp = c & 0x0f;
  } else if (c >= 0xf0 && c <= 0xf4) {
    len = 4;
    cp = c & 0x07;
  } else {
    return 0;
  }
  if (i + len > s.size()) return 0;
  for (size_t k = 1; k < len; ++k) {
    const auto cc = static_cast<unsigned char>(s[i + k]);
    if ((cc & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (cc & 0x3f);
  }
  if ((len == 3 && cp < 0x800) || (len == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
      (cp >= 0xd800 && cp <= 0xdfff)) {
    return 0;
  }
  return len;
}
}  // namespace

bool IsValidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceAt(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string EscapeInvalidUtf8(std::string_view s) {
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < s.size();) {
    size_t n = Utf8SequenceAt(s, i);
    if (n == 0) {
      const auto c = static_cast<unsigned char>(s[i]);
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

namespace internal {
std::string EncodeTreeGeneric(const std::vector<Node>& nodes) {
  Json list = Json::array();
  for (const Node& n : nodes) {
    Json j = {{"name", n.name},       {"type", NodeTypeName(n.type)},
              {"mode", n.mode},       {"uid", n.uid},
              {"gid", n.gid},         {"mtime_ns", n.mtime_ns},
              {"ctime_ns", n.ctime_ns}, {"inode", n.inode},
              {"device", n.device},   {"nlink", n.nlink},
              {"size", n.size}};
    if (n.rdev != 0) j["rdev"] = n.rdev;
    if (n.type == NodeType::kSymlink) j["target"] = n.target;
    if (n.subtree.has_value()) j["subtree"] = ToHex(*n.subtree);
    if (!n.xattrs.empty()) {
      Json xattrs = Json::array();
      for (const auto& [name, value] : n.xattrs) {
        xattrs.push_back({{"name", name},
                          {"value", ToHex(reinterpret_cast<const uint8_t*>(value.data()),
                                          value.size())}});
      }
      j["xattrs"] = std::move(xattrs);
    }
    if (n.type == NodeType::kFile) {
      Json content = Json::array();
      for (const Extent& e : n.content) {
        content.push_back(e.is_hole() ? "z" + std::to_string(e.hole) : ToHex(e.id));
      }
      j["content"] = std::move(content);
      if (!n.fingerprints.empty()) {
        std::string fp;
        fp.reserve(n.fingerprints.size() * 32);
        for (const ChunkFingerprint& f : n.fingerprints) fp += ToHex(f.data(), f.size());
        j["fp"] = std::move(fp);
      }
    }
    list.push_back(std::move(j));
  }
  return Json{{"nodes", std::move(list)}}.dump();
}

}  // namespace internal

namespace {
// Appends a JSON string as nlohmann's dump() writes it, for ASCII text; false (nothing
// appended) when `s` has a byte >= 0x80, whose checks and output are left to nlohmann.
bool AppendAsciiString(std::string& out, std::string_view s) {
  for (unsigned char c : s) {
    if (c >= 0x80) return false;
  }
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\b':
        out += "\\b";
        break;
      case '\f':
        out += "\\f";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (c < 0x20) {
          static const char kHex[] = "0123456789abcdef";
          out += "\\u00";
          out += kHex[c >> 4];
          out += kHex[c & 15];
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
  return true;
}

template <typename T>
void AppendNumber(std::string& out, T v) {
  char buf[24];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), v);
  out.append(buf, end);
}

void AppendHex(std::string& out, const uint8_t* p, size_t n) {
  static const char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < n; ++i) {
    out += kHex[p[i] >> 4];
    out += kHex[p[i] & 15];
  }
}
}  // namespace

// The same bytes as EncodeTreeGeneric (nlohmann's DOM and dump: keys sorted, compact), written
// directly: a tree's ID is the keyed hash of these bytes, so they must not change, and building
// a DOM per entry was a fifth of an incremental backup's walk. Names with non-ASCII bytes go the
// generic way (nlohmann validates UTF-8).
std::string EncodeTree(const std::vector<Node>& nodes) {
  std::string out;
  out.reserve(64 + nodes.size() * 320);
  out += "{\"nodes\":[";
  bool first = true;
  for (const Node& n : nodes) {
    out += first ? "{" : ",{";
    first = false;
    if (n.type == NodeType::kFile) {
      out += "\"content\":[";
      for (size_t i = 0; i < n.content.size(); ++i) {
        const Extent& e = n.content[i];
        out += i == 0 ? "\"" : ",\"";
        if (e.is_hole()) {
          out += 'z';
          AppendNumber(out, e.hole);
        } else {
          AppendHex(out, e.id.data(), e.id.size());
        }
        out += '"';
      }
      out += "],";
    }
    out += "\"ctime_ns\":";
    AppendNumber(out, n.ctime_ns);
    out += ",\"device\":";
    AppendNumber(out, n.device);
    if (n.type == NodeType::kFile && !n.fingerprints.empty()) {
      out += ",\"fp\":\"";
      for (const ChunkFingerprint& f : n.fingerprints) AppendHex(out, f.data(), f.size());
      out += '"';
    }
    out += ",\"gid\":";
    AppendNumber(out, n.gid);
    out += ",\"inode\":";
    AppendNumber(out, n.inode);
    out += ",\"mode\":";
    AppendNumber(out, n.mode);
    out += ",\"mtime_ns\":";
    AppendNumber(out, n.mtime_ns);
    out += ",\"name\":";
    if (!AppendAsciiString(out, n.name)) return internal::EncodeTreeGeneric(nodes);
    out += ",\"nlink\":";
    AppendNumber(out, n.nlink);
    if (n.rdev != 0) {
      out += ",\"rdev\":";
      AppendNumber(out, n.rdev);
    }
    out += ",\"size\":";
    AppendNumber(out, n.size);
    if (n.subtree.has_value()) {
      out += ",\"subtree\":\"";
      AppendHex(out, n.subtree->data(), n.subtree->size());
      out += '"';
    }
    if (n.type == NodeType::kSymlink) {
      out += ",\"target\":";
      if (!AppendAsciiString(out, n.target)) return internal::EncodeTreeGeneric(nodes);
    }
    out += ",\"type\":\"";
    out += NodeTypeName(n.type);
    out += "\",\"uid\":";
    AppendNumber(out, n.uid);
    if (!n.xattrs.empty()) {
      out += ",\"xattrs\":[";
      for (size_t i = 0; i < n.xattrs.size(); ++i) {
        out += i == 0 ? "{\"name\":" : ",{\"name\":";
        if (!AppendAsciiString(out, n.xattrs[i].first)) {
          return internal::EncodeTreeGeneric(nodes);
        }
        out += ",\"value\":\"";
        AppendHex(out, reinterpret_cast<const uint8_t*>(n.xattrs[i].second.data()),
                  n.xattrs[i].second.size());
        out += "\"}";
      }
      out += ']';
    }
    out += '}';
  }
  out += "]}";
  return out;
}

namespace {
using RjValue = rapidjson::Value;

// Typed reads of a tree entry's members: absent gives the default; a present member of the
// wrong type is an error (nlohmann's value() threw for it).
template <typename T>
bool ReadNumber(const RjValue& obj, const char* key, T def, T* out) {
  auto it = obj.FindMember(key);
  if (it == obj.MemberEnd()) {
    *out = def;
    return true;
  }
  const RjValue& v = it->value;
  if constexpr (std::is_signed_v<T>) {
    if (!v.IsInt64()) return false;
    *out = static_cast<T>(v.GetInt64());
  } else {
    if (!v.IsUint64() || v.GetUint64() > std::numeric_limits<T>::max()) return false;
    *out = static_cast<T>(v.GetUint64());
  }
  return true;
}

const RjValue* Member(const RjValue& obj, const char* key) {
  auto it = obj.FindMember(key);
  return it == obj.MemberEnd() ? nullptr : &it->value;
}

std::string_view StringOf(const RjValue& v) { return {v.GetString(), v.GetStringLength()}; }
}  // namespace

// Parsed with RapidJSON (UTF-8 validated, as nlohmann did): about five times faster than
// nlohmann's DOM, which restore and every incremental backup pay for each directory.
StatusOr<std::vector<Node>> DecodeTree(std::string_view text) {
  rapidjson::Document doc;
  doc.Parse<rapidjson::kParseValidateEncodingFlag>(text.data(), text.size());
  if (doc.HasParseError() || !doc.IsObject()) {
    return DataLossError("tree is not a valid document");
  }
  const RjValue* list = Member(doc, "nodes");
  if (list == nullptr || !list->IsArray()) {
    return DataLossError("tree is not a valid document");
  }
  std::vector<Node> out;
  out.reserve(list->Size());
  for (const RjValue& j : list->GetArray()) {
    if (!j.IsObject()) {
      return DataLossError("tree has a malformed entry: not an object");
    }
    Node n;
    const RjValue* name = Member(j, "name");
    const RjValue* type_name = Member(j, "type");
    if (name == nullptr || !name->IsString() || type_name == nullptr || !type_name->IsString()) {
      return DataLossError("tree has a malformed entry: no name or type");
    }
    n.name = std::string(StringOf(*name));
    auto type = ParseType(std::string(StringOf(*type_name)));
    if (!type.has_value() || n.name.empty() || n.name == "." || n.name == ".." ||
        n.name.find('/') != std::string::npos) {
      return DataLossError("tree entry \"" + n.name + "\" has an invalid name or type");
    }
    n.type = *type;
    bool ok =
        ReadNumber(j, "mode", 0u, &n.mode) && ReadNumber(j, "uid", 0u, &n.uid) &&
        ReadNumber(j, "gid", 0u, &n.gid) && ReadNumber(j, "mtime_ns", int64_t{0}, &n.mtime_ns) &&
        ReadNumber(j, "ctime_ns", int64_t{0}, &n.ctime_ns) &&
        ReadNumber(j, "inode", uint64_t{0}, &n.inode) &&
        ReadNumber(j, "device", uint64_t{0}, &n.device) &&
        ReadNumber(j, "nlink", uint64_t{1}, &n.nlink) &&
        ReadNumber(j, "size", uint64_t{0}, &n.size) && ReadNumber(j, "rdev", uint64_t{0}, &n.rdev);
    if (!ok) {
      return DataLossError("tree entry \"" + n.name + "\" has a malformed number");
    }
    if (const RjValue* target = Member(j, "target")) {
      if (!target->IsString()) {
        return DataLossError("tree entry \"" + n.name + "\" has a malformed symlink target");
      }
      n.target = std::string(StringOf(*target));
    }
    if (const RjValue* subtree = Member(j, "subtree")) {
      Digest d;
      if (!subtree->IsString() || !ParseDigest(StringOf(*subtree), &d)) {
        return DataLossError("tree entry \"" + n.name + "\" has a malformed subtree ID");
      }
      n.subtree = d;
    }
    if (const RjValue* xattrs = Member(j, "xattrs")) {
      if (!xattrs->IsArray()) {
        return DataLossError("tree entry \"" + n.name + "\" has a malformed extended attribute");
      }
      for (const RjValue& x : xattrs->GetArray()) {
        const RjValue* xname = x.IsObject() ? Member(x, "name") : nullptr;
        const RjValue* xvalue = x.IsObject() ? Member(x, "value") : nullptr;
        if (xname == nullptr || !xname->IsString() || xname->GetStringLength() == 0 ||
            xvalue == nullptr || !xvalue->IsString()) {
          return DataLossError("tree entry \"" + n.name + "\" has a malformed extended attribute");
        }
        auto value = FromHex(StringOf(*xvalue));
        if (!value.ok()) {
          return DataLossError("tree entry \"" + n.name + "\" has a malformed extended attribute");
        }
        n.xattrs.emplace_back(std::string(StringOf(*xname)), std::move(value).value());
      }
    }
    if (n.type == NodeType::kDir && !n.subtree.has_value()) {
      return DataLossError("directory entry \"" + n.name + "\" has no subtree");
    }
    if (const RjValue* content = Member(j, "content")) {
      if (!content->IsArray()) {
        return DataLossError("file entry \"" + n.name + "\" has a malformed chunk ID");
      }
      n.content.reserve(content->Size());
      for (const RjValue& c : content->GetArray()) {
        if (!c.IsString()) {
          return DataLossError("file entry \"" + n.name + "\" has a malformed chunk ID");
        }
        std::string_view sv = StringOf(c);
        Extent e;
        if (!sv.empty() && sv[0] == 'z') {
          auto [end, ec] = std::from_chars(sv.data() + 1, sv.data() + sv.size(), e.hole);
          if (ec != std::errc() || end != sv.data() + sv.size() || e.hole == 0) {
            return DataLossError("file entry \"" + n.name + "\" has a malformed hole");
          }
        } else if (!ParseDigest(sv, &e.id)) {
          return DataLossError("file entry \"" + n.name + "\" has a malformed chunk ID");
        }
        n.content.push_back(e);
      }
    }
    if (const RjValue* fp_hex = Member(j, "fp")) {
      size_t chunks = static_cast<size_t>(std::count_if(
          n.content.begin(), n.content.end(), [](const Extent& e) { return !e.is_hole(); }));
      StatusOr<std::string> fp = fp_hex->IsString()
                                     ? FromHex(StringOf(*fp_hex))
                                     : StatusOr<std::string>(DataLossError("not a string"));
      if (n.type != NodeType::kFile || !fp.ok() || fp->size() != chunks * 16) {
        return DataLossError("file entry \"" + n.name + "\" has malformed chunk fingerprints");
      }
      n.fingerprints.resize(chunks);
      for (size_t i = 0; i < chunks; ++i) {
        std::memcpy(n.fingerprints[i].data(), fp->data() + 16 * i, 16);
      }
    }
    out.push_back(std::move(n));
  }
  return out;
}

std::string EncodeManifest(const Manifest& m) {
  Json errors = Json::array();
  for (const FileError& e : m.errors) {
    errors.push_back({{"path", e.path}, {"error", e.error}});
  }
  Json doc = {{"version", 1},
              {"time", FormatRfc3339(m.time)},
              {"time_unix_ns", std::chrono::duration_cast<std::chrono::nanoseconds>(
                                   m.time.time_since_epoch())
                                   .count()},
              {"hostname", m.hostname},
              {"paths", m.paths},
              {"tags", m.tags},
              {"tree", ToHex(m.tree)},
              {"parent", m.parent},
              {"partial", m.partial},
              {"errors", std::move(errors)},
              {"summary", PointSummaryToJson(m.summary)}};
  // Paths reach a manifest checked (backup refuses what a tree cannot hold), but an error
  // message must never fail the point: bytes that are not UTF-8 become U+FFFD there.
  return doc.dump(-1, ' ', false, Json::error_handler_t::replace);
}

StatusOr<Manifest> DecodeManifest(std::string_view text) {
  Json doc = Json::parse(text, nullptr, false);
  if (!doc.is_object()) {
    return DataLossError("manifest is not a valid document");
  }
  Manifest m;
  try {
    m.time = Clock::TimePoint(std::chrono::duration_cast<Clock::Duration>(
        std::chrono::nanoseconds(doc.value("time_unix_ns", int64_t{0}))));
    m.hostname = doc.value("hostname", "");
    m.paths = doc.value("paths", std::vector<std::string>{});
    m.tags = doc.value("tags", std::vector<std::string>{});
    if (!ParseDigest(doc.value("tree", ""), &m.tree)) {
      return DataLossError("manifest has a malformed tree ID");
    }
    m.parent = doc.value("parent", "");
    m.partial = doc.value("partial", false);
    if (doc.contains("errors")) {
      for (const Json& e : doc["errors"]) {
        m.errors.push_back({e.value("path", ""), e.value("error", "")});
      }
    }
    if (doc.contains("summary")) {
      m.summary = PointSummaryFromJson(doc["summary"]);
    }
  } catch (const std::exception& e) {
    return DataLossError(std::string("manifest is malformed: ") + e.what());
  }
  return m;
}

}  // namespace lifeboat::vault
