#pragma once

// Helpers for vault tests: small chunks and cheap scrypt so suites stay fast, random files, and
// a byte-for-byte tree comparison.
#include <filesystem>
#include <string>

#include "engines/vault/repository.h"

namespace lifeboat::vault::testing {

InitOptions SmallVaultOptions(const std::string& passphrase = "correct horse");
std::string RandomBytes(size_t n, uint64_t seed);
std::string TextBytes(size_t n, uint64_t seed);
void WriteFile(const std::filesystem::path& p, const std::string& content);
std::string ReadFile(const std::filesystem::path& p);
// Empty when the trees hold the same names, types, contents, symlink targets and modes;
// otherwise a description of the first difference.
std::string CompareTrees(const std::filesystem::path& a, const std::filesystem::path& b);

}  // namespace lifeboat::vault::testing
