#include "engines/vault/tree.h"

#include <fnmatch.h>

#include <algorithm>
#include <cstring>

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

std::string EncodeTree(const std::vector<Node>& nodes) {
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

StatusOr<std::vector<Node>> DecodeTree(std::string_view text) {
  Json doc = Json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("nodes") || !doc["nodes"].is_array()) {
    return DataLossError("tree is not a valid document");
  }
  std::vector<Node> out;
  out.reserve(doc["nodes"].size());
  try {
    for (const Json& j : doc["nodes"]) {
      Node n;
      n.name = j.at("name").get<std::string>();
      auto type = ParseType(j.at("type").get<std::string>());
      if (!type.has_value() || n.name.empty() || n.name == "." || n.name == ".." ||
          n.name.find('/') != std::string::npos) {
        return DataLossError("tree entry \"" + n.name + "\" has an invalid name or type");
      }
      n.type = *type;
      n.mode = j.value("mode", 0u);
      n.uid = j.value("uid", 0u);
      n.gid = j.value("gid", 0u);
      n.mtime_ns = j.value("mtime_ns", int64_t{0});
      n.ctime_ns = j.value("ctime_ns", int64_t{0});
      n.inode = j.value("inode", uint64_t{0});
      n.device = j.value("device", uint64_t{0});
      n.nlink = j.value("nlink", uint64_t{1});
      n.size = j.value("size", uint64_t{0});
      n.rdev = j.value("rdev", uint64_t{0});
      n.target = j.value("target", "");
      if (j.contains("subtree")) {
        Digest d;
        if (!ParseDigest(j["subtree"].get<std::string>(), &d)) {
          return DataLossError("tree entry \"" + n.name + "\" has a malformed subtree ID");
        }
        n.subtree = d;
      }
      if (j.contains("xattrs")) {
        for (const Json& x : j["xattrs"]) {
          std::string name = x.at("name").get<std::string>();
          auto value = FromHex(x.at("value").get<std::string>());
          if (name.empty() || !value.ok()) {
            return DataLossError("tree entry \"" + n.name +
                                 "\" has a malformed extended attribute");
          }
          n.xattrs.emplace_back(std::move(name), std::move(value).value());
        }
      }
      if (n.type == NodeType::kDir && !n.subtree.has_value()) {
        return DataLossError("directory entry \"" + n.name + "\" has no subtree");
      }
      if (j.contains("content")) {
        for (const Json& c : j["content"]) {
          std::string s = c.get<std::string>();
          Extent e;
          if (!s.empty() && s[0] == 'z') {
            e.hole = std::stoull(s.substr(1));
            if (e.hole == 0) {
              return DataLossError("file entry \"" + n.name + "\" has an empty hole");
            }
          } else if (!ParseDigest(s, &e.id)) {
            return DataLossError("file entry \"" + n.name + "\" has a malformed chunk ID");
          }
          n.content.push_back(e);
        }
      }
      if (j.contains("fp")) {
        size_t chunks = static_cast<size_t>(std::count_if(
            n.content.begin(), n.content.end(), [](const Extent& e) { return !e.is_hole(); }));
        auto fp = FromHex(j["fp"].get<std::string>());
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
  } catch (const std::exception& e) {
    return DataLossError(std::string("tree has a malformed entry: ") + e.what());
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
  return doc.dump();
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
