#include "tests/unit/vault/vault_test_util.h"

#include <sys/stat.h>

#include <fstream>
#include <random>
#include <sstream>

namespace lifeboat::vault::testing {
namespace fs = std::filesystem;

InitOptions SmallVaultOptions(const std::string& passphrase) {
  InitOptions o;
  o.credentials.passphrase = passphrase;
  o.config.chunker = ChunkerParams{4 << 10, 16 << 10, 64 << 10};
  o.config.pack_size = 1 << 20;
  o.scrypt = ScryptParams{1 << 10, 8, 1};
  return o;
}

std::string RandomBytes(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::string out(n, '\0');
  for (size_t i = 0; i < n; i += 8) {
    uint64_t v = rng();
    for (size_t j = 0; j < 8 && i + j < n; ++j) out[i + j] = static_cast<char>(v >> (8 * j));
  }
  return out;
}

std::string TextBytes(size_t n, uint64_t seed) {
  static const char* kWords[] = {"vault ", "chunk ", "lifeboat ", "restore ", "pack\n", "index "};
  std::mt19937_64 rng(seed);
  std::string out;
  while (out.size() < n) out += kWords[rng() % 6];
  out.resize(n);
  return out;
}

void WriteFile(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(content.data(), static_cast<std::streamsize>(content.size()));
}

std::string ReadFile(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string CompareTrees(const fs::path& a, const fs::path& b) {
  std::vector<fs::path> left, right;
  for (auto& e : fs::recursive_directory_iterator(a)) left.push_back(fs::relative(e.path(), a));
  for (auto& e : fs::recursive_directory_iterator(b)) right.push_back(fs::relative(e.path(), b));
  std::sort(left.begin(), left.end());
  std::sort(right.begin(), right.end());
  if (left != right) {
    std::string msg = "different entries:";
    for (auto& l : left)
      if (std::find(right.begin(), right.end(), l) == right.end()) msg += " -" + l.string();
    for (auto& r : right)
      if (std::find(left.begin(), left.end(), r) == left.end()) msg += " +" + r.string();
    return msg;
  }
  for (const fs::path& rel : left) {
    struct stat sa {}, sb {};
    ::lstat((a / rel).c_str(), &sa);
    ::lstat((b / rel).c_str(), &sb);
    if ((sa.st_mode & S_IFMT) != (sb.st_mode & S_IFMT)) return rel.string() + ": type differs";
    if ((sa.st_mode & 07777) != (sb.st_mode & 07777)) return rel.string() + ": mode differs";
    if (S_ISLNK(sa.st_mode)) {
      if (fs::read_symlink(a / rel) != fs::read_symlink(b / rel)) {
        return rel.string() + ": symlink target differs";
      }
    } else if (S_ISREG(sa.st_mode)) {
      if (ReadFile(a / rel) != ReadFile(b / rel)) return rel.string() + ": content differs";
      if (sa.st_mtim.tv_sec != sb.st_mtim.tv_sec || sa.st_mtim.tv_nsec != sb.st_mtim.tv_nsec) {
        return rel.string() + ": mtime differs";
      }
    }
  }
  return "";
}

}  // namespace lifeboat::vault::testing
