#include <iostream>

#include "cli/commands.h"
#include "cli/flags.h"

namespace lifeboat::cli {

int RunValidate(const Args& args) {
  FlagSet flags("lifeboat validate", "lifeboat validate -f FILE|DIR [-f ...]",
                "Validates Lifeboat manifests offline (multi-document YAML).");
  flags.Repeated("filename", "f", "a manifest file or a directory of .yaml/.yml/.json files");
  if (Status s = flags.Parse(args); !s.ok()) {
    std::cerr << s.message() << "\n";
    return 2;
  }
  if (flags.help_requested()) {
    std::cout << flags.Help();
    return 0;
  }
  std::cerr << "lifeboat validate: not built yet\n";
  return 1;
}

}  // namespace lifeboat::cli
