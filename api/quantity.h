#pragma once

// Kubernetes quantities for byte sizes: "10Gi", "500M", "1.5Ki", "1e6", "1048576".
// Binary suffixes Ki Mi Gi Ti Pi Ei, decimal k M G T P E, milli/micro/nano m u n, exponents e/E.
// A byte count must be a whole, non-negative number: "0.5", "100m" are rejected.
#include <cstdint>
#include <string>
#include <string_view>

#include "api/codec.h"
#include "common/status.h"

namespace lifeboat::api {

// kInvalidArgument naming the problem, e.g.
//   invalid quantity "10GB": unknown suffix "GB" (use Ki, Mi, Gi, Ti, Pi, Ei, k, M, G, T, P or E)
StatusOr<int64_t> ParseQuantity(std::string_view text);

// A quantity field as written: a string ("10Gi") or a plain JSON integer (1048576). The CRDs
// declare these `x-kubernetes-int-or-string`; `is_number` keeps the spelling for round trips.
struct Quantity {
  std::string text;
  bool is_number = false;

  Quantity() = default;
  Quantity(std::string t) : text(std::move(t)) {}  // NOLINT(google-explicit-constructor)
  Quantity(const char* t) : text(t) {}             // NOLINT(google-explicit-constructor)
  StatusOr<int64_t> Bytes() const { return ParseQuantity(text); }
  friend bool operator==(const Quantity&, const Quantity&) = default;
};
Json ToJson(const Quantity& value);
void Decode(const Json& json, const std::string& path, Quantity* out, FieldErrors* errors);

}  // namespace lifeboat::api
