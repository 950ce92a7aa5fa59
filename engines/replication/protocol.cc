#include "engines/replication/protocol.h"

#include "engines/replication/wire.h"
#include "engines/vault/compress.h"

namespace lifeboat::replication {

std::string FrameBody(std::string_view raw, int zstd_level) {
  vault::Compressed c = vault::MaybeCompress(raw, zstd_level);
  Writer w;
  w.buffer().reserve((c.compressed ? c.data.size() : raw.size()) + 9);
  w.U8(c.compressed ? 1 : 0);
  w.U64(raw.size());
  w.Bytes(c.compressed ? std::string_view(c.data) : raw);
  return w.Take();
}

StatusOr<std::string> UnframeBody(std::string_view framed) {
  Reader r(framed);
  uint8_t compressed = 0;
  uint64_t raw_size = 0;
  if (!r.U8(&compressed) || !r.U64(&raw_size) || compressed > 1) {
    return InvalidArgumentError("request body has no valid frame header");
  }
  std::string_view rest = framed.substr(9);
  if (!compressed) {
    if (rest.size() != raw_size) {
      return InvalidArgumentError("request body size " + std::to_string(rest.size()) +
                                  " does not match its frame (" + std::to_string(raw_size) + ")");
    }
    return std::string(rest);
  }
  constexpr uint64_t kMaxRaw = 1ull << 31;
  if (raw_size > kMaxRaw) {
    return InvalidArgumentError("request body would expand to " + std::to_string(raw_size) +
                                " bytes");
  }
  auto out = vault::Decompress(rest, raw_size);
  if (!out.ok()) {
    return InvalidArgumentError("request body does not decompress: " + out.status().message());
  }
  return std::move(*out);
}

int HttpStatusFor(StatusCode code) {
  switch (code) {
    case StatusCode::kOk:
      return 200;
    case StatusCode::kInvalidArgument:
      return 400;
    case StatusCode::kUnauthenticated:
      return 401;
    case StatusCode::kPermissionDenied:
      return 403;
    case StatusCode::kNotFound:
      return 404;
    case StatusCode::kAborted:
    case StatusCode::kAlreadyExists:
      return 409;
    case StatusCode::kFailedPrecondition:
      return 412;
    case StatusCode::kUnavailable:
      return 503;
    default:
      return 500;
  }
}

std::string ErrorBody(const Status& status) {
  Json j;
  j["code"] = std::string(StatusCodeName(status.code()));
  j["message"] = status.message();
  return j.dump();
}

Status StatusFromResponse(int http_status, std::string_view body, std::string_view context) {
  StatusCode code = StatusCode::kUnknown;
  std::string message;
  Json j = Json::parse(body, nullptr, false);
  if (j.is_object() && j.contains("code") && j["code"].is_string()) {
    std::string name = j["code"].get<std::string>();
    for (int c = 0; c <= static_cast<int>(StatusCode::kUnauthenticated); ++c) {
      if (StatusCodeName(static_cast<StatusCode>(c)) == name) {
        code = static_cast<StatusCode>(c);
      }
    }
    if (j.contains("message") && j["message"].is_string()) {
      message = j["message"].get<std::string>();
    }
  } else {
    message = "HTTP " + std::to_string(http_status) + ": " + std::string(body.substr(0, 200));
    switch (http_status) {
      case 401:
        code = StatusCode::kUnauthenticated;
        break;
      case 404:
        code = StatusCode::kNotFound;
        break;
      case 413:
        code = StatusCode::kInvalidArgument;
        break;
      default:
        code = StatusCode::kUnavailable;
    }
  }
  if (code == StatusCode::kOk) {
    code = StatusCode::kUnknown;
  }
  return Status(code, std::string(context) + ": " + message);
}

Json PointInfoToJson(const PointInfo& p) {
  Json j;
  j["id"] = p.id;
  j["timeMs"] = p.time_ms;
  j["consistency"] = std::string(ConsistencyName(p.consistency));
  j["logicalBytes"] = p.logical_bytes;
  j["files"] = p.files;
  return j;
}

StatusOr<PointInfo> PointInfoFromJson(const Json& j) {
  if (!j.is_object() || !j.contains("id") || !j["id"].is_string() || !j.contains("timeMs") ||
      !j["timeMs"].is_number_integer()) {
    return DataLossError("point description is malformed: " + j.dump().substr(0, 200));
  }
  PointInfo p;
  p.id = j["id"].get<std::string>();
  p.time_ms = j["timeMs"].get<int64_t>();
  ASSIGN_OR_RETURN(p.consistency, ParseConsistency(j.value("consistency", "Crash")));
  p.logical_bytes = j.value("logicalBytes", uint64_t{0});
  p.files = j.value("files", uint64_t{0});
  return p;
}

}  // namespace lifeboat::replication
