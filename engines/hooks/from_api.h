#pragma once

// The hooks of the API (api::Hook: a policy's preHook/postHook, a plan's exec/http actions) as
// HookSpecs the runner executes.
#include <string>

#include "api/common_types.h"
#include "engines/hooks/hooks.h"

namespace lifeboat::hooks {

// `name` names the hook in messages ("preHook"). kInvalidArgument for an unusable timeout.
StatusOr<HookSpec> HookSpecFromApi(const api::Hook& hook, std::string name);

}  // namespace lifeboat::hooks
