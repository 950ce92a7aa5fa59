#pragma once

// Site: another Lifeboat instance to replicate to, reached over TLS.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "api/common_types.h"
#include "api/condition.h"
#include "api/object_meta.h"

namespace lifeboat::api {

struct SiteTls {
  std::optional<SecretKeySelector> ca_secret_ref;
  std::optional<LocalObjectReference> client_cert_secret_ref;  // keys tls.crt / tls.key
  std::optional<bool> insecure_skip_verify;                    // = false
  friend bool operator==(const SiteTls&, const SiteTls&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(SiteTls);

struct SiteSpec {
  std::string endpoint;  // https:// URL of the replication endpoint
  std::optional<SiteTls> tls;
  std::optional<SecretKeySelector> credentials_secret_ref;
  std::optional<std::string> storage_root;
  friend bool operator==(const SiteSpec&, const SiteSpec&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(SiteSpec);

struct SiteStatus {
  std::optional<int64_t> observed_generation;
  std::vector<Condition> conditions;
  std::optional<bool> reachable;
  std::optional<double> latency_milliseconds;
  std::optional<Time> last_contact_time;
  std::optional<std::string> version;
  std::optional<std::string> message;
  friend bool operator==(const SiteStatus&, const SiteStatus&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(SiteStatus);

struct Site {
  std::string api_version = std::string(kApiVersion);
  std::string kind = "Site";
  ObjectMeta metadata;
  SiteSpec spec;
  SiteStatus status;
  friend bool operator==(const Site&, const Site&) = default;
};
LIFEBOAT_API_DECLARE_CODEC(Site);
FieldErrors Validate(const Site& site);

}  // namespace lifeboat::api
