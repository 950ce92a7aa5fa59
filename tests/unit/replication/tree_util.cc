#include "tests/unit/replication/tree_util.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <fstream>
#include <map>
#include <sstream>
#include <stdexcept>

namespace lifeboat::replication::testing {
namespace fs = std::filesystem;

std::string RandomBytes(std::mt19937_64& rng, size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i < size; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, size - i));
  }
  return out;
}

void WriteAt(const fs::path& path, uint64_t offset, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd < 0 || ::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)) !=
                    static_cast<ssize_t>(data.size())) {
    throw std::runtime_error("cannot write " + path.string());
  }
  ::close(fd);
}

void MakeSparseImage(const fs::path& path, uint64_t size, std::mt19937_64& rng) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    throw std::runtime_error("cannot create " + path.string());
  }
  ::close(fd);
  for (uint64_t off = 0; off + (64 << 10) <= size; off += 256 << 10) {
    WriteAt(path, off, RandomBytes(rng, 64 << 10));
  }
}

namespace {
std::map<std::string, fs::path> List(const fs::path& root) {
  std::map<std::string, fs::path> out;
  for (auto it = fs::recursive_directory_iterator(root); it != fs::recursive_directory_iterator();
       ++it) {
    out[fs::relative(it->path(), root).generic_string()] = it->path();
  }
  return out;
}
std::string Read(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}
}  // namespace

std::string CompareTrees(const fs::path& a, const fs::path& b) {
  auto la = List(a), lb = List(b);
  for (const auto& [rel, pa] : la) {
    if (!lb.contains(rel)) {
      return "only in " + a.string() + ": " + rel;
    }
  }
  for (const auto& [rel, pb] : lb) {
    if (!la.contains(rel)) {
      return "only in " + b.string() + ": " + rel;
    }
    const fs::path& pa = la[rel];
    struct stat sa {
    }, sb{};
    ::lstat(pa.c_str(), &sa);
    ::lstat(pb.c_str(), &sb);
    if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
      return "type differs: " + rel;
    }
    if ((sa.st_mode & 07777) != (sb.st_mode & 07777)) {
      return "mode differs: " + rel;
    }
    if (S_ISLNK(sa.st_mode)) {
      if (fs::read_symlink(pa) != fs::read_symlink(pb)) {
        return "symlink differs: " + rel;
      }
      continue;
    }
    if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec) {
      return "mtime differs: " + rel;
    }
    if (S_ISREG(sa.st_mode)) {
      if (sa.st_size != sb.st_size) {
        return "size differs: " + rel + " " + std::to_string(sa.st_size) + " vs " +
               std::to_string(sb.st_size);
      }
      if (Read(pa) != Read(pb)) {
        return "content differs: " + rel;
      }
    }
  }
  return "";
}

void CopyTree(const fs::path& from, const fs::path& to) {
  std::string cmd = "cp -a --sparse=always '" + from.string() + "' '" + to.string() + "'";
  if (std::system(cmd.c_str()) != 0) {
    throw std::runtime_error("copy failed: " + cmd);
  }
}

uint64_t AllocatedBytes(const fs::path& file) {
  struct stat st {};
  ::stat(file.c_str(), &st);
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

}  // namespace lifeboat::replication::testing
