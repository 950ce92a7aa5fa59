#pragma once

#include "engines/hooks/hooks.h"

namespace lifeboat::hooks {

StatusOr<HookResult> RunExec(const HookSpec& spec, const ExecAction& exec,
                             const std::map<std::string, std::string>& extra_env);
StatusOr<HookResult> RunHttp(const HookSpec& spec, const HttpAction& http);

}  // namespace lifeboat::hooks
