#include "api/codec.h"

#include <algorithm>
#include <limits>

namespace lifeboat::api {

std::string JsonTypeName(const Json& value) {
  switch (value.type()) {
    case Json::value_t::null:
      return "null";
    case Json::value_t::boolean:
      return "boolean";
    case Json::value_t::number_integer:
    case Json::value_t::number_unsigned:
      return "integer";
    case Json::value_t::number_float:
      return "number";
    case Json::value_t::string:
      return "string";
    case Json::value_t::array:
      return "list";
    case Json::value_t::object:
      return "object";
    default:
      return "unsupported value";
  }
}

std::string Quote(std::string_view text) {
  return Json(std::string(text)).dump(-1, ' ', false, Json::error_handler_t::replace);
}

namespace {

constexpr int kMinYear = 1678;  // the range of nanosecond time points (±292 years of 1970)
constexpr int kMaxYear = 2261;

bool Digits(std::string_view s, size_t pos, size_t n, int* value) {
  if (pos + n > s.size()) {
    return false;
  }
  int v = 0;
  for (size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      return false;
    }
    v = v * 10 + (s[i] - '0');
  }
  *value = v;
  return true;
}

}  // namespace

bool ParseTime(std::string_view text, Time* out) {
  // YYYY-MM-DDTHH:MM:SS[.fraction](Z|±HH:MM)
  int year, month, day, hour, minute, second;
  if (!Digits(text, 0, 4, &year) || text.size() < 20 || text[4] != '-' ||
      !Digits(text, 5, 2, &month) || text[7] != '-' || !Digits(text, 8, 2, &day) ||
      text[10] != 'T' || !Digits(text, 11, 2, &hour) || text[13] != ':' ||
      !Digits(text, 14, 2, &minute) || text[16] != ':' || !Digits(text, 17, 2, &second)) {
    return false;
  }
  static constexpr int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (year < kMinYear || year > kMaxYear || month < 1 || month > 12 || day < 1 ||
      day > kDays[month - 1] || (month == 2 && day == 29 && !leap) || hour > 23 || minute > 59 ||
      second > 59) {
    return false;
  }
  size_t pos = 19;
  if (text[pos] == '.') {
    size_t digits = 0;
    while (pos + 1 < text.size() && text[pos + 1] >= '0' && text[pos + 1] <= '9') {
      ++pos;
      ++digits;
    }
    if (digits == 0 || digits > 9) {
      return false;
    }
    ++pos;
  }
  std::string_view zone = text.substr(pos);
  int oh, om;
  bool zone_ok = zone == "Z" || zone == "z" ||
                 (zone.size() == 6 && (zone[0] == '+' || zone[0] == '-') &&
                  Digits(zone, 1, 2, &oh) && zone[3] == ':' && Digits(zone, 4, 2, &om) &&
                  oh <= 23 && om <= 59);
  if (!zone_ok || !ParseRfc3339(std::string(text), out)) {
    return false;
  }
  // Kubernetes times have second precision.
  *out = std::chrono::floor<std::chrono::seconds>(*out);
  return true;
}

namespace codec {

void AddError(FieldErrors* errors, const std::string& path, std::string message) {
  errors->push_back(FieldError{path, std::move(message)});
}

std::string EnumMismatch(std::string_view got, const std::string_view* names, size_t count) {
  std::string message = "must be one of ";
  for (size_t i = 0; i < count; ++i) {
    if (i > 0) {
      message += i + 1 == count ? " or " : ", ";
    }
    message += names[i];
  }
  return message + ", got " + Quote(got);
}

void DecodeString(const Json& j, const std::string& path, std::string* out, FieldErrors* errors) {
  if (!j.is_string()) {
    AddError(errors, path, "must be a string, got " + JsonTypeName(j));
    return;
  }
  *out = j.get_ref<const std::string&>();
}

void DecodeBool(const Json& j, const std::string& path, bool* out, FieldErrors* errors) {
  if (!j.is_boolean()) {
    AddError(errors, path, "must be a boolean (true or false), got " + JsonTypeName(j));
    return;
  }
  *out = j.get<bool>();
}

void DecodeInt(const Json& j, const std::string& path, int64_t* out, FieldErrors* errors) {
  if (j.is_number_unsigned()) {
    uint64_t value = j.get<uint64_t>();
    if (value > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) {
      AddError(errors, path, "integer " + std::to_string(value) + " is too large");
      return;
    }
    *out = static_cast<int64_t>(value);
    return;
  }
  if (j.is_number_integer()) {
    *out = j.get<int64_t>();
    return;
  }
  AddError(errors, path, "must be an integer, got " + JsonTypeName(j));
}

void DecodeNumber(const Json& j, const std::string& path, double* out, FieldErrors* errors) {
  if (!j.is_number()) {
    AddError(errors, path, "must be a number, got " + JsonTypeName(j));
    return;
  }
  *out = j.get<double>();
}

void DecodeTime(const Json& j, const std::string& path, Time* out, FieldErrors* errors) {
  if (!j.is_string()) {
    AddError(errors, path, "must be an RFC 3339 time string, got " + JsonTypeName(j));
    return;
  }
  if (!ParseTime(j.get_ref<const std::string&>(), out)) {
    AddError(errors, path,
             "must be an RFC 3339 time like 2026-01-02T15:04:05Z, got " +
                 Quote(j.get_ref<const std::string&>()));
  }
}

Json EncodeTime(Time t) { return Json(FormatRfc3339(t)); }

bool IsEmptyJson(const Json& j) {
  if (j.is_null()) {
    return true;
  }
  if (j.is_string()) {
    return j.get_ref<const std::string&>().empty();
  }
  if (j.is_array() || j.is_object()) {
    return j.empty();
  }
  return false;
}

ObjectDecoder::ObjectDecoder(const Json& json, const std::string& path, FieldErrors* errors)
    : json_(json), path_(path), errors_(errors) {
  ok_ = json.is_object();
  if (!ok_) {
    AddError(errors, path, "must be an object, got " + JsonTypeName(json));
  }
}

const Json* ObjectDecoder::Lookup(std::string_view name) {
  known_.push_back(name);
  auto it = json_.find(name);
  return it == json_.end() ? nullptr : &*it;
}

void ObjectDecoder::Finish() {
  for (const auto& [key, value] : json_.items()) {
    if (std::find(known_.begin(), known_.end(), std::string_view(key)) == known_.end()) {
      AddError(errors_, Child(path_, key), "unknown field " + Quote(key));
    }
  }
}

}  // namespace codec
}  // namespace lifeboat::api
