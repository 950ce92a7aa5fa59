#pragma once

#include <filesystem>
#include <string>

namespace lifeboat::testing {

// A fresh directory under $TMPDIR, removed with everything in it when the object dies.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }
  // Writes `content` to path()/relative, creating parent directories.
  std::filesystem::path WriteFile(const std::string& relative, const std::string& content) const;

 private:
  std::filesystem::path path_;
};

// The source tree (LIFEBOAT_SOURCE_DIR, set by ctest) and the lifeboat binary (LIFEBOAT_BINARY).
std::filesystem::path SourceDir();
std::filesystem::path LifeboatBinary();

}  // namespace lifeboat::testing
