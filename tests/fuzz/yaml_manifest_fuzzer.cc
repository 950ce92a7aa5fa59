// Fuzzes the path of `lifeboat validate`: multi-document YAML → JSON with lines → ValidateObject,
// and checks that every decoded document survives ToYaml → ParseManifests unchanged.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/manifest.h"
#include "api/yaml.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  auto docs = lifeboat::api::ParseManifests(text, "fuzz.yaml");
  if (!docs.ok()) {
    return 0;
  }
  for (const lifeboat::api::Document& doc : *docs) {
    for (const auto& error : lifeboat::api::ValidateObject(doc.object)) {
      (void)doc.LineOf(error.path);
    }
    std::string yaml = lifeboat::api::ToYaml(doc.object);
    auto again = lifeboat::api::ParseManifests(yaml, "again.yaml");
    if (!again.ok() || again->size() != 1 || (*again)[0].object != doc.object) {
      __builtin_trap();  // ToYaml must read back as the same JSON
    }
  }
  return 0;
}
