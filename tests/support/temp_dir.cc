#include "tests/support/temp_dir.h"

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <system_error>

namespace lifeboat::testing {

TempDir::TempDir() {
  std::string pattern = (std::filesystem::temp_directory_path() / "lifeboat-test-XXXXXX").string();
  if (mkdtemp(pattern.data()) == nullptr) {
    throw std::runtime_error("mkdtemp failed for " + pattern);
  }
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

std::filesystem::path TempDir::WriteFile(const std::string& relative,
                                         const std::string& content) const {
  std::filesystem::path p = path_ / relative;
  std::filesystem::create_directories(p.parent_path());
  std::ofstream out(p, std::ios::binary);
  out << content;
  return p;
}

std::filesystem::path SourceDir() {
  const char* dir = std::getenv("LIFEBOAT_SOURCE_DIR");
  return dir != nullptr ? std::filesystem::path(dir) : std::filesystem::path(LIFEBOAT_SOURCE_DIR_DEFAULT);
}

std::filesystem::path LifeboatBinary() {
  const char* bin = std::getenv("LIFEBOAT_BINARY");
  return bin != nullptr ? std::filesystem::path(bin) : std::filesystem::path(LIFEBOAT_BINARY_DEFAULT);
}

}  // namespace lifeboat::testing
