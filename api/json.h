#pragma once

// The in-memory JSON document model of the project: nlohmann::json.
// Chosen by measurement (bench/json_bench.cc, parse + serialise of a 2 KB BackupPolicy):
// RapidJSON 3.9 us, cpprestsdk web::json 10.3 us, nlohmann 18.4 us. nlohmann costs < 4 % of the
// 500 us budget of a create at 2,000 creates/s and is the only one with value semantics and
// lossless round trips, so the API types, the API server and the client all use it.
#include <nlohmann/json.hpp>

namespace lifeboat {
using Json = nlohmann::json;
}  // namespace lifeboat
