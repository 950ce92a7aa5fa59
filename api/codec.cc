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
  if (!ParseRfc3339(j.get_ref<const std::string&>(), out)) {
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
