#pragma once

// What the vault's CLI commands share (cli/vault_command.cc, backup, restore, ls): opening a
// vault from flags and environment, sizes, and progress lines on a terminal.
#include <chrono>
#include <iosfwd>
#include <memory>
#include <string>

#include "engines/storage/local_blob_store.h"
#include "engines/storage/open_store.h"
#include "engines/vault/vault.h"

namespace lifeboat::vault {

struct CliVaultFlags {
  // --vault, else $LIFEBOAT_VAULT: a directory or an S3 URL (storage::ParseStorageUrl), whose
  // credentials come from AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY.
  std::string vault;
  std::string password_file;  // --password-file, else $LIFEBOAT_PASSWORD
  std::string key_file;       // --key-file: a raw key (e.g. a mounted Secret)
};

struct OpenedVault {
  std::unique_ptr<storage::BlobStore> store;
  std::unique_ptr<Repository> repo;
};

// Resolves the vault path and credentials (errors name the flag or variable to set).
StatusOr<std::string> ResolveVaultPath(const CliVaultFlags& flags);
StatusOr<Credentials> ResolveCredentials(const CliVaultFlags& flags);
StatusOr<OpenedVault> OpenFromFlags(const CliVaultFlags& flags);
// Opens the store a --vault / --to value names (a directory, created when `create`, or S3).
StatusOr<std::unique_ptr<storage::BlobStore>> OpenStoreAt(const std::string& url, bool create);

// "1.5 GiB", "312 KiB", "17 B".
std::string HumanBytes(uint64_t bytes);
// Parses "512K", "1M", "8MiB", "4096" into bytes.
StatusOr<uint64_t> ParseSize(const std::string& text);

// Prints "\r<phase> 1.2 GiB / 2.0 GiB  310 MiB/s  ETA 3s  files 120/400" on `out` at most every
// 200 ms when enabled (stderr is a terminal and --json is off).
class ProgressPrinter {
 public:
  ProgressPrinter(std::ostream& out, bool enabled);
  void operator()(const Progress& p);
  // Whether anything is printed (a terminal, not --json): when not, callers pass no progress
  // callback at all, so a backup does not start its counting pass over the tree.
  bool enabled() const { return enabled_; }
  // Ends the progress line.
  void Finish();

 private:
  std::ostream& out_;
  bool enabled_;
  bool printed_ = false;
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

}  // namespace lifeboat::vault
