#pragma once

// Test helpers: build source trees (sparse images, text, random files) and compare trees.
#include <cstdint>
#include <filesystem>
#include <random>
#include <string>

namespace lifeboat::replication::testing {

std::string RandomBytes(std::mt19937_64& rng, size_t size);
// Writes `data` at `offset` of `path` (created if absent) without truncating.
void WriteAt(const std::filesystem::path& path, uint64_t offset, const std::string& data);
// A sparse image of `size` bytes: random 64 KiB extents every 256 KiB, holes in between.
void MakeSparseImage(const std::filesystem::path& path, uint64_t size, std::mt19937_64& rng);
// Empty string when equal; otherwise the first difference (path, type, size, bytes, mode, mtime).
std::string CompareTrees(const std::filesystem::path& a, const std::filesystem::path& b);
// Copies a tree keeping holes, modes and mtimes (cp -a --sparse=always).
void CopyTree(const std::filesystem::path& from, const std::filesystem::path& to);
uint64_t AllocatedBytes(const std::filesystem::path& file);

}  // namespace lifeboat::replication::testing
