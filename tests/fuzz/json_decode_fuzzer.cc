// Fuzzes JSON parsing and the strict typed decoders of every kind: FromJson, Validate, ToJson,
// and checks that an object that decodes cleanly decodes to the same value after ToJson.
#include <cstddef>
#include <cstdint>

#include "api/kinds.h"
#include "api/manifest.h"

namespace {

template <typename T>
void Check(const lifeboat::Json& json) {
  T typed;
  lifeboat::api::FieldErrors errors = lifeboat::api::FromJson(json, &typed);
  (void)lifeboat::api::Validate(typed);
  lifeboat::Json encoded = lifeboat::api::ToJson(typed);
  if (errors.empty()) {
    T again;
    if (!lifeboat::api::FromJson(encoded, &again).empty() || !(again == typed)) {
      __builtin_trap();  // a clean decode must survive ToJson
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  lifeboat::Json json = lifeboat::Json::parse(data, data + size, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded()) {
    return 0;
  }
  (void)lifeboat::api::ValidateObject(json);
  using namespace lifeboat::api;
  Check<Vault>(json);
  Check<BackupPolicy>(json);
  Check<RecoveryPoint>(json);
  Check<Restore>(json);
  Check<Snapshot>(json);
  Check<Site>(json);
  Check<ReplicationPolicy>(json);
  Check<RecoveryPlan>(json);
  Check<Failover>(json);
  return 0;
}
