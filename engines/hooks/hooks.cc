#include "engines/hooks/hooks.h"

#include "engines/hooks/hooks_internal.h"

namespace lifeboat::hooks {
namespace {

class ProcessHookRunner final : public HookRunner {
 public:
  StatusOr<HookResult> Run(const HookSpec& spec,
                           const std::map<std::string, std::string>& extra_env) override {
    if (spec.exec.has_value() == spec.http.has_value()) {
      return InvalidArgumentError(spec.name + ": exactly one of exec or http must be set");
    }
    if (spec.timeout.count() <= 0) {
      return InvalidArgumentError(spec.name + ": timeout must be positive");
    }
    if (spec.exec) {
      return RunExec(spec, *spec.exec, extra_env);
    }
    return RunHttp(spec, *spec.http);
  }
};

}  // namespace

std::unique_ptr<HookRunner> NewHookRunner() { return std::make_unique<ProcessHookRunner>(); }

}  // namespace lifeboat::hooks
