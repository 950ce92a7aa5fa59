#pragma once

// Reading the manifests under tests/corpus and examples/ in the api tests.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "tests/support/temp_dir.h"

namespace lifeboat::api {

inline std::string ReadFile(const std::filesystem::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

// Sorted .yaml/.yml/.json files directly in `dir`.
inline std::vector<std::filesystem::path> ManifestFiles(const std::filesystem::path& dir) {
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    std::string ext = entry.path().extension().string();
    if (entry.is_regular_file() && (ext == ".yaml" || ext == ".yml" || ext == ".json")) {
      files.push_back(entry.path());
    }
  }
  std::sort(files.begin(), files.end());
  return files;
}

inline std::filesystem::path CorpusDir(const std::string& which) {
  return testing::SourceDir() / "tests" / "corpus" / which;
}

}  // namespace lifeboat::api
