#pragma once

// Helpers for the snapshot engine's tests: sparse images with known content, file comparison.
#include <sys/stat.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

namespace lifeboat::snapshot::testing {

// Writes `data` at `offset` of `path` (created sparse if missing).
void WriteAt(const std::filesystem::path& path, uint64_t offset, const std::string& data);
// A sparse file of `size` bytes (all holes).
void MakeSparse(const std::filesystem::path& path, uint64_t size);
std::string RandomBytes(std::mt19937_64& rng, size_t n);
std::string ReadAll(const std::filesystem::path& path);
// Allocated bytes (st_blocks * 512).
uint64_t Allocated(const std::filesystem::path& path);
// Byte-identical content, modes, mtimes, symlink targets of two trees (or two files); on a
// difference returns a description, else "".
std::string CompareTrees(const std::filesystem::path& a, const std::filesystem::path& b);
// Total allocated bytes under a directory.
uint64_t AllocatedTree(const std::filesystem::path& dir);
// Flips one byte at `offset` of `path` (works on read-only files).
void FlipByte(const std::filesystem::path& path, uint64_t offset);

}  // namespace lifeboat::snapshot::testing
