#include "api/site.h"

#include "api/kind_support.h"
#include "api/validation.h"

namespace lifeboat::api {
namespace {

template <typename C, typename T>
void Fields(C& c, T& v) {
  using V = std::remove_const_t<T>;
  if constexpr (std::is_same_v<V, SiteTls>) {
    c.Optional("caSecretRef", v.ca_secret_ref);
    c.Optional("clientCertSecretRef", v.client_cert_secret_ref);
    c.Optional("insecureSkipVerify", v.insecure_skip_verify);
  } else if constexpr (std::is_same_v<V, SiteSpec>) {
    c.Required("endpoint", v.endpoint);
    c.Optional("tls", v.tls);
    c.Optional("credentialsSecretRef", v.credentials_secret_ref);
    c.Optional("storageRoot", v.storage_root);
  } else if constexpr (std::is_same_v<V, SiteStatus>) {
    StatusCommonFields(c, v);
    c.Optional("reachable", v.reachable);
    c.Optional("latencyMilliseconds", v.latency_milliseconds);
    c.Optional("lastContactTime", v.last_contact_time);
    c.Optional("version", v.version);
    c.Optional("message", v.message);
  } else {
    static_assert(std::is_same_v<V, Site>);
    KindFields(c, v);
  }
}

}  // namespace

LIFEBOAT_API_DEFINE_CODEC(SiteTls)
LIFEBOAT_API_DEFINE_CODEC(SiteSpec)
LIFEBOAT_API_DEFINE_CODEC(SiteStatus)
LIFEBOAT_API_DEFINE_CODEC(Site)

FieldErrors Validate(const Site& site) {
  FieldErrors errors;
  ValidateKindHeader(site, &errors);
  const SiteSpec& spec = site.spec;
  ValidateUrl(spec.endpoint, {"https"}, "spec.endpoint", &errors);
  if (spec.tls) {
    if (spec.tls->ca_secret_ref) {
      ValidateSecretKeySelector(*spec.tls->ca_secret_ref, "spec.tls.caSecretRef", &errors);
    }
    if (spec.tls->client_cert_secret_ref) {
      ValidateLocalObjectReference(*spec.tls->client_cert_secret_ref,
                                   "spec.tls.clientCertSecretRef", &errors);
    }
  }
  if (spec.credentials_secret_ref) {
    ValidateSecretKeySelector(*spec.credentials_secret_ref, "spec.credentialsSecretRef", &errors);
  }
  if (spec.storage_root) {
    ValidateAbsolutePath(*spec.storage_root, "spec.storageRoot", &errors);
  }
  ValidateStatusCommon(site.status, &errors);
  return errors;
}

}  // namespace lifeboat::api
