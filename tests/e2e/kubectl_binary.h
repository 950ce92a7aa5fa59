#pragma once

// Which kubectl the e2e suites drive: $LIFEBOAT_KUBECTL (a path, e.g. Debian's kubectl 1.20
// unpacked by `make test-deps` into build/kubectl-1.20/) or else `kubectl` on PATH.
#include <cstdlib>
#include <filesystem>
#include <string>

#include "api/json.h"
#include "tests/support/process.h"

namespace lifeboat::testing {

struct KubectlBinary {
  std::string command;  // what to run: a path or "kubectl"
  int minor = 0;        // client minor version (20 for 1.20); 0 when unknown
  std::string missing;  // why there is none; empty when `command` runs
};

inline KubectlBinary FindKubectl() {
  KubectlBinary k;
  const char* env = std::getenv("LIFEBOAT_KUBECTL");
  if (env && *env) {
    if (!std::filesystem::exists(env)) {
      k.missing = std::string("LIFEBOAT_KUBECTL=") + env +
                  " does not exist (`make test-deps` unpacks Debian's kubectl 1.20 there when "
                  "apt-get and dpkg-deb are available)";
      return k;
    }
    k.command = env;
  } else if (RunCommand("command -v kubectl").exit_code == 0) {
    k.command = "kubectl";
  } else {
    k.missing = "kubectl is not installed";
    return k;
  }
  // The JSON form exists in every kubectl the suites support (1.20+); "minor" may read "20+".
  CommandResult version = RunCommand(k.command + " version --client -o json 2>/dev/null");
  Json v = Json::parse(version.output, nullptr, false);
  if (v.is_object()) {
    k.minor = std::atoi(v.value("/clientVersion/minor"_json_pointer, "0").c_str());
  }
  if (k.minor == 0) {
    k.missing = k.command + " version --client gave no version: " + version.output;
    k.command.clear();
  }
  return k;
}

}  // namespace lifeboat::testing
