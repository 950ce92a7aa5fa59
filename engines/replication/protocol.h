#pragma once

// The replication protocol (HTTP/1.1 over TLS, every request authenticated by a bearer token
// and/or a client certificate):
//   GET    /v1/ping                              {"version", "time"}: reachability and latency
//   GET    /v1/repos/SITE/NS/POLICY/points        the journal: [{"id","time","consistency",...}]
//   POST   /v1/repos/SITE/NS/POLICY/missing       body: 32-byte hashes; reply: the ones missing
//   POST   /v1/repos/SITE/NS/POLICY/chunks        body: packed chunk records (see Repo::AddChunks)
//   POST   /v1/repos/SITE/NS/POLICY/points?retentionSeconds=N   body: manifest (full or delta);
//          commits a recovery point, then applies retention; reply: the point
//   DELETE /v1/repos/SITE/NS/POLICY/points/ID     deletes a point (failover clean-up)
// Bodies of chunks and points are framed: u8 compressed (zstd), u64 raw size, bytes.
// Errors: JSON {"code": "FAILED_PRECONDITION", "message": ...} with the matching HTTP status.
#include <string>
#include <string_view>

#include "api/json.h"
#include "common/status.h"
#include "engines/replication/manifest.h"

namespace lifeboat::replication {

constexpr std::string_view kProtocolVersion = "lifeboat-replication/1";

std::string FrameBody(std::string_view raw, int zstd_level);
StatusOr<std::string> UnframeBody(std::string_view framed);

int HttpStatusFor(StatusCode code);
std::string ErrorBody(const Status& status);
// Rebuilds the Status carried by an error response; `context` prefixes the message.
Status StatusFromResponse(int http_status, std::string_view body, std::string_view context);

Json PointInfoToJson(const PointInfo& p);
StatusOr<PointInfo> PointInfoFromJson(const Json& j);

}  // namespace lifeboat::replication
