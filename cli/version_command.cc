#include <iostream>
#include <optional>

#include "cli/commands.h"
#include "cli/flags.h"
#include "cli/version.h"

namespace lifeboat::cli {

int RunVersion(const Args& args) {
  FlagSet flags("lifeboat version", "lifeboat version [--short]",
                "Prints the version of this lifeboat binary.");
  flags.Bool("short", "", "print only the version number");
  if (std::optional<int> exit_code = flags.ParseCommandLine(args)) {
    return *exit_code;
  }
  if (flags.GetBool("short")) {
    std::cout << LIFEBOAT_VERSION << "\n";
  } else {
    std::cout << "lifeboat " << LIFEBOAT_VERSION << " (commit " << LIFEBOAT_GIT_COMMIT
              << ", API lifeboat.dev/v1alpha1)\n";
  }
  return 0;
}

}  // namespace lifeboat::cli
