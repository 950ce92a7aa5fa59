#include "apiserver/openapi_proto.h"

#include <gtest/gtest.h>

#include "tests/unit/apiserver/proto_reader.h"

namespace lifeboat::apiserver {
namespace {

using testing::ProtoMessage;

// Field numbers of gnostic's openapiv2/OpenAPIv2.proto used below.
constexpr uint32_t kDocSwagger = 1, kDocInfo = 2, kDocPaths = 8, kDocDefinitions = 9,
                   kDocVendorExtension = 16;
constexpr uint32_t kSchemaRef = 1, kSchemaDescription = 4, kSchemaDefault = 5, kSchemaMaximum = 7,
                   kSchemaMinimum = 9, kSchemaMaxLength = 11, kSchemaPattern = 13,
                   kSchemaRequired = 19, kSchemaEnum = 20, kSchemaAdditionalProperties = 21,
                   kSchemaType = 22, kSchemaItems = 23, kSchemaProperties = 25,
                   kSchemaVendorExtension = 31;

StatusOr<std::string> Encode(const char* json) {
  return EncodeOpenApiV2Protobuf(Json::parse(json));
}

TEST(OpenApiProtoTest, KnownBytesOfASmallDocument) {
  // Document {swagger = 1: "2.0", info = 2: Info {title = 1: "K", version = 2: "v"}}.
  auto bytes = Encode(R"({"swagger": "2.0", "info": {"title": "K", "version": "v"}})");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, std::string("\x0a\x03"
                                "2.0"
                                "\x12\x06\x0a\x01K\x12\x01v",
                                13));
  // A double (fixed64, little-endian IEEE 754) and a negative int64 (ten-byte varint).
  auto schema = Encode(R"({"definitions": {"a": {"maximum": 1.5, "maxLength": -1}}})");
  ASSERT_TRUE(schema.ok()) << schema.status();
  ProtoMessage a = ProtoMessage(*schema).Message(kDocDefinitions).Named(1, "a");
  EXPECT_EQ(a.One(kSchemaMaximum).wire_type, 1u);
  EXPECT_EQ(a.One(kSchemaMaximum).varint, 0x3ff8000000000000u);
  EXPECT_EQ(a.One(kSchemaMaxLength).varint, ~uint64_t{0});
}

TEST(OpenApiProtoTest, DefinitionsKeepWhatKubectlReads) {
  auto bytes = Encode(R"({
    "swagger": "2.0",
    "x-top": {"k": 1},
    "definitions": {
      "dev.example.v1.Widget": {
        "description": "A widget.",
        "type": "object",
        "required": ["spec"],
        "x-kubernetes-group-version-kind": [{"group": "example.dev", "kind": "Widget", "version": "v1"}],
        "properties": {
          "metadata": {"$ref": "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta"},
          "spec": {
            "type": "object",
            "properties": {
              "size": {"type": "integer", "format": "int64", "minimum": 1, "maximum": 100,
                       "description": "How big"},
              "color": {"type": "string", "enum": ["red", "blue"], "default": "blue",
                        "pattern": "^[a-z]+$"},
              "tags": {"type": "array", "items": {"type": "string"},
                       "x-kubernetes-list-type": "set"},
              "labels": {"type": "object", "additionalProperties": {"type": "string"}},
              "free": {"type": "object", "additionalProperties": true}
            }
          }
        }
      }
    }
  })");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  ProtoMessage doc(*bytes);
  EXPECT_EQ(doc.String(kDocSwagger), "2.0");
  EXPECT_EQ(doc.Count(kDocInfo), 0u);
  // Vendor extensions are NamedAny {name, Any {yaml = 2}}, the value written as JSON.
  ProtoMessage top(doc.One(kDocVendorExtension).bytes);
  EXPECT_EQ(top.String(1), "x-top");
  EXPECT_EQ(top.Message(2).String(2), R"({"k":1})");

  ProtoMessage defs = doc.Message(kDocDefinitions);
  EXPECT_EQ(defs.Names(1), std::vector<std::string>{"dev.example.v1.Widget"});
  ProtoMessage widget = defs.Named(1, "dev.example.v1.Widget");
  EXPECT_EQ(widget.String(kSchemaDescription), "A widget.");
  EXPECT_EQ(widget.Message(kSchemaType).String(1), "object");  // TypeItem {value = 1}
  EXPECT_EQ(widget.String(kSchemaRequired), "spec");
  ProtoMessage gvk(widget.One(kSchemaVendorExtension).bytes);
  EXPECT_EQ(gvk.String(1), "x-kubernetes-group-version-kind");
  EXPECT_EQ(Json::parse(gvk.Message(2).String(2)),
            Json::parse(R"([{"group": "example.dev", "kind": "Widget", "version": "v1"}])"));

  ProtoMessage props = widget.Message(kSchemaProperties);
  EXPECT_EQ(props.Names(1), (std::vector<std::string>{"metadata", "spec"}));
  EXPECT_EQ(props.Named(1, "metadata").String(kSchemaRef),
            "#/definitions/io.k8s.apimachinery.pkg.apis.meta.v1.ObjectMeta");
  ProtoMessage spec = props.Named(1, "spec").Message(kSchemaProperties);
  EXPECT_EQ(spec.Names(1), (std::vector<std::string>{"color", "free", "labels", "size", "tags"}));

  ProtoMessage size = spec.Named(1, "size");
  EXPECT_EQ(size.Message(kSchemaType).String(1), "integer");
  EXPECT_EQ(size.String(2), "int64");  // format
  EXPECT_EQ(size.One(kSchemaMinimum).AsDouble(), 1.0);
  EXPECT_EQ(size.One(kSchemaMaximum).AsDouble(), 100.0);
  EXPECT_EQ(size.String(kSchemaDescription), "How big");

  ProtoMessage color = spec.Named(1, "color");
  std::vector<std::string> values;
  for (const auto& f : color.All(kSchemaEnum)) {
    values.push_back(ProtoMessage(f.bytes).String(2));  // Any {yaml = 2}
  }
  EXPECT_EQ(values, (std::vector<std::string>{R"("red")", R"("blue")"}));
  EXPECT_EQ(color.Message(kSchemaDefault).String(2), R"("blue")");
  EXPECT_EQ(color.String(kSchemaPattern), "^[a-z]+$");

  ProtoMessage tags = spec.Named(1, "tags");
  // ItemsItem {repeated Schema schema = 1}.
  EXPECT_EQ(tags.Message(kSchemaItems).Message(1).Message(kSchemaType).String(1), "string");
  EXPECT_EQ(ProtoMessage(tags.One(kSchemaVendorExtension).bytes).String(1),
            "x-kubernetes-list-type");

  // AdditionalPropertiesItem {oneof: Schema schema = 1; bool boolean = 2}.
  ProtoMessage labels = spec.Named(1, "labels").Message(kSchemaAdditionalProperties);
  EXPECT_EQ(labels.Message(1).Message(kSchemaType).String(1), "string");
  ProtoMessage free = spec.Named(1, "free").Message(kSchemaAdditionalProperties);
  EXPECT_EQ(free.One(2).wire_type, 0u);
  EXPECT_EQ(free.One(2).varint, 1u);
  EXPECT_EQ(free.Count(1), 0u);
}

TEST(OpenApiProtoTest, PathsOperationsParametersAndResponses) {
  auto bytes = Encode(R"({"paths": {
    "/apis/example.dev/v1/namespaces/{namespace}/widgets": {
      "parameters": [{"name": "namespace", "in": "path", "required": true, "type": "string"},
                     {"$ref": "#/parameters/pretty"}],
      "post": {
        "operationId": "createWidget",
        "consumes": ["application/json"],
        "parameters": [{"name": "body", "in": "body", "required": true,
                        "schema": {"$ref": "#/definitions/W"}},
                       {"name": "dryRun", "in": "query", "type": "string", "uniqueItems": true}],
        "responses": {"201": {"description": "Created", "schema": {"$ref": "#/definitions/W"}},
                      "401": {"description": "Unauthorized"}},
        "x-kubernetes-action": "post"
      }
    }}})");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  // Paths {vendor_extension = 1; NamedPathItem path = 2}.
  ProtoMessage item = ProtoMessage(*bytes).Message(kDocPaths).Named(
      2, "/apis/example.dev/v1/namespaces/{namespace}/widgets");
  // PathItem.parameters = 9: ParametersItem {Parameter = 1 | JsonReference = 2}.
  std::vector<testing::ProtoField> params = item.All(9);
  ASSERT_EQ(params.size(), 2u);
  // Parameter {NonBodyParameter = 2} -> NonBodyParameter {path = 4} -> PathParameterSubSchema.
  ProtoMessage path_param = ProtoMessage(params[0].bytes).Message(1).Message(2).Message(4);
  EXPECT_EQ(path_param.One(1).varint, 1u);       // required
  EXPECT_EQ(path_param.String(2), "path");       // in
  EXPECT_EQ(path_param.String(4), "namespace");  // name
  EXPECT_EQ(path_param.String(5), "string");     // type
  EXPECT_EQ(ProtoMessage(params[1].bytes).Message(2).String(1), "#/parameters/pretty");

  ProtoMessage post = item.Message(4);
  EXPECT_EQ(post.String(5), "createWidget");
  EXPECT_EQ(post.String(7), "application/json");  // consumes
  EXPECT_EQ(ProtoMessage(post.One(13).bytes).String(1), "x-kubernetes-action");
  std::vector<testing::ProtoField> op_params = post.All(8);
  ASSERT_EQ(op_params.size(), 2u);
  // Parameter {BodyParameter = 1}: name = 2, in = 3, required = 4, schema = 5.
  ProtoMessage body = ProtoMessage(op_params[0].bytes).Message(1).Message(1);
  EXPECT_EQ(body.String(2), "body");
  EXPECT_EQ(body.String(3), "body");
  EXPECT_EQ(body.Message(5).String(kSchemaRef), "#/definitions/W");
  // NonBodyParameter {query = 3} -> QueryParameterSubSchema: type = 6, unique_items = 20.
  ProtoMessage query = ProtoMessage(op_params[1].bytes).Message(1).Message(2).Message(3);
  EXPECT_EQ(query.String(4), "dryRun");
  EXPECT_EQ(query.String(6), "string");
  EXPECT_EQ(query.One(20).varint, 1u);

  // Responses {NamedResponseValue response_code = 1} -> ResponseValue {Response = 1}.
  ProtoMessage responses = post.Message(9);
  EXPECT_EQ(responses.Names(1), (std::vector<std::string>{"201", "401"}));
  ProtoMessage created = responses.Named(1, "201").Message(1);
  EXPECT_EQ(created.String(1), "Created");
  // Response.schema = 2: SchemaItem {Schema = 1}.
  EXPECT_EQ(created.Message(2).Message(1).String(kSchemaRef), "#/definitions/W");
}

TEST(OpenApiProtoTest, WrongTypesNameThePlace) {
  auto bad = Encode(R"({"definitions": {"W": {"properties": {"size": {"maximum": "big"}}}}})");
  ASSERT_FALSE(bad.ok());
  EXPECT_EQ(bad.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad.status().message().find("definitions.W.properties.size.maximum"), std::string::npos)
      << bad.status();
  auto fraction = Encode(R"({"definitions": {"W": {"maxLength": 1.5}}})");
  ASSERT_FALSE(fraction.ok());
  EXPECT_NE(fraction.status().message().find("must be an integer"), std::string::npos);
  auto in =
      Encode(R"({"paths": {"/x": {"get": {"parameters": [{"name": "a", "in": "cookie"}]}}}})");
  ASSERT_FALSE(in.ok());
  EXPECT_NE(in.status().message().find("in: must be"), std::string::npos) << in.status();
  EXPECT_FALSE(Encode(R"({"definitions": []})").ok());
}

TEST(OpenApiProtoTest, AcceptHeaderChoosesTheForm) {
  // What kubectl before 1.26 sends for /openapi/v2, and the spelling of newer clients.
  EXPECT_TRUE(
      PrefersOpenApiV2Protobuf("application/com.github.proto-openapi.spec.v2@v1.0+protobuf"));
  EXPECT_TRUE(PrefersOpenApiV2Protobuf(kOpenApiV2ProtobufContentType));
  EXPECT_TRUE(PrefersOpenApiV2Protobuf(
      "application/com.github.proto-openapi.spec.v2.v1.0+protobuf, application/json;q=0.9"));
  EXPECT_TRUE(PrefersOpenApiV2Protobuf(
      "application/json;q=0.5, application/com.github.proto-openapi.spec.v2@v1.0+protobuf"));
  EXPECT_FALSE(PrefersOpenApiV2Protobuf(""));
  EXPECT_FALSE(PrefersOpenApiV2Protobuf("application/json"));
  EXPECT_FALSE(PrefersOpenApiV2Protobuf("*/*"));
  EXPECT_FALSE(PrefersOpenApiV2Protobuf(
      "application/com.github.proto-openapi.spec.v2@v1.0+protobuf;q=0.5, application/json"));
  EXPECT_FALSE(
      PrefersOpenApiV2Protobuf("application/json, "
                               "application/com.github.proto-openapi.spec.v2@v1.0+protobuf"));
  EXPECT_FALSE(PrefersOpenApiV2Protobuf("application/vnd.kubernetes.protobuf"));
}

}  // namespace
}  // namespace lifeboat::apiserver
