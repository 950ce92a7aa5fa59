#pragma once

// Internal to engines/replication: an HTTPS client for a TargetEndpoint (sender.cc, control.cc).
#include <memory>

#include "common/status.h"
#include "engines/replication/https.h"
#include "engines/replication/sender.h"

namespace lifeboat::replication {

// `pacer` may be nullptr (unlimited).
StatusOr<std::unique_ptr<HttpsClient>> ConnectTarget(const TargetEndpoint& target,
                                                     std::shared_ptr<BandwidthPacer> pacer);

}  // namespace lifeboat::replication
