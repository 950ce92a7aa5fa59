#include "api/yaml.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "api/manifest.h"

namespace lifeboat::api {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

Json ParseOne(const std::string& text) {
  auto docs = ParseManifests(text, "t.yaml");
  EXPECT_TRUE(docs.ok()) << docs.status();
  if (!docs.ok() || docs->size() != 1) {
    ADD_FAILURE() << "expected one document";
    return Json();
  }
  return (*docs)[0].object;
}

std::string ErrorOf(const std::string& text) {
  auto docs = ParseManifests(text, "t.yaml");
  EXPECT_FALSE(docs.ok()) << text;
  return docs.ok() ? "" : docs.status().message();
}

TEST(YamlTest, ResolvesPlainScalarsByTheCoreSchema) {
  Json j = ParseOne(R"(
a: 1
b: -42
c: 1.5
d: 1e3
e: true
f: False
g: ~
h:
i: "1"
j: '007'
k: yes
l: 0x1F
m: 0o17
n: 12345678901234567890
o: 123456789012345678901234
p: 1.2.3
q: !!str 5
r: !!int "7"
s: -0.5
t: .5
)");
  EXPECT_EQ(j["a"], Json(1));
  EXPECT_TRUE(j["a"].is_number_integer());
  EXPECT_EQ(j["b"], Json(-42));
  EXPECT_TRUE(j["c"].is_number_float());
  EXPECT_EQ(j["c"], Json(1.5));
  EXPECT_EQ(j["d"], Json(1000.0));
  EXPECT_EQ(j["e"], Json(true));
  EXPECT_EQ(j["f"], Json(false));
  EXPECT_TRUE(j["g"].is_null());
  EXPECT_TRUE(j["h"].is_null());
  EXPECT_EQ(j["i"], Json("1"));
  EXPECT_EQ(j["j"], Json("007"));
  EXPECT_EQ(j["k"], Json("yes"));  // YAML 1.2: a string
  EXPECT_EQ(j["l"], Json(31));
  EXPECT_EQ(j["m"], Json(15));
  EXPECT_TRUE(j["n"].is_number_unsigned());
  EXPECT_TRUE(j["o"].is_number_float());
  EXPECT_EQ(j["p"], Json("1.2.3"));
  EXPECT_EQ(j["q"], Json("5"));
  EXPECT_EQ(j["r"], Json(7));
  EXPECT_EQ(j["s"], Json(-0.5));
  EXPECT_EQ(j["t"], Json(0.5));
}

TEST(YamlTest, RecordsTheLineOfEveryField) {
  auto docs = ParseManifests(R"(# leading comment
apiVersion: v1
kind: Thing
spec:
  list:
    - name: a
      value: 1
    - name: b
---

kind: Second
)",
                             "m.yaml");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 2u);
  const Document& d = (*docs)[0];
  EXPECT_EQ(d.file, "m.yaml");
  EXPECT_EQ(d.line, 2);
  EXPECT_EQ(d.LineOf("kind"), 3);
  EXPECT_EQ(d.LineOf("spec.list[0]"), 6);
  EXPECT_EQ(d.LineOf("spec.list[0].value"), 7);
  EXPECT_EQ(d.LineOf("spec.list[1].name"), 8);
  // Absent fields report the nearest ancestor; map entries `x[key]` their key line.
  EXPECT_EQ(d.LineOf("spec.list[1].missing"), 8);
  EXPECT_EQ(d.LineOf("spec.list[0][value]"), 7);
  EXPECT_EQ(d.LineOf("nothing.here"), 2);
  EXPECT_EQ((*docs)[1].line, 11);
  EXPECT_EQ((*docs)[1].LineOf("kind"), 11);
}

TEST(YamlTest, SkipsEmptyDocumentsAndReadsJson) {
  auto docs = ParseManifests("---\n---\n# only a comment\n---\n{\"a\": [1, 2, {\"b\": null}]}\n",
                             "j.json");
  ASSERT_TRUE(docs.ok()) << docs.status();
  ASSERT_EQ(docs->size(), 1u);
  EXPECT_EQ((*docs)[0].object, Json::parse(R"({"a": [1, 2, {"b": null}]})"));
  auto none = ParseManifests("", "empty.yaml");
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
}

TEST(YamlTest, MalformedInputGivesFileAndLine) {
  EXPECT_THAT(ErrorOf("a: 1\nb:\n  c: 1\n   d: 2\n"), StartsWith("t.yaml:4: malformed YAML: "));
  EXPECT_THAT(ErrorOf("a: [1, 2\n"), StartsWith("t.yaml:"));
  EXPECT_THAT(ErrorOf("a: 1\nb: 2\na: 3\n"), StartsWith("t.yaml:3: duplicate key \"a\""));
  EXPECT_THAT(ErrorOf("? [a, b]\n: 1\n"), HasSubstr("map keys must be strings"));
  EXPECT_THAT(ErrorOf("a: .inf\n"), HasSubstr("cannot be represented in JSON"));
  EXPECT_THAT(ErrorOf("a: 1e999\n"), HasSubstr("out of range"));
  EXPECT_THAT(ErrorOf("a: !!binary aGVsbG8=\n"), HasSubstr("unsupported tag"));
  EXPECT_THAT(ErrorOf("a: !!int abc\n"), HasSubstr("does not match its tag"));
  EXPECT_THAT(ErrorOf(std::string("a: b\xff\n")), HasSubstr("t.yaml:1:"));
  // U+FFFF (here from UTF-16 input, found by the fuzzer) cannot be written back as YAML.
  EXPECT_THAT(ErrorOf("a: \"\\uffff\"\n"), HasSubstr("noncharacter"));
}

TEST(YamlTest, TrailingFlowContentIsAnErrorNotAHang) {
  // yaml-cpp 0.7's LoadAll loops forever, allocating, on these (found by the fuzzer).
  EXPECT_THAT(ErrorOf("{a: b}, {c: d}"), StartsWith("t.yaml:1: malformed YAML"));
  EXPECT_THAT(ErrorOf("x: 1\n---\n{a: b},\n c: {d: e}\n}\n"), StartsWith("t.yaml:3: malformed YAML"));
}

TEST(YamlTest, AnchorsAndAliasesExpand) {
  Json j = ParseOne("base: &b {path: /data, name: x}\ncopy: *b\nlist: [&n 1, *n]\n");
  EXPECT_EQ(j["copy"], j["base"]);
  EXPECT_EQ(j["list"], Json::parse("[1, 1]"));
  EXPECT_THAT(ErrorOf("a: *missing\n"), HasSubstr("t.yaml:1:"));
}

TEST(YamlTest, LimitsNestingAndAliasExpansion) {
  std::string deep;
  for (int i = 0; i < 150; ++i) {
    deep += "[";
  }
  for (int i = 0; i < 150; ++i) {
    deep += "]";
  }
  EXPECT_THAT(ErrorOf("a: " + deep + "\n"), HasSubstr("nesting deeper than 100 levels"));
  // "Billion laughs": each level doubles ten-fold; expansion must stop, not exhaust memory.
  std::string bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n";
  std::string prev = "a";
  for (char c = 'b'; c <= 'h'; ++c) {
    std::string name(1, c);
    bomb += name + ": &" + name + " [";
    for (int i = 0; i < 10; ++i) {
      bomb += (i ? ", *" : "*") + prev;
    }
    bomb += "]\n";
    prev = name;
  }
  EXPECT_THAT(ErrorOf(bomb), HasSubstr("document too large"));
}

TEST(YamlTest, ToYamlRoundTripsAndQuotesAmbiguousStrings) {
  Json j = Json::parse(R"({
    "apiVersion": "lifeboat.dev/v1alpha1",
    "s": ["true", "1", "007", "1.5", "", "null", "~", "yes", "-", "a: b", "#x", " lead", "trail ", "multi\nline", "cr\r", "DELETE \r", "tab\there"],
    "n": [1, -2, 1.5, true, false, null],
    "empty": {"o": {}, "a": []},
    "nested": {"k": [{"x": 1}, {"y": "z"}]}
  })");
  std::string text = ToYaml(j);
  EXPECT_THAT(text, HasSubstr("apiVersion: lifeboat.dev/v1alpha1"));
  EXPECT_EQ(ParseOne(text), j) << text;
}

}  // namespace
}  // namespace lifeboat::api
