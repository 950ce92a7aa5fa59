#include "engines/vault/repository.h"

#include <unistd.h>

#include <chrono>
#include <mutex>

#include "api/json.h"
#include "engines/vault/compress.h"

namespace lifeboat::vault {

namespace {
constexpr size_t kSaltSize = 32;
constexpr size_t kMinRawKey = 16;
constexpr size_t kConfigIdBytes = 16;
constexpr std::string_view kRawKeyLabel = "lifeboat-v1/raw-key";

std::string HostName() {
  char buf[256] = {};
  ::gethostname(buf, sizeof(buf) - 1);
  return buf;
}

Status ValidateCredentials(const Credentials& c) {
  if (c.passphrase.empty() == c.raw_key.empty()) {
    return InvalidArgumentError("exactly one of passphrase or raw key must be given");
  }
  if (!c.raw_key.empty() && c.raw_key.size() < kMinRawKey) {
    return InvalidArgumentError("raw key must be at least 16 bytes");
  }
  return OkStatus();
}

StatusOr<std::array<uint8_t, kKeySize>> KeyEncryptionKey(const Credentials& c,
                                                         const std::string& salt,
                                                         const ScryptParams& params) {
  if (!c.raw_key.empty()) {
    std::string material(kRawKeyLabel);
    material += c.raw_key;
    Digest d = Sha256(material);
    std::array<uint8_t, kKeySize> out{};
    std::copy(d.begin(), d.end(), out.begin());
    return out;
  }
  return Scrypt(c.passphrase, salt, params);
}

StatusOr<std::string> MakeKeyFile(const MasterKey& key, const Credentials& c,
                                  const ScryptParams& scrypt) {
  RETURN_IF_ERROR(ValidateCredentials(c));
  std::string salt(kSaltSize, '\0');
  RandomBytes(reinterpret_cast<uint8_t*>(salt.data()), salt.size());
  ASSIGN_OR_RETURN(auto kek, KeyEncryptionKey(c, salt, scrypt));
  std::string plain(reinterpret_cast<const char*>(key.encryption.data()), kKeySize);
  plain.append(reinterpret_cast<const char*>(key.mac.data()), kKeySize);
  std::string sealed = Seal(kek, plain, kAadKey);
  Json doc = {
      {"version", kFormatVersion},
      {"kdf", c.raw_key.empty() ? "scrypt" : "raw"},
      {"scrypt", {{"n", scrypt.n}, {"r", scrypt.r}, {"p", scrypt.p}}},
      {"salt", ToHex(reinterpret_cast<const uint8_t*>(salt.data()), salt.size())},
      {"data", ToHex(reinterpret_cast<const uint8_t*>(sealed.data()), sealed.size())},
      {"hostname", HostName()},
      {"created_unix", std::chrono::duration_cast<std::chrono::seconds>(
                           std::chrono::system_clock::now().time_since_epoch())
                           .count()},
  };
  return doc.dump(2);
}

// Tries one key file; kUnauthenticated when these credentials do not open it.
StatusOr<MasterKey> UnwrapKeyFile(const std::string& name, const std::string& text,
                                  const Credentials& c) {
  Json doc = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (!doc.is_object() || !doc.contains("kdf") || !doc.contains("salt") || !doc.contains("data")) {
    return DataLossError("key file " + name + " is not a valid key document");
  }
  std::string kdf = doc.value("kdf", "");
  if ((kdf == "raw") != !c.raw_key.empty()) {
    return UnauthenticatedError("key file " + name + " uses kdf " + kdf);
  }
  ScryptParams params;
  if (doc.contains("scrypt") && doc["scrypt"].is_object()) {
    params.n = doc["scrypt"].value("n", params.n);
    params.r = doc["scrypt"].value("r", params.r);
    params.p = doc["scrypt"].value("p", params.p);
  }
  auto salt = FromHex(doc.value("salt", ""));
  auto sealed = FromHex(doc.value("data", ""));
  if (!salt.ok() || !sealed.ok()) {
    return DataLossError("key file " + name + " has malformed hex fields");
  }
  ASSIGN_OR_RETURN(auto kek, KeyEncryptionKey(c, *salt, params));
  auto plain = Open(kek, *sealed, kAadKey);
  if (!plain.ok()) {
    return UnauthenticatedError("key file " + name + " does not open with these credentials");
  }
  if (plain->size() != 2 * kKeySize) {
    return DataLossError("key file " + name + " holds a key of the wrong size");
  }
  MasterKey key;
  std::copy(plain->begin(), plain->begin() + kKeySize, key.encryption.begin());
  std::copy(plain->begin() + kKeySize, plain->end(), key.mac.begin());
  return key;
}

Json ConfigToJson(const VaultConfig& c) {
  return {{"version", c.version},
          {"id", c.id},
          {"chunker",
           {{"min", c.chunker.min_size}, {"avg", c.chunker.avg_size}, {"max", c.chunker.max_size}}},
          {"compression_level", c.compression_level},
          {"pack_size", c.pack_size}};
}

StatusOr<VaultConfig> ConfigFromJson(const std::string& text) {
  Json doc = Json::parse(text, nullptr, false);
  if (!doc.is_object() || !doc.contains("chunker") || !doc["chunker"].is_object()) {
    return DataLossError("config is not a valid document");
  }
  VaultConfig c;
  c.version = doc.value("version", 0u);
  if (c.version < kOldestConfigVersion || c.version > kConfigVersion) {
    return FailedPreconditionError("vault format version " + std::to_string(c.version) +
                                   " is not supported (this lifeboat reads versions " +
                                   std::to_string(kOldestConfigVersion) + " to " +
                                   std::to_string(kConfigVersion) + ")");
  }
  c.id = doc.value("id", "");
  c.chunker.min_size = doc["chunker"].value("min", 0u);
  c.chunker.avg_size = doc["chunker"].value("avg", 0u);
  c.chunker.max_size = doc["chunker"].value("max", 0u);
  c.compression_level = doc.value("compression_level", 3);
  c.pack_size = doc.value("pack_size", 16u << 20);
  RETURN_IF_ERROR(ValidateChunkerParams(c.chunker).WithPrefix("config"));
  return c;
}
}  // namespace

Repository::Repository(storage::BlobStore& store, MasterKey key, VaultConfig config)
    : store_(store),
      key_(key),
      config_(std::move(config)),
      hmac_(std::make_unique<Hmac>(key_.mac)),
      chunker_(std::make_unique<Chunker>(config_.chunker, key_.mac)),
      fingerprinter_(std::make_unique<Fingerprinter>(key_.mac)) {}

Status Repository::Init(storage::BlobStore& store, const InitOptions& options) {
  RETURN_IF_ERROR(ValidateCredentials(options.credentials));
  RETURN_IF_ERROR(ValidateChunkerParams(options.config.chunker));
  if (options.config.pack_size < (1u << 20)) {
    return InvalidArgumentError("pack_size must be at least 1 MiB");
  }
  auto existing = store.Stat(kConfigName);
  if (existing.ok()) {
    return AlreadyExistsError("a vault already exists in " + store.Describe());
  }
  MasterKey key;
  RandomBytes(key.encryption.data(), key.encryption.size());
  RandomBytes(key.mac.data(), key.mac.size());
  VaultConfig config = options.config;
  // An older version may be asked for (a vault older lifeboats must still open); newer is
  // unknown.
  if (config.version < kOldestConfigVersion || config.version > kConfigVersion) {
    return InvalidArgumentError("vault format version " + std::to_string(config.version) +
                                " cannot be created (this lifeboat writes versions " +
                                std::to_string(kOldestConfigVersion) + " to " +
                                std::to_string(kConfigVersion) + ")");
  }
  uint8_t id[kConfigIdBytes];
  RandomBytes(id, sizeof(id));
  config.id = ToHex(id, sizeof(id));
  ASSIGN_OR_RETURN(std::string key_file, MakeKeyFile(key, options.credentials, options.scrypt));
  Digest key_id = Sha256(key_file);
  RETURN_IF_ERROR(store.Put(std::string(kKeyPrefix) + ToHex(key_id), key_file));
  std::string sealed = Seal(key.encryption, ConfigToJson(config).dump(), kAadConfig);
  return store.Put(kConfigName, sealed);
}

StatusOr<std::unique_ptr<Repository>> Repository::Open(storage::BlobStore& store,
                                                       const Credentials& credentials) {
  RETURN_IF_ERROR(ValidateCredentials(credentials));
  auto config_blob = store.Get(kConfigName);
  if (!config_blob.ok()) {
    if (IsNotFound(config_blob.status())) {
      return NotFoundError("no vault in " + store.Describe() + " (config missing; run init)");
    }
    return config_blob.status();
  }
  ASSIGN_OR_RETURN(auto keys, store.List(kKeyPrefix));
  if (keys.empty()) {
    return DataLossError("vault " + store.Describe() + " has no key files under keys/");
  }
  std::optional<MasterKey> key;
  Status last_problem;
  for (const storage::BlobInfo& info : keys) {
    auto text = store.Get(info.name);
    if (!text.ok()) {
      last_problem = text.status();
      continue;
    }
    auto unwrapped = UnwrapKeyFile(info.name, *text, credentials);
    if (unwrapped.ok()) {
      key = *unwrapped;
      break;
    }
    if (unwrapped.status().code() != StatusCode::kUnauthenticated) {
      last_problem = unwrapped.status();
    }
  }
  if (!key.has_value()) {
    std::string what = credentials.raw_key.empty() ? "wrong passphrase" : "wrong key";
    return UnauthenticatedError(what + ": no key file in " + store.Describe() +
                                "/keys opens with it" +
                                (last_problem.ok() ? "" : " (" + last_problem.message() + ")"));
  }
  auto plain = vault::Open(key->encryption, *config_blob, kAadConfig);
  if (!plain.ok()) {
    return DataLossError("config: " + plain.status().message());
  }
  ASSIGN_OR_RETURN(VaultConfig config, ConfigFromJson(*plain));
  std::unique_ptr<Repository> repo(new Repository(store, *key, std::move(config)));
  RETURN_IF_ERROR(repo->LoadIndex());
  return repo;
}

Status Repository::AddKey(const Credentials& credentials, const ScryptParams& scrypt) {
  ASSIGN_OR_RETURN(std::string key_file, MakeKeyFile(key_, credentials, scrypt));
  return store_.Put(std::string(kKeyPrefix) + ToHex(Sha256(key_file)), key_file);
}

Status Repository::LoadIndex() {
  ASSIGN_OR_RETURN(auto files, store_.List(kIndexPrefix));
  std::vector<std::string> listed;
  listed.reserve(files.size());
  for (const storage::BlobInfo& f : files) listed.push_back(f.name);
  {
    std::shared_lock lock(mu_);
    if (index_as_listed_ && listed == index_listed_) {
      return OkStatus();
    }
  }
  std::unordered_map<Digest, BlobLocation, DigestHash> index;
  std::unordered_map<Digest, uint64_t, DigestHash> packs;
  std::vector<std::string> names;
  std::vector<std::string> problems;
  for (const storage::BlobInfo& f : files) {
    auto plain = LoadFile(f.name, kAadIndex);
    if (!plain.ok()) {
      if (plain.status().code() != StatusCode::kDataLoss) {
        return plain.status();
      }
      problems.push_back(plain.status().message());
      continue;
    }
    auto decoded = DecodeIndex(*plain);
    if (!decoded.ok()) {
      problems.push_back("index file " + f.name + ": " + decoded.status().message());
      continue;
    }
    for (const PackInfo& p : *decoded) {
      packs[p.id] = p.size;
      for (const PackEntry& e : p.blobs) {
        index.try_emplace(e.id, BlobLocation{p.id, e});
      }
    }
    names.push_back(f.name);
  }
  std::unique_lock lock(mu_);
  index_ = std::move(index);
  packs_ = std::move(packs);
  index_files_ = std::move(names);
  index_as_listed_ = problems.empty();
  index_problems_ = std::move(problems);
  index_listed_ = std::move(listed);
  return OkStatus();
}

std::optional<BlobLocation> Repository::Lookup(const Digest& id) const {
  std::shared_lock lock(mu_);
  auto it = index_.find(id);
  if (it == index_.end()) {
    return std::nullopt;
  }
  return it->second;
}

void Repository::AddPack(const PackInfo& pack) {
  std::unique_lock lock(mu_);
  index_as_listed_ = false;
  packs_[pack.id] = pack.size;
  for (const PackEntry& e : pack.blobs) {
    index_.try_emplace(e.id, BlobLocation{pack.id, e});
  }
}

std::vector<std::string> Repository::IndexFiles() const {
  std::shared_lock lock(mu_);
  return index_files_;
}

std::unordered_map<Digest, uint64_t, DigestHash> Repository::IndexedPacks() const {
  std::shared_lock lock(mu_);
  return packs_;
}

std::vector<std::string> Repository::IndexProblems() const {
  std::shared_lock lock(mu_);
  return index_problems_;
}

size_t Repository::BlobCount() const {
  std::shared_lock lock(mu_);
  return index_.size();
}

void Repository::ForEachBlob(
    const std::function<void(const Digest&, const BlobLocation&)>& fn) const {
  std::shared_lock lock(mu_);
  for (const auto& [id, loc] : index_) {
    fn(id, loc);
  }
}

StatusOr<std::string> Repository::DecodeBlob(const Digest& id, const PackEntry& entry,
                                             std::string_view sealed, const Digest& pack) const {
  auto where = [&] {
    return "pack " + PackName(pack) + " " + BlobTypeName(entry.type) + " blob " + ToHex(id);
  };
  auto plain = vault::Open(key_.encryption, sealed,
                           std::string_view(reinterpret_cast<const char*>(id.data()), id.size()));
  if (!plain.ok()) {
    return DataLossError(where() + ": " + plain.status().message());
  }
  std::string raw;
  if (entry.compressed) {
    auto d = Decompress(*plain, entry.raw_length);
    if (!d.ok()) {
      return DataLossError(where() + ": " + d.status().message());
    }
    raw = std::move(d).value();
  } else {
    raw = std::move(plain).value();
  }
  if (raw.size() != entry.raw_length || hmac_->Sum(raw) != id) {
    return DataLossError(where() + ": content does not match its ID");
  }
  return raw;
}

StatusOr<std::string> Repository::LoadBlob(const Digest& id) const {
  auto loc = Lookup(id);
  if (!loc.has_value()) {
    return NotFoundError("blob " + ToHex(id) + " is not in any index file");
  }
  auto sealed = store_.Get(PackName(loc->pack), {loc->entry.offset, loc->entry.length});
  if (!sealed.ok()) {
    std::string what = "pack " + PackName(loc->pack) + " " + BlobTypeName(loc->entry.type) +
                       " blob " + ToHex(id) + ": ";
    if (IsNotFound(sealed.status())) {
      return DataLossError(what + "pack file is missing");
    }
    if (sealed.status().code() == StatusCode::kOutOfRange) {
      return DataLossError(what + "pack file is truncated (" + sealed.status().message() + ")");
    }
    return sealed.status().WithPrefix(what.substr(0, what.size() - 2));
  }
  return DecodeBlob(id, loc->entry, *sealed, loc->pack);
}

StatusOr<std::string> Repository::SaveFile(std::string_view prefix, std::string_view plaintext,
                                           std::string_view aad) const {
  std::string sealed = Seal(key_.encryption, plaintext, aad);
  std::string name = std::string(prefix) + ToHex(Sha256(sealed));
  RETURN_IF_ERROR(store_.Put(name, sealed));
  return name;
}

StatusOr<std::string> Repository::LoadFile(const std::string& name, std::string_view aad) const {
  auto sealed = store_.Get(name);
  if (!sealed.ok()) {
    return sealed.status().WithPrefix("reading " + name);
  }
  std::string_view hex = std::string_view(name).substr(name.rfind('/') + 1);
  if (ToHex(Sha256(*sealed)) != hex) {
    return DataLossError(name + ": content does not match its name (damaged file)");
  }
  auto plain = vault::Open(key_.encryption, *sealed, aad);
  if (!plain.ok()) {
    return DataLossError(name + ": " + plain.status().message());
  }
  return plain;
}

}  // namespace lifeboat::vault
