#pragma once

// What the API server tells its observer (the metrics) about each request it served.
#include <functional>
#include <string_view>

namespace lifeboat::apiserver {

// One served request, as kube-apiserver's apiserver_request_total labels it: verb GET, LIST,
// WATCH, POST, PUT, PATCH, APPLY, DELETE or DELETECOLLECTION for resources (the HTTP method
// otherwise), the resource's group, plural and subresource (empty for other paths), the status
// code, and the time to the response's headers (a watch's stream is not included).
struct RequestRecord {
  std::string_view verb;
  std::string_view group;
  std::string_view resource;
  std::string_view subresource;
  int code = 0;
  double seconds = 0;
};
using RequestObserver = std::function<void(const RequestRecord&)>;

}  // namespace lifeboat::apiserver
