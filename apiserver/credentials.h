#pragma once

// The embedded API server's credentials, made on first start and kept in the data directory:
// a bearer token (token, 0600), a self-signed CA (ca.crt, ca.key) and a serving certificate for
// 127.0.0.1 and localhost signed by it (server.crt, server.key).
#include <filesystem>
#include <string>

#include "common/status.h"

namespace lifeboat::apiserver {

struct Credentials {
  std::string token;
  std::string ca_pem;
  std::filesystem::path ca_cert;
  std::filesystem::path server_cert;
  std::filesystem::path server_key;
};

// Reuses what exists; creates what is missing. kInternal naming the file on failure.
StatusOr<Credentials> EnsureCredentials(const std::filesystem::path& data_dir, bool tls);

// Writes `content` to `path` with mode 0600 (atomically: temp file + rename).
Status WritePrivateFile(const std::filesystem::path& path, const std::string& content);

}  // namespace lifeboat::apiserver
