#include "engines/vault/cli_support.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <iomanip>
#include <ostream>
#include <sstream>

namespace lifeboat::vault {

namespace {
std::string FirstLine(const std::string& text) {
  std::string line = text.substr(0, text.find('\n'));
  if (!line.empty() && line.back() == '\r') line.pop_back();
  return line;
}

StatusOr<std::string> ReadSmallFile(const std::string& path, const std::string& flag) {
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return InvalidArgumentError(flag + " " + path + ": cannot be read");
  }
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}
}  // namespace

StatusOr<std::string> ResolveVaultPath(const CliVaultFlags& flags) {
  if (!flags.vault.empty()) {
    return flags.vault;
  }
  if (const char* env = std::getenv("LIFEBOAT_VAULT"); env != nullptr && *env != '\0') {
    return std::string(env);
  }
  return InvalidArgumentError("no vault given: pass --vault PATH or set LIFEBOAT_VAULT");
}

StatusOr<Credentials> ResolveCredentials(const CliVaultFlags& flags) {
  Credentials c;
  if (!flags.key_file.empty()) {
    ASSIGN_OR_RETURN(c.raw_key, ReadSmallFile(flags.key_file, "--key-file"));
    if (c.raw_key.size() < 16) {
      return InvalidArgumentError("--key-file " + flags.key_file +
                                  ": a raw key needs at least 16 bytes");
    }
    return c;
  }
  if (!flags.password_file.empty()) {
    ASSIGN_OR_RETURN(std::string text, ReadSmallFile(flags.password_file, "--password-file"));
    c.passphrase = FirstLine(text);
    if (c.passphrase.empty()) {
      return InvalidArgumentError("--password-file " + flags.password_file +
                                  ": the first line is empty");
    }
    return c;
  }
  if (const char* env = std::getenv("LIFEBOAT_PASSWORD"); env != nullptr && *env != '\0') {
    c.passphrase = env;
    return c;
  }
  return InvalidArgumentError(
      "no passphrase: pass --password-file FILE, set LIFEBOAT_PASSWORD, or pass --key-file FILE");
}

StatusOr<OpenedVault> OpenFromFlags(const CliVaultFlags& flags) {
  ASSIGN_OR_RETURN(std::string path, ResolveVaultPath(flags));
  ASSIGN_OR_RETURN(Credentials credentials, ResolveCredentials(flags));
  OpenedVault v;
  ASSIGN_OR_RETURN(v.store, OpenStoreAt(path, /*create=*/false));
  ASSIGN_OR_RETURN(v.repo, Repository::Open(*v.store, credentials));
  return v;
}

StatusOr<std::unique_ptr<storage::BlobStore>> OpenStoreAt(const std::string& url, bool create) {
  storage::StorageLocation location;
  if (url.rfind("s3:", 0) == 0) {
    ASSIGN_OR_RETURN(location, storage::ParseStorageUrl(url));
    storage::S3CredentialsFromEnvironment(location);
  } else {
    location.path = url;  // a directory, relative paths included
  }
  return storage::OpenStore(location, storage::OpenStoreOptions{.create = create});
}

std::string HumanBytes(uint64_t bytes) {
  static const char* kUnits[] = {"B", "KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes);
  int unit = 0;
  while (v >= 1024 && unit < 5) {
    v /= 1024;
    unit++;
  }
  std::ostringstream out;
  if (unit == 0) {
    out << bytes << " B";
  } else {
    out << std::fixed << std::setprecision(v < 10 ? 2 : 1) << v << " " << kUnits[unit];
  }
  return out.str();
}

StatusOr<uint64_t> ParseSize(const std::string& text) {
  size_t pos = 0;
  uint64_t value = 0;
  try {
    value = std::stoull(text, &pos);
  } catch (const std::exception&) {
    return InvalidArgumentError("\"" + text + "\" is not a size (e.g. 512K, 1M, 4096)");
  }
  std::string unit = text.substr(pos);
  if (unit == "" || unit == "B") return value;
  if (unit == "K" || unit == "KiB" || unit == "k") return value << 10;
  if (unit == "M" || unit == "MiB") return value << 20;
  if (unit == "G" || unit == "GiB") return value << 30;
  return InvalidArgumentError("\"" + text + "\" has an unknown unit (use K, M or G)");
}

ProgressPrinter::ProgressPrinter(std::ostream& out, bool enabled)
    : out_(out), enabled_(enabled) {}

void ProgressPrinter::operator()(const Progress& p) {
  if (!enabled_) {
    return;
  }
  double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  double rate = secs > 0 ? static_cast<double>(p.bytes_done) / secs : 0;
  std::ostringstream line;
  line << "\r" << p.phase << " " << HumanBytes(p.bytes_done);
  if (p.bytes_total > 0) {
    line << " / " << HumanBytes(p.bytes_total);
  }
  line << "  " << HumanBytes(static_cast<uint64_t>(rate)) << "/s";
  if (p.bytes_total > p.bytes_done && rate > 0) {
    line << "  ETA " << static_cast<uint64_t>(
                            std::ceil(static_cast<double>(p.bytes_total - p.bytes_done) / rate))
         << "s";
  }
  if (p.files_done > 0 || p.files_total > 0) {
    line << "  files " << p.files_done;
    if (p.files_total > 0) line << "/" << p.files_total;
  }
  line << "\033[K";
  out_ << line.str() << std::flush;
  printed_ = true;
}

void ProgressPrinter::Finish() {
  if (printed_) {
    out_ << "\n";
    printed_ = false;
  }
}

}  // namespace lifeboat::vault
