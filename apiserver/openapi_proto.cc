#include "apiserver/openapi_proto.h"

#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

namespace lifeboat::apiserver {
namespace {

// Protobuf wire types.
constexpr uint32_t kVarint = 0;
constexpr uint32_t kFixed64 = 1;
constexpr uint32_t kBytes = 2;

void PutVarint(std::string& out, uint64_t v) {
  while (v >= 0x80) {
    out.push_back(static_cast<char>((v & 0x7f) | 0x80));
    v >>= 7;
  }
  out.push_back(static_cast<char>(v));
}

void PutKey(std::string& out, uint32_t number, uint32_t wire_type) {
  PutVarint(out, (static_cast<uint64_t>(number) << 3) | wire_type);
}

void PutBytes(std::string& out, uint32_t number, const std::string& bytes) {
  PutKey(out, number, kBytes);
  PutVarint(out, bytes.size());
  out += bytes;
}

void PutDouble(std::string& out, uint32_t number, double d) {
  PutKey(out, number, kFixed64);
  uint64_t bits;
  std::memcpy(&bits, &d, sizeof bits);
  for (int i = 0; i < 8; ++i) {
    out.push_back(static_cast<char>((bits >> (8 * i)) & 0xff));
  }
}

bool IsExtension(const std::string& key) { return key.rfind("x-", 0) == 0; }

std::string Join(const std::string& at, const std::string& key) {
  return at.empty() ? key : at + "." + key;
}

class Encoder;
// Encodes one JSON value as the bytes of a message.
using EncodeFn = std::string (*)(Encoder&, const Json&, const std::string& at);

enum class Kind {
  kString,
  kBool,
  kDouble,
  kInt64,
  kStrings,   // repeated string
  kAny,       // Any {yaml}
  kAnys,      // repeated Any
  kMessage,   // fn(value)
  kMessages,  // repeated: fn(element) per array element
  kMap,       // a message whose field 1 repeats Named{name = 1, value = 2: fn(value)}
};

struct FieldSpec {
  const char* key;
  uint32_t number;
  Kind kind;
  EncodeFn fn = nullptr;
};

struct MessageSpec {
  std::vector<FieldSpec> fields;
  uint32_t vendor_extension = 0;  // the field of `repeated NamedAny vendor_extension`; 0 = none
};

class Encoder {
 public:
  const Status& status() const { return status_; }

  void Fail(const std::string& at, const std::string& what) {
    if (status_.ok()) {
      status_ = InvalidArgumentError((at.empty() ? "document" : at) + ": " + what);
    }
  }

  bool RequireObject(const Json& j, const std::string& at) {
    if (!j.is_object()) {
      Fail(at, "must be an object");
      return false;
    }
    return true;
  }

  // Any {yaml = 2}: the value written as JSON, which YAML parsers read.
  std::string Any(const Json& value) {
    std::string out;
    PutBytes(out, 2, value.dump());
    return out;
  }

  // NamedAny {name = 1, value = 2}.
  std::string NamedAny(const std::string& name, const Json& value) {
    std::string out;
    PutBytes(out, 1, name);
    PutBytes(out, 2, Any(value));
    return out;
  }

  std::string Named(const std::string& name, const std::string& value_bytes) {
    std::string out;
    PutBytes(out, 1, name);
    PutBytes(out, 2, value_bytes);
    return out;
  }

  void Field(std::string& out, const FieldSpec& f, const Json& v, const std::string& at) {
    switch (f.kind) {
      case Kind::kString:
        if (!v.is_string()) {
          return Fail(at, "must be a string");
        }
        PutBytes(out, f.number, v.get<std::string>());
        return;
      case Kind::kBool:
        if (!v.is_boolean()) {
          return Fail(at, "must be a boolean");
        }
        PutKey(out, f.number, kVarint);
        PutVarint(out, v.get<bool>() ? 1 : 0);
        return;
      case Kind::kDouble:
        if (!v.is_number()) {
          return Fail(at, "must be a number");
        }
        PutDouble(out, f.number, v.get<double>());
        return;
      case Kind::kInt64: {
        if (!v.is_number()) {
          return Fail(at, "must be an integer");
        }
        int64_t i;
        if (v.is_number_float()) {
          double d = v.get<double>();
          if (d != std::floor(d) || std::fabs(d) > 9.2e18) {
            return Fail(at, "must be an integer");
          }
          i = static_cast<int64_t>(d);
        } else {
          i = v.get<int64_t>();
        }
        PutKey(out, f.number, kVarint);
        PutVarint(out, static_cast<uint64_t>(i));
        return;
      }
      case Kind::kStrings:
        if (!v.is_array()) {
          return Fail(at, "must be an array of strings");
        }
        for (const Json& s : v) {
          if (!s.is_string()) {
            return Fail(at, "must be an array of strings");
          }
          PutBytes(out, f.number, s.get<std::string>());
        }
        return;
      case Kind::kAny:
        PutBytes(out, f.number, Any(v));
        return;
      case Kind::kAnys:
        if (!v.is_array()) {
          return Fail(at, "must be an array");
        }
        for (const Json& e : v) {
          PutBytes(out, f.number, Any(e));
        }
        return;
      case Kind::kMessage:
        PutBytes(out, f.number, f.fn(*this, v, at));
        return;
      case Kind::kMessages:
        if (!v.is_array()) {
          return Fail(at, "must be an array");
        }
        for (size_t i = 0; i < v.size(); ++i) {
          PutBytes(out, f.number, f.fn(*this, v[i], at + "[" + std::to_string(i) + "]"));
        }
        return;
      case Kind::kMap: {
        if (!RequireObject(v, at)) {
          return;
        }
        std::string map;
        for (const auto& [name, value] : v.items()) {
          PutBytes(map, 1, Named(name, f.fn(*this, value, Join(at, name))));
        }
        PutBytes(out, f.number, map);
        return;
      }
    }
  }

  std::string Message(const MessageSpec& spec, const Json& j, const std::string& at) {
    std::string out;
    if (!RequireObject(j, at)) {
      return out;
    }
    for (const FieldSpec& f : spec.fields) {
      auto it = j.find(f.key);
      if (it != j.end()) {
        Field(out, f, *it, Join(at, f.key));
      }
    }
    if (spec.vendor_extension != 0) {
      for (const auto& [key, value] : j.items()) {
        if (IsExtension(key)) {
          PutBytes(out, spec.vendor_extension, NamedAny(key, value));
        }
      }
    }
    return out;
  }

 private:
  Status status_ = OkStatus();
};

// ---- Message specifications (field numbers from OpenAPIv2.proto) ----

std::string EncodeSchema(Encoder& e, const Json& j, const std::string& at);
std::string EncodePrimitivesItems(Encoder& e, const Json& j, const std::string& at);

// The fields PrimitivesItems, Header and the non-body parameters share, `offset` after their
// numbers in PrimitivesItems (type = 1 ... multipleOf = 17).
std::vector<FieldSpec> PrimitiveFields(uint32_t offset) {
  return {{"type", 1 + offset, Kind::kString},
          {"format", 2 + offset, Kind::kString},
          {"items", 3 + offset, Kind::kMessage, EncodePrimitivesItems},
          {"collectionFormat", 4 + offset, Kind::kString},
          {"default", 5 + offset, Kind::kAny},
          {"maximum", 6 + offset, Kind::kDouble},
          {"exclusiveMaximum", 7 + offset, Kind::kBool},
          {"minimum", 8 + offset, Kind::kDouble},
          {"exclusiveMinimum", 9 + offset, Kind::kBool},
          {"maxLength", 10 + offset, Kind::kInt64},
          {"minLength", 11 + offset, Kind::kInt64},
          {"pattern", 12 + offset, Kind::kString},
          {"maxItems", 13 + offset, Kind::kInt64},
          {"minItems", 14 + offset, Kind::kInt64},
          {"uniqueItems", 15 + offset, Kind::kBool},
          {"enum", 16 + offset, Kind::kAnys},
          {"multipleOf", 17 + offset, Kind::kDouble}};
}

MessageSpec With(std::vector<FieldSpec> head, std::vector<FieldSpec> tail, uint32_t ext) {
  head.insert(head.end(), tail.begin(), tail.end());
  return {std::move(head), ext};
}

std::string EncodePrimitivesItems(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kSpec = With({}, PrimitiveFields(0), 18);
  return e.Message(kSpec, j, at);
}

std::string EncodeHeader(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kSpec =
      With(PrimitiveFields(0), {{"description", 18, Kind::kString}}, 19);
  return e.Message(kSpec, j, at);
}

std::string EncodeExternalDocs(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kSpec = {{{"description", 1, Kind::kString}, {"url", 2, Kind::kString}},
                                    3};
  return e.Message(kSpec, j, at);
}

std::string EncodeXml(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kSpec = {{{"name", 1, Kind::kString},
                                     {"namespace", 2, Kind::kString},
                                     {"prefix", 3, Kind::kString},
                                     {"attribute", 4, Kind::kBool},
                                     {"wrapped", 5, Kind::kBool}},
                                    6};
  return e.Message(kSpec, j, at);
}

// TypeItem {repeated string value = 1}: "type" is a string or (JSON Schema) an array of them.
std::string EncodeTypeItem(Encoder& e, const Json& j, const std::string& at) {
  std::string out;
  Json list = j.is_string() ? Json::array({j}) : j;
  if (!list.is_array()) {
    e.Fail(at, "must be a string or an array of strings");
    return out;
  }
  for (const Json& t : list) {
    if (!t.is_string()) {
      e.Fail(at, "must be a string or an array of strings");
      return out;
    }
    PutBytes(out, 1, t.get<std::string>());
  }
  return out;
}

// ItemsItem {repeated Schema schema = 1}: one schema, or a tuple of them.
std::string EncodeItemsItem(Encoder& e, const Json& j, const std::string& at) {
  std::string out;
  if (j.is_array()) {
    for (size_t i = 0; i < j.size(); ++i) {
      PutBytes(out, 1, EncodeSchema(e, j[i], at + "[" + std::to_string(i) + "]"));
    }
  } else {
    PutBytes(out, 1, EncodeSchema(e, j, at));
  }
  return out;
}

// AdditionalPropertiesItem {oneof: Schema schema = 1; bool boolean = 2}.
std::string EncodeAdditionalProperties(Encoder& e, const Json& j, const std::string& at) {
  std::string out;
  if (j.is_boolean()) {
    PutKey(out, 2, kVarint);
    PutVarint(out, j.get<bool>() ? 1 : 0);
  } else {
    PutBytes(out, 1, EncodeSchema(e, j, at));
  }
  return out;
}

std::string EncodeSchema(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kSpec = {
      {{"$ref", 1, Kind::kString},
       {"format", 2, Kind::kString},
       {"title", 3, Kind::kString},
       {"description", 4, Kind::kString},
       {"default", 5, Kind::kAny},
       {"multipleOf", 6, Kind::kDouble},
       {"maximum", 7, Kind::kDouble},
       {"exclusiveMaximum", 8, Kind::kBool},
       {"minimum", 9, Kind::kDouble},
       {"exclusiveMinimum", 10, Kind::kBool},
       {"maxLength", 11, Kind::kInt64},
       {"minLength", 12, Kind::kInt64},
       {"pattern", 13, Kind::kString},
       {"maxItems", 14, Kind::kInt64},
       {"minItems", 15, Kind::kInt64},
       {"uniqueItems", 16, Kind::kBool},
       {"maxProperties", 17, Kind::kInt64},
       {"minProperties", 18, Kind::kInt64},
       {"required", 19, Kind::kStrings},
       {"enum", 20, Kind::kAnys},
       {"additionalProperties", 21, Kind::kMessage, EncodeAdditionalProperties},
       {"type", 22, Kind::kMessage, EncodeTypeItem},
       {"items", 23, Kind::kMessage, EncodeItemsItem},
       {"allOf", 24, Kind::kMessages, EncodeSchema},
       {"properties", 25, Kind::kMap, EncodeSchema},  // Properties {repeated NamedSchema = 1}
       {"discriminator", 26, Kind::kString},
       {"readOnly", 27, Kind::kBool},
       {"xml", 28, Kind::kMessage, EncodeXml},
       {"externalDocs", 29, Kind::kMessage, EncodeExternalDocs},
       {"example", 30, Kind::kAny}},
      31};
  return e.Message(kSpec, j, at);
}

std::string EncodeFileSchema(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kSpec = {{{"format", 1, Kind::kString},
                                     {"title", 2, Kind::kString},
                                     {"description", 3, Kind::kString},
                                     {"default", 4, Kind::kAny},
                                     {"required", 5, Kind::kStrings},
                                     {"type", 6, Kind::kString},
                                     {"readOnly", 7, Kind::kBool},
                                     {"externalDocs", 8, Kind::kMessage, EncodeExternalDocs},
                                     {"example", 9, Kind::kAny}},
                                    10};
  return e.Message(kSpec, j, at);
}

// JsonReference {_ref = 1, description = 2}.
std::string EncodeJsonReference(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kSpec = {{{"$ref", 1, Kind::kString}, {"description", 2, Kind::kString}},
                                    0};
  return e.Message(kSpec, j, at);
}

// Parameter {oneof: BodyParameter body_parameter = 1; NonBodyParameter non_body_parameter = 2}.
std::string EncodeParameter(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kBody = {{{"description", 1, Kind::kString},
                                     {"name", 2, Kind::kString},
                                     {"in", 3, Kind::kString},
                                     {"required", 4, Kind::kBool},
                                     {"schema", 5, Kind::kMessage, EncodeSchema}},
                                    6};
  // Header and path parameters: required, in, description, name, then the primitive fields.
  static const MessageSpec kHeaderOrPath = With({{"required", 1, Kind::kBool},
                                                 {"in", 2, Kind::kString},
                                                 {"description", 3, Kind::kString},
                                                 {"name", 4, Kind::kString}},
                                                PrimitiveFields(4), 22);
  // Query and formData parameters have allowEmptyValue before them.
  static const MessageSpec kQueryOrForm = With({{"required", 1, Kind::kBool},
                                                {"in", 2, Kind::kString},
                                                {"description", 3, Kind::kString},
                                                {"name", 4, Kind::kString},
                                                {"allowEmptyValue", 5, Kind::kBool}},
                                               PrimitiveFields(5), 23);
  std::string out;
  if (!e.RequireObject(j, at)) {
    return out;
  }
  std::string in = j.value("in", "");
  if (in == "body") {
    PutBytes(out, 1, e.Message(kBody, j, at));
    return out;
  }
  // NonBodyParameter {header = 1, form_data = 2, query = 3, path = 4}.
  std::string non_body;
  if (in == "header") {
    PutBytes(non_body, 1, e.Message(kHeaderOrPath, j, at));
  } else if (in == "formData") {
    PutBytes(non_body, 2, e.Message(kQueryOrForm, j, at));
  } else if (in == "query") {
    PutBytes(non_body, 3, e.Message(kQueryOrForm, j, at));
  } else if (in == "path") {
    PutBytes(non_body, 4, e.Message(kHeaderOrPath, j, at));
  } else {
    e.Fail(Join(at, "in"), "must be body, query, path, header or formData");
    return out;
  }
  PutBytes(out, 2, non_body);
  return out;
}

// ParametersItem {oneof: Parameter parameter = 1; JsonReference json_reference = 2}.
std::string EncodeParametersItem(Encoder& e, const Json& j, const std::string& at) {
  std::string out;
  if (j.is_object() && j.contains("$ref")) {
    PutBytes(out, 2, EncodeJsonReference(e, j, at));
  } else {
    PutBytes(out, 1, EncodeParameter(e, j, at));
  }
  return out;
}

// SchemaItem {oneof: Schema schema = 1; FileSchema file_schema = 2}.
std::string EncodeSchemaItem(Encoder& e, const Json& j, const std::string& at) {
  std::string out;
  if (j.is_object() && j.value("type", Json()) == "file") {
    PutBytes(out, 2, EncodeFileSchema(e, j, at));
  } else {
    PutBytes(out, 1, EncodeSchema(e, j, at));
  }
  return out;
}

std::string EncodeAnyMessage(Encoder& e, const Json& j, const std::string&) { return e.Any(j); }

std::string EncodeResponse(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kSpec = {{{"description", 1, Kind::kString},
                                     {"schema", 2, Kind::kMessage, EncodeSchemaItem},
                                     {"headers", 3, Kind::kMap, EncodeHeader},
                                     {"examples", 4, Kind::kMap, EncodeAnyMessage}},
                                    5};
  return e.Message(kSpec, j, at);
}

// Responses {repeated NamedResponseValue response_code = 1; vendor_extension = 2}, where
// ResponseValue {oneof: Response response = 1; JsonReference json_reference = 2}.
std::string EncodeResponses(Encoder& e, const Json& j, const std::string& at) {
  std::string out;
  if (!e.RequireObject(j, at)) {
    return out;
  }
  for (const auto& [code, value] : j.items()) {
    if (IsExtension(code)) {
      PutBytes(out, 2, e.NamedAny(code, value));
      continue;
    }
    std::string response_value;
    if (value.is_object() && value.contains("$ref")) {
      PutBytes(response_value, 2, EncodeJsonReference(e, value, Join(at, code)));
    } else {
      PutBytes(response_value, 1, EncodeResponse(e, value, Join(at, code)));
    }
    PutBytes(out, 1, e.Named(code, response_value));
  }
  return out;
}

// SecurityRequirement {repeated NamedStringArray = 1}, StringArray {repeated string value = 1}.
std::string EncodeSecurityRequirement(Encoder& e, const Json& j, const std::string& at) {
  static const FieldSpec kValue = {"value", 1, Kind::kStrings};
  std::string out;
  if (!e.RequireObject(j, at)) {
    return out;
  }
  for (const auto& [name, scopes] : j.items()) {
    std::string array;
    e.Field(array, kValue, scopes, Join(at, name));
    PutBytes(out, 1, e.Named(name, array));
  }
  return out;
}

// Oauth2Scopes {repeated NamedString = 1}.
std::string EncodeScopes(Encoder& e, const Json& j, const std::string& at) {
  std::string out;
  if (!e.RequireObject(j, at)) {
    return out;
  }
  for (const auto& [name, text] : j.items()) {
    if (!text.is_string()) {
      e.Fail(Join(at, name), "must be a string");
      return out;
    }
    std::string named;
    PutBytes(named, 1, name);
    PutBytes(named, 2, text.get<std::string>());
    PutBytes(out, 1, named);
  }
  return out;
}

// SecurityDefinitionsItem: one of six messages chosen by type (and flow for oauth2).
std::string EncodeSecurityDefinitionsItem(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kBasic = {
      {{"type", 1, Kind::kString}, {"description", 2, Kind::kString}}, 3};
  static const MessageSpec kApiKey = {{{"type", 1, Kind::kString},
                                       {"name", 2, Kind::kString},
                                       {"in", 3, Kind::kString},
                                       {"description", 4, Kind::kString}},
                                      5};
  static const MessageSpec kImplicit = {{{"type", 1, Kind::kString},
                                         {"flow", 2, Kind::kString},
                                         {"scopes", 3, Kind::kMessage, EncodeScopes},
                                         {"authorizationUrl", 4, Kind::kString},
                                         {"description", 5, Kind::kString}},
                                        6};
  static const MessageSpec kTokenUrl = {{{"type", 1, Kind::kString},  // password, application
                                         {"flow", 2, Kind::kString},
                                         {"scopes", 3, Kind::kMessage, EncodeScopes},
                                         {"tokenUrl", 4, Kind::kString},
                                         {"description", 5, Kind::kString}},
                                        6};
  static const MessageSpec kAccessCode = {{{"type", 1, Kind::kString},
                                           {"flow", 2, Kind::kString},
                                           {"scopes", 3, Kind::kMessage, EncodeScopes},
                                           {"authorizationUrl", 4, Kind::kString},
                                           {"tokenUrl", 5, Kind::kString},
                                           {"description", 6, Kind::kString}},
                                          7};
  std::string out;
  if (!e.RequireObject(j, at)) {
    return out;
  }
  std::string type = j.value("type", "");
  std::string flow = j.value("flow", "");
  if (type == "basic") {
    PutBytes(out, 1, e.Message(kBasic, j, at));
  } else if (type == "apiKey") {
    PutBytes(out, 2, e.Message(kApiKey, j, at));
  } else if (type == "oauth2" && flow == "implicit") {
    PutBytes(out, 3, e.Message(kImplicit, j, at));
  } else if (type == "oauth2" && flow == "password") {
    PutBytes(out, 4, e.Message(kTokenUrl, j, at));
  } else if (type == "oauth2" && flow == "application") {
    PutBytes(out, 5, e.Message(kTokenUrl, j, at));
  } else if (type == "oauth2" && flow == "accessCode") {
    PutBytes(out, 6, e.Message(kAccessCode, j, at));
  } else {
    e.Fail(Join(at, "type"), "must be basic, apiKey or oauth2 with a known flow");
  }
  return out;
}

std::string EncodeOperation(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kSpec = {{{"tags", 1, Kind::kStrings},
                                     {"summary", 2, Kind::kString},
                                     {"description", 3, Kind::kString},
                                     {"externalDocs", 4, Kind::kMessage, EncodeExternalDocs},
                                     {"operationId", 5, Kind::kString},
                                     {"produces", 6, Kind::kStrings},
                                     {"consumes", 7, Kind::kStrings},
                                     {"parameters", 8, Kind::kMessages, EncodeParametersItem},
                                     {"responses", 9, Kind::kMessage, EncodeResponses},
                                     {"schemes", 10, Kind::kStrings},
                                     {"deprecated", 11, Kind::kBool},
                                     {"security", 12, Kind::kMessages, EncodeSecurityRequirement}},
                                    13};
  return e.Message(kSpec, j, at);
}

std::string EncodePathItem(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kSpec = {{{"$ref", 1, Kind::kString},
                                     {"get", 2, Kind::kMessage, EncodeOperation},
                                     {"put", 3, Kind::kMessage, EncodeOperation},
                                     {"post", 4, Kind::kMessage, EncodeOperation},
                                     {"delete", 5, Kind::kMessage, EncodeOperation},
                                     {"options", 6, Kind::kMessage, EncodeOperation},
                                     {"head", 7, Kind::kMessage, EncodeOperation},
                                     {"patch", 8, Kind::kMessage, EncodeOperation},
                                     {"parameters", 9, Kind::kMessages, EncodeParametersItem}},
                                    10};
  return e.Message(kSpec, j, at);
}

// Paths {repeated NamedAny vendor_extension = 1; repeated NamedPathItem path = 2}.
std::string EncodePaths(Encoder& e, const Json& j, const std::string& at) {
  std::string out;
  if (!e.RequireObject(j, at)) {
    return out;
  }
  for (const auto& [path, item] : j.items()) {
    if (IsExtension(path)) {
      PutBytes(out, 1, e.NamedAny(path, item));
    } else {
      PutBytes(out, 2, e.Named(path, EncodePathItem(e, item, Join(at, path))));
    }
  }
  return out;
}

std::string EncodeTag(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kSpec = {{{"name", 1, Kind::kString},
                                     {"description", 2, Kind::kString},
                                     {"externalDocs", 3, Kind::kMessage, EncodeExternalDocs}},
                                    4};
  return e.Message(kSpec, j, at);
}

std::string EncodeInfo(Encoder& e, const Json& j, const std::string& at) {
  static const MessageSpec kContact = {
      {{"name", 1, Kind::kString}, {"url", 2, Kind::kString}, {"email", 3, Kind::kString}}, 4};
  static const MessageSpec kLicense = {{{"name", 1, Kind::kString}, {"url", 2, Kind::kString}}, 3};
  static const MessageSpec kSpec = {{{"title", 1, Kind::kString},
                                     {"version", 2, Kind::kString},
                                     {"description", 3, Kind::kString},
                                     {"termsOfService", 4, Kind::kString},
                                     {"contact", 5, Kind::kMessage,
                                      [](Encoder& e, const Json& j, const std::string& at) {
                                        return e.Message(kContact, j, at);
                                      }},
                                     {"license", 6, Kind::kMessage,
                                      [](Encoder& e, const Json& j, const std::string& at) {
                                        return e.Message(kLicense, j, at);
                                      }}},
                                    7};
  return e.Message(kSpec, j, at);
}

std::string EncodeDocument(Encoder& e, const Json& j) {
  static const MessageSpec kSpec = {
      {{"swagger", 1, Kind::kString},
       {"info", 2, Kind::kMessage, EncodeInfo},
       {"host", 3, Kind::kString},
       {"basePath", 4, Kind::kString},
       {"schemes", 5, Kind::kStrings},
       {"consumes", 6, Kind::kStrings},
       {"produces", 7, Kind::kStrings},
       {"paths", 8, Kind::kMessage, EncodePaths},
       {"definitions", 9, Kind::kMap, EncodeSchema},     // Definitions {NamedSchema = 1}
       {"parameters", 10, Kind::kMap, EncodeParameter},  // ParameterDefinitions
       {"responses", 11, Kind::kMap, EncodeResponse},    // ResponseDefinitions
       {"security", 12, Kind::kMessages, EncodeSecurityRequirement},
       {"securityDefinitions", 13, Kind::kMap, EncodeSecurityDefinitionsItem},
       {"tags", 14, Kind::kMessages, EncodeTag},
       {"externalDocs", 15, Kind::kMessage, EncodeExternalDocs}},
      16};
  return e.Message(kSpec, j, "");
}

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'Z') {
      c = static_cast<char>(c - 'A' + 'a');
    }
  }
  return s;
}

std::string Trim(const std::string& s) {
  size_t b = s.find_first_not_of(" \t");
  if (b == std::string::npos) {
    return "";
  }
  return s.substr(b, s.find_last_not_of(" \t") - b + 1);
}

}  // namespace

StatusOr<std::string> EncodeOpenApiV2Protobuf(const Json& document) {
  Encoder e;
  std::string out = EncodeDocument(e, document);
  if (!e.status().ok()) {
    return e.status();
  }
  return out;
}

bool PrefersOpenApiV2Protobuf(const std::string& accept) {
  // kube-apiserver accepts both spellings of the protobuf media type.
  static const char* kProtobuf[] = {"application/com.github.proto-openapi.spec.v2@v1.0+protobuf",
                                    "application/com.github.proto-openapi.spec.v2.v1.0+protobuf"};
  static const char* kJson[] = {"application/json", "application/*", "*/*"};
  double best_q = 0;
  bool best_is_protobuf = false;
  size_t start = 0;
  while (start <= accept.size()) {
    size_t end = accept.find(',', start);
    if (end == std::string::npos) {
      end = accept.size();
    }
    std::string range = accept.substr(start, end - start);
    start = end + 1;
    size_t semi = range.find(';');
    std::string type = Lower(Trim(range.substr(0, semi)));
    double q = 1;
    while (semi != std::string::npos) {
      size_t next = range.find(';', semi + 1);
      std::string param = Trim(
          range.substr(semi + 1, next == std::string::npos ? std::string::npos : next - semi - 1));
      if (param.rfind("q=", 0) == 0) {
        q = std::atof(param.c_str() + 2);
      }
      semi = next;
    }
    bool protobuf = false;
    bool json = false;
    for (const char* p : kProtobuf) {
      protobuf = protobuf || type == p;
    }
    for (const char* p : kJson) {
      json = json || type == p;
    }
    if ((protobuf || json) && q > best_q) {  // strictly greater: the first of equals wins
      best_q = q;
      best_is_protobuf = protobuf;
    }
  }
  return best_is_protobuf;
}

}  // namespace lifeboat::apiserver
