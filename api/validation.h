#pragma once

// Field validators shared by the kinds; each appends errors with the field path.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "api/field_error.h"
#include "api/quantity.h"

namespace lifeboat::api {

bool IsDns1123Label(std::string_view s);      // [a-z0-9]([-a-z0-9]*[a-z0-9])?, <= 63
bool IsDns1123Subdomain(std::string_view s);  // labels joined by '.', <= 253

void ValidateDns1123Label(const std::string& value, const std::string& path, FieldErrors* errors);
void ValidateDns1123Subdomain(const std::string& value, const std::string& path,
                              FieldErrors* errors);
// Label/annotation keys: [prefix/]name, prefix a DNS-1123 subdomain, name <= 63 of
// [A-Za-z0-9_.-] starting and ending alphanumeric.
void ValidateQualifiedName(const std::string& value, const std::string& path, FieldErrors* errors);
void ValidateLabelValue(const std::string& value, const std::string& path, FieldErrors* errors);

void ValidateRequiredString(const std::string& value, const std::string& path,
                            FieldErrors* errors);
void ValidateAbsolutePath(const std::string& value, const std::string& path, FieldErrors* errors);
// An absolute URL with one of the given schemes ("http", "https") and a host.
void ValidateUrl(const std::string& value, std::initializer_list<std::string_view> schemes,
                 const std::string& path, FieldErrors* errors);

void ValidateMin(std::optional<int64_t> value, int64_t min, const std::string& path,
                 FieldErrors* errors);
void ValidateRange(std::optional<int64_t> value, int64_t min, int64_t max,
                   const std::string& path, FieldErrors* errors);
void ValidateNumberRange(std::optional<double> value, double min, double max,
                         const std::string& path, FieldErrors* errors);

enum class DurationRule { kAnyLength, kPositive };
void ValidateDuration(const std::optional<std::string>& value, DurationRule rule,
                      const std::string& path, FieldErrors* errors);
// Parses a quantity of bytes; returns it when valid. `positive` rejects 0.
std::optional<int64_t> ValidateQuantity(const std::optional<Quantity>& value, bool positive,
                                        const std::string& path, FieldErrors* errors);
void ValidateCron(const std::string& value, const std::string& path, FieldErrors* errors);
void ValidateTimeZone(const std::string& value, const std::string& path, FieldErrors* errors);

}  // namespace lifeboat::api
