#pragma once

// Repository: an opened vault — its config, master key, in-memory index, and the primitives to
// read and write encrypted files and blobs (FORMAT.md). Operations (vault.h) are built on it.
#include <memory>
#include <optional>
#include <shared_mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "engines/storage/blob_store.h"
#include "engines/vault/chunker.h"
#include "engines/vault/crypto.h"
#include "engines/vault/fingerprint.h"
#include "engines/vault/format.h"

namespace lifeboat::vault {

// The vault format version in `config` (FORMAT.md): 2 added extended attributes to trees, 3 chunk
// fingerprints. Packs and index files keep their own layout version (kFormatVersion). Version 1
// and 2 vaults are read and written in their own version.
constexpr uint32_t kConfigVersion = 3;
constexpr uint32_t kFingerprintConfigVersion = 3;
constexpr uint32_t kOldestConfigVersion = 1;

struct VaultConfig {
  uint32_t version = kConfigVersion;
  std::string id;
  // Smaller than STYLE.md's 512K/1M/8M by measurement (FORMAT.md §4): on the mutate dataset
  // 128K/256K/2M stores 37 % less per incremental and 2 % less initially, and bounds buffers.
  ChunkerParams chunker{128 << 10, 256 << 10, 2 << 20};
  // zstd level 1: on the benchmark dataset 0.5 % more stored bytes than level 3 (1401.3 vs
  // 1393.9 MB, still below restic's) for 12 % less user CPU in the initial backup.
  int compression_level = 1;
  uint32_t pack_size = 8 << 20;
};

// How to unlock a vault: a passphrase (scrypt-wrapped key file) or a raw key from a Secret
// (at least 16 bytes, high entropy). Exactly one is set.
struct Credentials {
  std::string passphrase;
  std::string raw_key;
};

struct InitOptions {
  Credentials credentials;
  VaultConfig config;
  ScryptParams scrypt;
};

struct BlobLocation {
  Digest pack{};
  PackEntry entry;
};

class Repository {
 public:
  // Creates config and the first key file in an empty store. kAlreadyExists if initialised.
  static Status Init(storage::BlobStore& store, const InitOptions& options);
  // Opens a vault: unwraps the master key (kUnauthenticated when nothing opens with the
  // credentials), reads the config and loads every index file.
  static StatusOr<std::unique_ptr<Repository>> Open(storage::BlobStore& store,
                                                    const Credentials& credentials);
  // Adds a key file for other credentials (e.g. a raw key next to a passphrase).
  Status AddKey(const Credentials& credentials, const ScryptParams& scrypt);

  storage::BlobStore& store() const { return store_; }
  const VaultConfig& config() const { return config_; }
  const MasterKey& key() const { return key_; }
  const Hmac& hmac() const { return *hmac_; }
  const Chunker& chunker() const { return *chunker_; }
  const Fingerprinter& fingerprinter() const { return *fingerprinter_; }
  // Whether backups record chunk fingerprints and use the parent's (a version-3 vault, and a CPU
  // on which they are cheap).
  bool use_fingerprints() const {
    return config_.version >= kFingerprintConfigVersion && fingerprinter_->fast();
  }

  // Reloads all index files (after another process wrote some).
  Status LoadIndex();
  std::optional<BlobLocation> Lookup(const Digest& id) const;
  void AddPack(const PackInfo& pack);
  // Index files loaded and the packs they name (with sizes).
  std::vector<std::string> IndexFiles() const;
  std::unordered_map<Digest, uint64_t, DigestHash> IndexedPacks() const;
  // Damaged index files skipped by LoadIndex (check reports them).
  std::vector<std::string> IndexProblems() const;
  size_t BlobCount() const;
  void ForEachBlob(const std::function<void(const Digest&, const BlobLocation&)>& fn) const;

  // Reads, decrypts, decompresses and verifies one blob (its keyed hash must equal `id`).
  // kNotFound if no index names it; kDataLoss naming the pack and blob on any damage.
  StatusOr<std::string> LoadBlob(const Digest& id) const;
  StatusOr<std::string> DecodeBlob(const Digest& id, const PackEntry& entry,
                                   std::string_view sealed, const Digest& pack) const;

  // Content-addressed encrypted files (index/, snapshots/): name = prefix + SHA-256(ciphertext).
  StatusOr<std::string> SaveFile(std::string_view prefix, std::string_view plaintext,
                                 std::string_view aad) const;
  // Reads and decrypts; verifies the name matches the content. Errors name the file.
  StatusOr<std::string> LoadFile(const std::string& name, std::string_view aad) const;

 private:
  Repository(storage::BlobStore& store, MasterKey key, VaultConfig config);

  storage::BlobStore& store_;
  MasterKey key_;
  VaultConfig config_;
  std::unique_ptr<Hmac> hmac_;
  std::unique_ptr<Chunker> chunker_;
  std::unique_ptr<Fingerprinter> fingerprinter_;

  mutable std::shared_mutex mu_;
  std::unordered_map<Digest, BlobLocation, DigestHash> index_;
  std::unordered_map<Digest, uint64_t, DigestHash> packs_;
  std::vector<std::string> index_files_;
  std::vector<std::string> index_problems_;
  // Every index file name the last LoadIndex listed, and whether index_ still holds exactly what
  // they say (no AddPack since, no damaged file): then a LoadIndex that lists the same names has
  // nothing to read (index files are named by the hash of their bytes).
  std::vector<std::string> index_listed_;
  bool index_as_listed_ = false;
};

}  // namespace lifeboat::vault
