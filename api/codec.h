#pragma once

// The JSON codec machinery behind every API type: strict decoding with field paths (unknown
// fields, wrong types, missing required fields) and lossless encoding (absent optional fields stay
// absent). Each type lists its fields once in a `Fields(codec, value)` template used by both
// directions; LIFEBOAT_API_DEFINE_CODEC(Type) then defines `ToJson(const Type&)` and
// `Decode(const Json&, path, Type*, FieldErrors*)`.
//
// Conventions of the types:
//   - `Required`  : plain member; absent or null → "<path>: required".
//   - `Optional`  : std::optional member; absent or null → std::nullopt; encoded only when set.
//   - `OmitEmpty` : plain string / vector / map / struct; absent → empty; encoded only when not
//                   empty (Kubernetes' `omitempty`).
#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "api/field_error.h"
#include "api/json.h"
#include "common/clock.h"

namespace lifeboat::api {

// RFC 3339 times (second precision, UTC) as Kubernetes writes them.
using Time = Clock::TimePoint;

// Enum <-> string tables. Specialise with `static constexpr std::array<std::string_view, N>
// kNames` listing the names in the order of the enumerators (which must be 0..N-1).
template <typename E>
struct EnumNames;

template <typename E>
std::string_view EnumName(E value) {
  return EnumNames<E>::kNames[static_cast<size_t>(value)];
}

template <typename E>
std::optional<E> ParseEnum(std::string_view text) {
  const auto& names = EnumNames<E>::kNames;
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == text) {
      return static_cast<E>(i);
    }
  }
  return std::nullopt;
}

// Strict RFC 3339 ("2026-01-02T15:04:05Z", optional fraction, "Z" or "±HH:MM"), a real calendar
// date, years 1678-2261; the result is truncated to whole seconds, as Kubernetes keeps times.
bool ParseTime(std::string_view text, Time* out);

// "integer", "string", "object"... as used in error messages.
std::string JsonTypeName(const Json& value);
// A string quoted for error messages ("\"abc\""), invalid UTF-8 replaced.
std::string Quote(std::string_view text);

// Decodes a whole object; `*out` is reset first. Empty result = decoded without errors.
template <typename T>
FieldErrors FromJson(const Json& json, T* out) {
  FieldErrors errors;
  *out = T{};
  Decode(json, std::string(), out, &errors);
  return errors;
}

namespace codec {

void DecodeString(const Json& j, const std::string& path, std::string* out, FieldErrors* errors);
void DecodeBool(const Json& j, const std::string& path, bool* out, FieldErrors* errors);
void DecodeInt(const Json& j, const std::string& path, int64_t* out, FieldErrors* errors);
void DecodeNumber(const Json& j, const std::string& path, double* out, FieldErrors* errors);
void DecodeTime(const Json& j, const std::string& path, Time* out, FieldErrors* errors);
Json EncodeTime(Time t);
void AddError(FieldErrors* errors, const std::string& path, std::string message);
std::string EnumMismatch(std::string_view got, const std::string_view* names, size_t count);

template <typename T>
struct IsVector : std::false_type {};
template <typename T>
struct IsVector<std::vector<T>> : std::true_type {};
template <typename T>
struct IsStringMap : std::false_type {};
template <typename T>
struct IsStringMap<std::map<std::string, T>> : std::true_type {};

template <typename T>
void DecodeValue(const Json& j, const std::string& path, T* out, FieldErrors* errors) {
  if constexpr (std::is_same_v<T, std::string>) {
    DecodeString(j, path, out, errors);
  } else if constexpr (std::is_same_v<T, bool>) {
    DecodeBool(j, path, out, errors);
  } else if constexpr (std::is_same_v<T, int64_t>) {
    DecodeInt(j, path, out, errors);
  } else if constexpr (std::is_same_v<T, double>) {
    DecodeNumber(j, path, out, errors);
  } else if constexpr (std::is_same_v<T, Time>) {
    DecodeTime(j, path, out, errors);
  } else if constexpr (std::is_same_v<T, Json>) {
    *out = j;
  } else if constexpr (std::is_enum_v<T>) {
    if (!j.is_string()) {
      AddError(errors, path, "must be a string, got " + JsonTypeName(j));
      return;
    }
    const auto& text = j.get_ref<const std::string&>();
    std::optional<T> value = ParseEnum<T>(text);
    if (!value) {
      AddError(errors, path,
               EnumMismatch(text, EnumNames<T>::kNames.data(), EnumNames<T>::kNames.size()));
      return;
    }
    *out = *value;
  } else if constexpr (IsVector<T>::value) {
    if (!j.is_array()) {
      AddError(errors, path, "must be a list, got " + JsonTypeName(j));
      return;
    }
    out->clear();
    out->resize(j.size());
    for (size_t i = 0; i < j.size(); ++i) {
      DecodeValue(j[i], Index(path, i), &(*out)[i], errors);
    }
  } else if constexpr (IsStringMap<T>::value) {
    if (!j.is_object()) {
      AddError(errors, path, "must be an object (a map), got " + JsonTypeName(j));
      return;
    }
    out->clear();
    for (const auto& [key, value] : j.items()) {
      DecodeValue(value, path + "[" + key + "]", &(*out)[key], errors);
    }
  } else {
    Decode(j, path, out, errors);  // a struct: found by argument-dependent lookup
  }
}

template <typename T>
Json EncodeValue(const T& value) {
  if constexpr (std::is_same_v<T, std::string> || std::is_same_v<T, bool> ||
                std::is_same_v<T, int64_t> || std::is_same_v<T, double> ||
                std::is_same_v<T, Json>) {
    return Json(value);
  } else if constexpr (std::is_same_v<T, Time>) {
    return EncodeTime(value);
  } else if constexpr (std::is_enum_v<T>) {
    return Json(std::string(EnumName(value)));
  } else if constexpr (IsVector<T>::value) {
    Json out = Json::array();
    for (const auto& item : value) {
      out.push_back(EncodeValue(item));
    }
    return out;
  } else if constexpr (IsStringMap<T>::value) {
    Json out = Json::object();
    for (const auto& [key, item] : value) {
      out[key] = EncodeValue(item);
    }
    return out;
  } else {
    return ToJson(value);  // a struct: found by argument-dependent lookup
  }
}

bool IsEmptyJson(const Json& j);

class ObjectDecoder {
 public:
  ObjectDecoder(const Json& json, const std::string& path, FieldErrors* errors);
  // False when the value is not an object (the error is already recorded).
  bool ok() const { return ok_; }

  template <typename T>
  void Required(std::string_view name, T& out) {
    const Json* value = Lookup(name);
    if (value == nullptr || value->is_null()) {
      AddError(errors_, Child(path_, std::string(name)), "required");
      return;
    }
    DecodeValue(*value, Child(path_, std::string(name)), &out, errors_);
  }

  template <typename T>
  void Optional(std::string_view name, std::optional<T>& out) {
    const Json* value = Lookup(name);
    if (value == nullptr || value->is_null()) {
      out.reset();
      return;
    }
    out.emplace();
    DecodeValue(*value, Child(path_, std::string(name)), &*out, errors_);
  }

  template <typename T>
  void OmitEmpty(std::string_view name, T& out) {
    const Json* value = Lookup(name);
    if (value == nullptr || value->is_null()) {
      return;
    }
    DecodeValue(*value, Child(path_, std::string(name)), &out, errors_);
  }

  // Reports every field that no Required/Optional/OmitEmpty call asked for.
  void Finish();

 private:
  const Json* Lookup(std::string_view name);

  const Json& json_;
  std::string path_;
  FieldErrors* errors_;
  bool ok_ = false;
  std::vector<std::string_view> known_;
};

class ObjectEncoder {
 public:
  template <typename T>
  void Required(std::string_view name, const T& value) {
    json_[std::string(name)] = EncodeValue(value);
  }
  template <typename T>
  void Optional(std::string_view name, const std::optional<T>& value) {
    if (value.has_value()) {
      json_[std::string(name)] = EncodeValue(*value);
    }
  }
  template <typename T>
  void OmitEmpty(std::string_view name, const T& value) {
    Json encoded = EncodeValue(value);
    if (!IsEmptyJson(encoded)) {
      json_[std::string(name)] = std::move(encoded);
    }
  }
  Json Take() { return std::move(json_); }

 private:
  Json json_ = Json::object();
};

}  // namespace codec
}  // namespace lifeboat::api

// Declares the codec of `Type` (in the namespace of Type).
#define LIFEBOAT_API_DECLARE_CODEC(Type)                                                   \
  ::lifeboat::Json ToJson(const Type& value);                                              \
  void Decode(const ::lifeboat::Json& json, const std::string& path, Type* out,            \
              ::lifeboat::api::FieldErrors* errors)

// Defines the codec of `Type` from a `Fields(codec, value)` template visible at this point.
#define LIFEBOAT_API_DEFINE_CODEC(Type)                                                    \
  ::lifeboat::Json ToJson(const Type& value) {                                             \
    ::lifeboat::api::codec::ObjectEncoder encoder;                                         \
    Fields(encoder, value);                                                                \
    return encoder.Take();                                                                 \
  }                                                                                        \
  void Decode(const ::lifeboat::Json& json, const std::string& path, Type* out,            \
              ::lifeboat::api::FieldErrors* errors) {                                      \
    ::lifeboat::api::codec::ObjectDecoder decoder(json, path, errors);                     \
    if (!decoder.ok()) {                                                                   \
      return;                                                                              \
    }                                                                                      \
    Fields(decoder, *out);                                                                 \
    decoder.Finish();                                                                      \
  }
