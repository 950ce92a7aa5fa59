#include "tests/unit/snapshot/snapshot_test_util.h"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace lifeboat::snapshot::testing {

void WriteAt(const std::filesystem::path& path, uint64_t offset, const std::string& data) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd < 0) {
    throw std::runtime_error("open " + path.string());
  }
  if (::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)) !=
      static_cast<ssize_t>(data.size())) {
    ::close(fd);
    throw std::runtime_error("pwrite " + path.string());
  }
  ::close(fd);
}

void MakeSparse(const std::filesystem::path& path, uint64_t size) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0 || ::ftruncate(fd, static_cast<off_t>(size)) != 0) {
    throw std::runtime_error("sparse " + path.string());
  }
  ::close(fd);
}

std::string RandomBytes(std::mt19937_64& rng, size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<size_t>(8, n - i));
  }
  return out;
}

std::string ReadAll(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

uint64_t Allocated(const std::filesystem::path& path) {
  struct stat st {};
  if (::lstat(path.c_str(), &st) != 0) {
    return 0;
  }
  return static_cast<uint64_t>(st.st_blocks) * 512;
}

namespace {
std::string CompareOne(const std::filesystem::path& a, const std::filesystem::path& b,
                       const std::string& rel) {
  struct stat sa {};
  struct stat sb {};
  if (::lstat(a.c_str(), &sa) != 0) {
    return rel + ": missing in source";
  }
  if (::lstat(b.c_str(), &sb) != 0) {
    return rel + ": missing in copy";
  }
  if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) {
    return rel + ": type differs";
  }
  if (S_ISLNK(sa.st_mode)) {
    if (std::filesystem::read_symlink(a) != std::filesystem::read_symlink(b)) {
      return rel + ": symlink target differs";
    }
    return "";
  }
  if ((sa.st_mode & 07777) != (sb.st_mode & 07777)) {
    return rel + ": mode differs";
  }
  if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec) {
    return rel + ": mtime differs";
  }
  if (S_ISREG(sa.st_mode)) {
    if (sa.st_size != sb.st_size || ReadAll(a) != ReadAll(b)) {
      return rel + ": content differs";
    }
    return "";
  }
  std::vector<std::string> na;
  std::vector<std::string> nb;
  for (const auto& e : std::filesystem::directory_iterator(a)) {
    na.push_back(e.path().filename().string());
  }
  for (const auto& e : std::filesystem::directory_iterator(b)) {
    nb.push_back(e.path().filename().string());
  }
  std::sort(na.begin(), na.end());
  std::sort(nb.begin(), nb.end());
  if (na != nb) {
    return rel + ": directory listing differs";
  }
  for (const std::string& n : na) {
    std::string d = CompareOne(a / n, b / n, rel + "/" + n);
    if (!d.empty()) {
      return d;
    }
  }
  return "";
}
}  // namespace

std::string CompareTrees(const std::filesystem::path& a, const std::filesystem::path& b) {
  return CompareOne(a, b, ".");
}

uint64_t AllocatedTree(const std::filesystem::path& dir) {
  uint64_t total = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    total += Allocated(e.path());
  }
  return total;
}

void FlipByte(const std::filesystem::path& path, uint64_t offset) {
  std::filesystem::permissions(path, std::filesystem::perms::owner_write,
                               std::filesystem::perm_options::add);
  int fd = ::open(path.c_str(), O_RDWR);
  if (fd < 0) {
    throw std::runtime_error("open " + path.string());
  }
  char c = 0;
  if (::pread(fd, &c, 1, static_cast<off_t>(offset)) != 1) {
    ::close(fd);
    throw std::runtime_error("pread " + path.string());
  }
  c ^= 0x01;
  if (::pwrite(fd, &c, 1, static_cast<off_t>(offset)) != 1) {
    ::close(fd);
    throw std::runtime_error("pwrite " + path.string());
  }
  ::close(fd);
}

}  // namespace lifeboat::snapshot::testing
