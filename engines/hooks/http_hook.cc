// The cpprestsdk adapter for HTTP hooks (cpprestsdk stays in this file).
#include <cpprest/http_client.h>

#include "engines/hooks/hooks_internal.h"

namespace lifeboat::hooks {

StatusOr<HookResult> RunHttp(const HookSpec& spec, const HttpAction& http) {
  if (http.url.rfind("http://", 0) != 0 && http.url.rfind("https://", 0) != 0) {
    return InvalidArgumentError(spec.name + ": http.url \"" + http.url +
                                "\" must start with http:// or https://");
  }
  HookResult result;
  const auto start = std::chrono::steady_clock::now();
  try {
    web::http::client::http_client_config config;
    config.set_timeout(spec.timeout);
    web::http::client::http_client client(web::uri(http.url), config);
    web::http::http_request request(http.method);
    for (const auto& [k, v] : http.headers) {
      request.headers().add(k, v);
    }
    if (!http.body.empty()) {
      request.set_body(http.body);
    }
    web::http::http_response response = client.request(request).get();
    result.exit_code = response.status_code();
    std::string body = response.extract_utf8string(true).get();
    if (body.size() > kMaxHookOutput) {
      body.erase(0, body.size() - kMaxHookOutput);
      result.output_truncated = true;
    }
    result.output = std::move(body);
  } catch (const web::http::http_exception& e) {
    result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    result.timed_out = result.duration >= spec.timeout;
    result.message = spec.name + ": " + http.method + " " + http.url + " failed: " +
                     (result.timed_out ? "timed out after " + std::to_string(spec.timeout.count()) + "ms"
                                       : std::string(e.what()));
    return result;
  } catch (const std::exception& e) {
    return InvalidArgumentError(spec.name + ": http.url \"" + http.url + "\": " + e.what());
  }
  result.duration = std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - start);
  if (result.exit_code == http.expected_status) {
    result.succeeded = true;
    result.message = spec.name + ": " + http.method + " " + http.url + " returned " +
                     std::to_string(result.exit_code);
  } else {
    result.message = spec.name + ": " + http.method + " " + http.url + " returned " +
                     std::to_string(result.exit_code) + ", expected " +
                     std::to_string(http.expected_status);
  }
  return result;
}

}  // namespace lifeboat::hooks
