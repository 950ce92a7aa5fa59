#include "engines/hooks/from_api.h"

#include "api/codec.h"
#include "api/duration.h"

namespace lifeboat::hooks {

StatusOr<HookSpec> HookSpecFromApi(const api::Hook& hook, std::string name) {
  HookSpec spec;
  spec.name = std::move(name);
  auto timeout = api::ParseDuration(hook.timeout.value_or(std::string(api::kDefaultHookTimeout)));
  if (!timeout.ok()) {
    return InvalidArgumentError(spec.name + ".timeout: " + timeout.status().message());
  }
  spec.timeout = *timeout;
  if (hook.exec.has_value()) {
    ExecAction exec;
    exec.command = hook.exec->command;
    exec.working_dir = hook.exec->working_dir.value_or("");
    for (const api::EnvVar& e : hook.exec->env) exec.env[e.name] = e.value;
    spec.exec = std::move(exec);
  }
  if (hook.http.has_value()) {
    HttpAction http;
    http.url = hook.http->url;
    http.method = std::string(api::EnumName(hook.http->method.value_or(api::HttpMethod::kGet)));
    http.headers = hook.http->headers;
    http.expected_status =
        static_cast<int>(hook.http->expected_status.value_or(api::kDefaultExpectedStatus));
    spec.http = std::move(http);
  }
  return spec;
}

}  // namespace lifeboat::hooks
