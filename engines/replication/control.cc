#include "engines/replication/control.h"

#include <algorithm>
#include <thread>

#include "engines/replication/protocol.h"
#include "engines/replication/store.h"
#include "engines/replication/target_client.h"

namespace lifeboat::replication {
namespace {

// How often AwaitControl looks at `cancel` while it waits between calls.
constexpr auto kCancelCheck = std::chrono::milliseconds(20);

StatusOr<std::string> StringField(const Json& body, const char* field, const char* op) {
  if (!body.contains(field) || !body[field].is_string()) {
    return InvalidArgumentError(std::string(op) + ": " + field + " is required (a string)");
  }
  return body[field].get<std::string>();
}

StatusOr<std::string> SiteField(const Json& body, const char* field, const char* op) {
  ASSIGN_OR_RETURN(std::string site, StringField(body, field, op));
  Status valid = ValidateRepoName(field, site);
  if (!valid.ok()) {
    return InvalidArgumentError(std::string(op) + ": " + valid.message());
  }
  return site;
}

Status ValidatePolicy(const std::string& ns, const std::string& policy, const char* op) {
  for (auto [what, name] : {std::pair<const char*, const std::string*>{"namespace", &ns},
                            std::pair<const char*, const std::string*>{"policy", &policy}}) {
    Status valid = ValidateRepoName(what, *name);
    if (!valid.ok()) {
      return InvalidArgumentError(std::string(op) + ": " + valid.message());
    }
  }
  return OkStatus();
}

StatusOr<ControlState> Post(const TargetEndpoint& site, const std::string& ns,
                            const std::string& policy, const char* op, const Json& body) {
  RETURN_IF_ERROR(ValidatePolicy(ns, policy, op));
  ASSIGN_OR_RETURN(std::unique_ptr<HttpsClient> client, ConnectTarget(site, nullptr));
  std::string target = "/v1/control/" + ns + "/" + policy + "/" + op;
  ASSIGN_OR_RETURN(HttpResponse resp, client->Do("POST", target, body.dump(), "application/json"));
  std::string what = std::string(op) + " of " + ns + "/" + policy + " at " + site.endpoint;
  if (resp.status != 200) {
    return StatusFromResponse(resp.status, resp.body, what);
  }
  Json j = Json::parse(resp.body, nullptr, false);
  auto state = ControlStateFromJson(j);
  if (!state.ok()) {
    return DataLossError(what + ": " + state.status().message());
  }
  return state;
}

}  // namespace

std::string_view ControlPhaseName(ControlPhase phase) {
  switch (phase) {
    case ControlPhase::kRunning:
      return "Running";
    case ControlPhase::kSucceeded:
      return "Succeeded";
    case ControlPhase::kFailed:
      return "Failed";
  }
  return "Failed";
}

Json ControlStateToJson(const ControlState& state) {
  Json j;
  j["phase"] = std::string(ControlPhaseName(state.phase));
  j["point"] = state.point;
  j["pointTimeMs"] = state.point_time_ms;
  j["siteId"] = state.site_id;
  j["message"] = state.message;
  return j;
}

StatusOr<ControlState> ControlStateFromJson(const Json& j) {
  if (!j.is_object() || !j.contains("phase") || !j["phase"].is_string()) {
    return DataLossError("control answer has no phase: " + j.dump().substr(0, 200));
  }
  ControlState state;
  std::string phase = j["phase"].get<std::string>();
  if (phase == "Running") {
    state.phase = ControlPhase::kRunning;
  } else if (phase == "Succeeded") {
    state.phase = ControlPhase::kSucceeded;
  } else if (phase == "Failed") {
    state.phase = ControlPhase::kFailed;
  } else {
    return DataLossError("control answer has an unknown phase \"" + phase + "\"");
  }
  state.point = j.value("point", "");
  state.point_time_ms = j.value("pointTimeMs", int64_t{0});
  state.site_id = j.value("siteId", "");
  state.message = j.value("message", "");
  return state;
}

StatusOr<HandoverRequest> HandoverRequestFromJson(const std::string& ns, const std::string& policy,
                                                  const Json& body) {
  RETURN_IF_ERROR(ValidatePolicy(ns, policy, "handover"));
  HandoverRequest r;
  r.ns = ns;
  r.policy = policy;
  ASSIGN_OR_RETURN(r.to_site, SiteField(body, "toSite", "handover"));
  if (body.contains("finalSync")) {
    if (!body["finalSync"].is_boolean()) {
      return InvalidArgumentError("handover: finalSync must be true or false");
    }
    r.final_sync = body["finalSync"].get<bool>();
  }
  return r;
}

StatusOr<SeedRequest> SeedRequestFromJson(const std::string& ns, const std::string& policy,
                                          const Json& body) {
  RETURN_IF_ERROR(ValidatePolicy(ns, policy, "seed"));
  SeedRequest r;
  r.ns = ns;
  r.policy = policy;
  ASSIGN_OR_RETURN(r.site, SiteField(body, "site", "seed"));
  return r;
}

StatusOr<FailbackRequest> FailbackRequestFromJson(const std::string& ns, const std::string& policy,
                                                  const Json& body) {
  RETURN_IF_ERROR(ValidatePolicy(ns, policy, "failback"));
  FailbackRequest r;
  r.ns = ns;
  r.policy = policy;
  ASSIGN_OR_RETURN(r.site, SiteField(body, "site", "failback"));
  ASSIGN_OR_RETURN(r.point, SiteField(body, "point", "failback"));
  return r;
}

StatusOr<ControlState> RequestHandover(const TargetEndpoint& site, const HandoverRequest& request) {
  Json body;
  body["toSite"] = request.to_site;
  body["finalSync"] = request.final_sync;
  return Post(site, request.ns, request.policy, "handover", body);
}

StatusOr<ControlState> RequestSeed(const TargetEndpoint& site, const SeedRequest& request) {
  Json body;
  body["site"] = request.site;
  return Post(site, request.ns, request.policy, "seed", body);
}

StatusOr<ControlState> RequestFailback(const TargetEndpoint& site, const FailbackRequest& request) {
  Json body;
  body["site"] = request.site;
  body["point"] = request.point;
  return Post(site, request.ns, request.policy, "failback", body);
}

StatusOr<ControlState> AwaitControl(const std::function<StatusOr<ControlState>()>& call,
                                    std::chrono::milliseconds interval,
                                    std::chrono::milliseconds timeout,
                                    const std::atomic<bool>* cancel) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  Status last_error = OkStatus();
  while (true) {
    if (cancel != nullptr && cancel->load()) {
      return CancelledError("control call cancelled");
    }
    StatusOr<ControlState> state = call();
    if (state.ok()) {
      if (state->phase != ControlPhase::kRunning) {
        return state;
      }
      last_error = OkStatus();
    } else if (state.status().code() == StatusCode::kUnavailable) {
      // The other site restarting or a dropped connection: the call is idempotent, repeat it.
      last_error = state.status();
    } else {
      return state.status();
    }
    const auto wake = std::min(deadline, std::chrono::steady_clock::now() + interval);
    while (std::chrono::steady_clock::now() < wake) {
      if (cancel != nullptr && cancel->load()) {
        return CancelledError("control call cancelled");
      }
      std::this_thread::sleep_for(std::min<std::chrono::steady_clock::duration>(
          kCancelCheck, wake - std::chrono::steady_clock::now()));
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return DeadlineExceededError(
          "control operation still running after " + std::to_string(timeout.count()) + " ms" +
          (last_error.ok() ? std::string() : " (last error: " + last_error.message() + ")"));
    }
  }
}

}  // namespace lifeboat::replication
