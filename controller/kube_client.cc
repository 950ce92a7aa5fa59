#include "controller/kube_client.h"

#include <string>

namespace lifeboat::controller {
namespace {

constexpr int kBadRequest = 400;
constexpr int kUnauthorized = 401;
constexpr int kForbidden = 403;
constexpr int kNotFoundCode = 404;
constexpr int kConflict = 409;
constexpr int kGone = 410;
constexpr int kUnprocessable = 422;
constexpr int kTooManyRequests = 429;
constexpr int kServerErrorMin = 500;

// "message; field: cause; field: cause" from a metav1.Status.
std::string DescribeKubeStatus(const Json& status) {
  std::string message = status.value("message", "");
  auto details = status.find("details");
  if (details != status.end() && details->is_object()) {
    auto causes = details->find("causes");
    if (causes != details->end() && causes->is_array()) {
      for (const Json& cause : *causes) {
        if (!cause.is_object()) {
          continue;
        }
        std::string field = cause.value("field", "");
        std::string text = cause.value("message", "");
        std::string item = field.empty() ? text : field + ": " + text;
        if (item.empty() || message.find(item) != std::string::npos) {
          continue;
        }
        message += message.empty() ? item : "; " + item;
      }
    }
  }
  return message;
}

Status MapCode(int code, const std::string& reason, std::string message) {
  if (code == kNotFoundCode) {
    return NotFoundError(std::move(message));
  }
  if (code == kConflict) {
    if (reason == "AlreadyExists") {
      return AlreadyExistsError(std::move(message));
    }
    return AbortedError(std::move(message));
  }
  if (code == kBadRequest || code == kUnprocessable) {
    return InvalidArgumentError(std::move(message));
  }
  if (code == kGone) {
    return OutOfRangeError("Expired: " + message);
  }
  if (code == kUnauthorized) {
    return UnauthenticatedError(std::move(message));
  }
  if (code == kForbidden) {
    return PermissionDeniedError(std::move(message));
  }
  if (code == kTooManyRequests || code >= kServerErrorMin) {
    return UnavailableError(std::move(message));
  }
  return UnknownError(std::move(message));
}

}  // namespace

Status StatusFromKubeStatus(const Json& status, std::string_view what) {
  int code = 0;
  std::string reason;
  if (status.is_object()) {
    if (auto it = status.find("code"); it != status.end() && it->is_number_integer()) {
      code = it->get<int>();
    }
    reason = status.value("reason", "");
  }
  std::string detail = status.is_object() ? DescribeKubeStatus(status) : status.dump();
  if (code == 0 && reason == "Expired") {
    code = kGone;
  }
  return MapCode(
      code, reason,
      std::string(what) + ": " + (detail.empty() ? "HTTP " + std::to_string(code) : detail));
}

Status StatusFromHttp(int http_status, std::string_view body, std::string_view what) {
  Json decoded = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string reason;
  std::string detail;
  if (decoded.is_object() && decoded.value("kind", "") == "Status") {
    reason = decoded.value("reason", "");
    detail = DescribeKubeStatus(decoded);
  } else {
    constexpr size_t kMaxBodyInMessage = 300;
    detail = std::string(body.substr(0, kMaxBodyInMessage));
  }
  std::string message = std::string(what) + ": HTTP " + std::to_string(http_status);
  if (!detail.empty()) {
    message += ": " + detail;
  }
  return MapCode(http_status, reason, std::move(message));
}

}  // namespace lifeboat::controller
