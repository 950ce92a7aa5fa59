#pragma once

// The HTTP implementation of KubeClient (cpprestsdk stays inside rest_kube_client.cc).
// Keep-alive connections are pooled per client; every request has `config.request_timeout`;
// watches are long-lived streams on their own connections with an idle timeout of the
// server-side watch timeout plus a margin.
#include <memory>

#include "common/status.h"
#include "controller/client_config.h"
#include "controller/kube_client.h"

namespace lifeboat::controller {

// kInvalidArgument when the server URL is not http(s)://host[:port] or the TLS material is
// unusable.
StatusOr<std::unique_ptr<KubeClient>> NewRestKubeClient(ClientConfig config);

}  // namespace lifeboat::controller
