#include "apiserver/handler.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <optional>
#include <thread>

#include "apiserver/openapi_proto.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/apiserver/proto_reader.h"

namespace lifeboat::apiserver {
namespace {

constexpr const char* kToken = "secret-token";

const char* kWidgetCrd = R"({
  "apiVersion": "apiextensions.k8s.io/v1", "kind": "CustomResourceDefinition",
  "metadata": {"name": "widgets.example.dev"},
  "spec": {"group": "example.dev", "scope": "Namespaced",
    "names": {"plural": "widgets", "singular": "widget", "kind": "Widget", "shortNames": ["wd"]},
    "versions": [{"name": "v1", "served": true, "storage": true,
      "subresources": {"status": {}},
      "schema": {"openAPIV3Schema": {"type": "object", "properties": {
        "spec": {"type": "object", "required": ["size"], "properties": {
          "size": {"type": "integer", "minimum": 1},
          "color": {"type": "string", "default": "blue"}}},
        "status": {"type": "object", "x-kubernetes-preserve-unknown-fields": true}}}}}]}
})";

// Collects a watch stream in memory.
class MemoryWriter final : public StreamWriter {
 public:
  bool Write(const std::string& data) override {
    std::lock_guard<std::mutex> lock(mu_);
    size_t start = 0;
    while (start < data.size()) {
      size_t nl = data.find('\n', start);
      lines_.push_back(Json::parse(data.substr(start, nl - start)));
      start = nl + 1;
    }
    cv_.notify_all();
    return !closed_;
  }
  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    cv_.notify_all();
  }
  // Waits (with a deadline) until `n` events arrived.
  std::vector<Json> WaitFor(size_t n) {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.wait_for(lock, std::chrono::seconds(10), [&] { return lines_.size() >= n; });
    return lines_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<Json> lines_;
  bool closed_ = false;
};

class HandlerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto store = Store::Open(StoreOptions{dir_ / "state.db", 20});
    ASSERT_TRUE(store.ok());
    store_ = std::move(store).value();
    handler_ = std::make_unique<Handler>(*store_, clock_, HandlerOptions{kToken, "127.0.0.1:1"});
    ASSERT_TRUE(handler_->Start("").ok());
    ASSERT_EQ(Call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kWidgetCrd)
                  .status,
              201);
  }

  HttpResponse Call(const std::string& method, const std::string& path,
                    const std::string& body = "", std::map<std::string, std::string> query = {},
                    const std::string& content_type = "application/json",
                    const std::string& accept = "application/json") {
    HttpRequest req;
    req.method = method;
    req.path = path;
    req.body = body;
    req.query = std::move(query);
    req.content_type = content_type;
    req.accept = accept;
    req.authorization = std::string("Bearer ") + kToken;
    return handler_->Handle(req);
  }

  static std::string Widget(const std::string& name, int size) {
    return Json{{"apiVersion", "example.dev/v1"},
                {"kind", "Widget"},
                {"metadata", {{"name", name}}},
                {"spec", {{"size", size}}}}
        .dump();
  }

  // A Widget owned by `owner` (as created), optionally blocking its owner's foreground deletion
  // and held by a finalizer.
  static Json OwnedWidget(const std::string& name, const Json& owner,
                          std::optional<bool> blocks = std::nullopt, bool finalizer = false) {
    Json child = Json::parse(Widget(name, 1));
    Json ref = {{"apiVersion", "example.dev/v1"},
                {"kind", "Widget"},
                {"name", owner["metadata"]["name"]},
                {"uid", owner["metadata"]["uid"]}};
    if (blocks) ref["blockOwnerDeletion"] = *blocks;
    child["metadata"]["ownerReferences"] = Json::array({ref});
    if (finalizer) child["metadata"]["finalizers"] = {"example.dev/cleanup"};
    return child;
  }

  // Removes every finalizer of the Widget `name` (merge patch); the reply's status.
  int RemoveFinalizers(const std::string& name) {
    return Call("PATCH", kWidgets + "/" + name, R"({"metadata":{"finalizers":null}})", {},
                "application/merge-patch+json")
        .status;
  }

  // Polls `done` for up to 10 s.
  static bool WaitUntil(const std::function<bool()>& done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (!done() && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    return done();
  }

  const std::string kWidgets = "/apis/example.dev/v1/namespaces/default/widgets";
  testing::TempDir dir_;
  FakeClock clock_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<Handler> handler_;
};

TEST_F(HandlerTest, RequiresTheBearerToken) {
  HttpRequest req;
  req.method = "GET";
  req.path = "/api";
  EXPECT_EQ(handler_->Handle(req).status, 401);
  req.authorization = "Bearer wrong-token!";
  HttpResponse r = handler_->Handle(req);
  EXPECT_EQ(r.status, 401);
  EXPECT_EQ(Json::parse(r.body)["reason"], "Unauthorized");
  req.path = "/healthz";
  EXPECT_EQ(handler_->Handle(req).status, 200);
}

TEST_F(HandlerTest, DiscoveryServesAppliedCrds) {
  Json groups = Json::parse(Call("GET", "/apis").body);
  bool found = false;
  for (const Json& g : groups["groups"]) {
    found = found || g["name"] == "example.dev";
  }
  EXPECT_TRUE(found);
  Json list = Json::parse(Call("GET", "/apis/example.dev/v1").body);
  ASSERT_EQ(list["resources"].size(), 2u);
  EXPECT_EQ(list["resources"][0]["name"], "widgets");
  EXPECT_EQ(list["resources"][0]["shortNames"], Json::parse(R"(["wd"])"));
  EXPECT_EQ(list["resources"][1]["name"], "widgets/status");
  Json v3 = Json::parse(Call("GET", "/openapi/v3/apis/example.dev/v1").body);
  EXPECT_TRUE(v3["components"]["schemas"].contains("dev.example.v1.Widget"));
  Json v2 = Json::parse(Call("GET", "/openapi/v2").body);
  EXPECT_EQ(v2["definitions"]["dev.example.v1.Widget"]["x-kubernetes-group-version-kind"][0]
               ["kind"],
            "Widget");
  Json crd = Json::parse(
      Call("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.dev")
          .body);
  EXPECT_EQ(crd["status"]["conditions"][1]["type"], "Established");
}

// kubectl before 1.26 reads /openapi/v2 only as gnostic's protobuf Document.
TEST_F(HandlerTest, OpenApiV2AsProtobufWhenAsked) {
  HttpResponse json = Call("GET", "/openapi/v2");
  EXPECT_EQ(json.content_type, "application/json");
  HttpResponse r = Call("GET", "/openapi/v2", "", {}, "application/json",
                        "application/com.github.proto-openapi.spec.v2@v1.0+protobuf");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(r.content_type, kOpenApiV2ProtobufContentType);
  auto expected = EncodeOpenApiV2Protobuf(Json::parse(json.body));
  ASSERT_TRUE(expected.ok()) << expected.status();
  EXPECT_EQ(r.body, *expected);
  testing::ProtoMessage doc(r.body);
  EXPECT_EQ(doc.String(1), "2.0");  // swagger
  // definitions = 9: NamedSchema entries; the Widget's spec.size keeps its type and minimum.
  testing::ProtoMessage widget = doc.Message(9).Named(1, "dev.example.v1.Widget");
  testing::ProtoMessage size =
      widget.Message(25).Named(1, "spec").Message(25).Named(1, "size");  // properties = 25
  EXPECT_EQ(size.Message(22).String(1), "integer");                      // type = 22
  EXPECT_EQ(size.One(9).AsDouble(), 1.0);                                // minimum = 9
  bool gvk = false;
  for (const auto& f : widget.All(31)) {  // vendor_extension = 31
    testing::ProtoMessage named(f.bytes);
    gvk = gvk || (named.String(1) == "x-kubernetes-group-version-kind" &&
                  Json::parse(named.Message(2).String(2))[0]["kind"] == "Widget");
  }
  EXPECT_TRUE(gvk);
  // Paths = 8: the Widget collection is there.
  bool path = false;
  for (const std::string& name : doc.Message(8).Names(2)) {
    path = path || name == "/apis/example.dev/v1/namespaces/{namespace}/widgets";
  }
  EXPECT_TRUE(path);
}

TEST_F(HandlerTest, CreateStampsMetadataAndAppliesDefaults) {
  HttpResponse r = Call("POST", kWidgets,
                        R"({"apiVersion":"example.dev/v1","kind":"Widget",
                            "metadata":{"generateName":"w-"},"spec":{"size":2}})");
  ASSERT_EQ(r.status, 201) << r.body;
  Json w = Json::parse(r.body);
  EXPECT_EQ(w["metadata"]["name"].get<std::string>().rfind("w-", 0), 0u);
  EXPECT_EQ(w["metadata"]["name"].get<std::string>().size(), 7u);
  EXPECT_EQ(w["metadata"]["generation"], 1);
  EXPECT_EQ(w["metadata"]["uid"].get<std::string>().size(), 36u);
  EXPECT_EQ(w["metadata"]["creationTimestamp"], FormatRfc3339(clock_.Now()));
  EXPECT_EQ(w["spec"]["color"], "blue");
  ASSERT_EQ(Call("POST", kWidgets, Widget("a", 1)).status, 201);
  HttpResponse again = Call("POST", kWidgets, Widget("a", 1));
  EXPECT_EQ(again.status, 409);
  EXPECT_EQ(Json::parse(again.body)["reason"], "AlreadyExists");
  HttpResponse no_ns =
      Call("POST", "/apis/example.dev/v1/namespaces/nope/widgets", Widget("b", 1));
  EXPECT_EQ(no_ns.status, 404);
  HttpResponse dry = Call("POST", kWidgets, Widget("dry", 1), {{"dryRun", "All"}});
  EXPECT_EQ(dry.status, 201);
  EXPECT_EQ(Call("GET", kWidgets + "/dry").status, 404);
}

TEST_F(HandlerTest, InvalidObjectsGet422NamingTheField) {
  HttpResponse r = Call("POST", kWidgets, Widget("bad", 0));
  ASSERT_EQ(r.status, 422) << r.body;
  Json status = Json::parse(r.body);
  EXPECT_EQ(status["reason"], "Invalid");
  EXPECT_EQ(status["details"]["causes"][0]["field"], "spec.size");
  EXPECT_NE(status["message"].get<std::string>().find("Widget.example.dev \"bad\" is invalid"),
            std::string::npos);
  Json unknown = Json::parse(Widget("u", 1));
  unknown["spec"]["shape"] = "round";
  HttpResponse strict = Call("POST", kWidgets, unknown.dump(), {{"fieldValidation", "Strict"}});
  EXPECT_EQ(strict.status, 400);
  EXPECT_NE(strict.body.find("unknown field \\\"spec.shape\\\""), std::string::npos);
  HttpResponse warn = Call("POST", kWidgets, unknown.dump(), {{"fieldValidation", "Warn"}});
  ASSERT_EQ(warn.status, 201);
  ASSERT_EQ(warn.headers.size(), 1u);
  EXPECT_FALSE(Json::parse(warn.body)["spec"].contains("shape"));
}

TEST_F(HandlerTest, UpdatesUseOptimisticConcurrency) {
  Json w = Json::parse(Call("POST", kWidgets, Widget("a", 1)).body);
  Json stale = w;
  w["spec"]["size"] = 2;
  HttpResponse ok = Call("PUT", kWidgets + "/a", w.dump());
  ASSERT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(Json::parse(ok.body)["metadata"]["generation"], 2);
  stale["spec"]["size"] = 3;
  HttpResponse conflict = Call("PUT", kWidgets + "/a", stale.dump());
  EXPECT_EQ(conflict.status, 409);
  EXPECT_EQ(Json::parse(conflict.body)["reason"], "Conflict");
}

// Patches that do not name a resourceVersion never fail for a concurrent write: the server
// re-applies them to the newest version. One that names a stale version gets 409.
TEST_F(HandlerTest, PatchesWithoutAResourceVersionSurviveConcurrentWrites) {
  ASSERT_EQ(Call("POST", kWidgets, Widget("a", 1)).status, 201);
  constexpr int kThreads = 4, kPatches = 40;
  std::atomic<int> failures{0};
  std::mutex first_mu;
  std::string first;  // the first failure, to say why
  std::vector<std::thread> writers;
  for (int t = 0; t < kThreads; ++t) {
    writers.emplace_back([&, t] {
      for (int i = 0; i < kPatches; ++i) {
        // Status writers and annotation writers race, as controllers do.
        HttpResponse r =
            t % 2 == 0
                ? Call("PATCH", kWidgets + "/a/status",
                       Json{{"status", {{"w" + std::to_string(t), i}}}}.dump(), {},
                       "application/merge-patch+json")
                : Call("PATCH", kWidgets + "/a",
                       Json{{"metadata",
                             {{"annotations", {{"w" + std::to_string(t), std::to_string(i)}}}}}}
                           .dump(),
                       {}, "application/merge-patch+json");
        if (r.status != 200 && failures++ == 0) {
          std::lock_guard<std::mutex> lock(first_mu);
          first = std::to_string(r.status) + " " + r.body;
        }
      }
    });
  }
  for (std::thread& w : writers) w.join();
  EXPECT_EQ(failures.load(), 0) << first;
  Json a = Json::parse(Call("GET", kWidgets + "/a").body);
  EXPECT_EQ(a["status"]["w0"], kPatches - 1);
  EXPECT_EQ(a["metadata"]["annotations"]["w1"], std::to_string(kPatches - 1));
  std::string stale = a["metadata"]["resourceVersion"];
  ASSERT_EQ(Call("PATCH", kWidgets + "/a", R"({"spec":{"size":2}})", {},
                 "application/merge-patch+json")
                .status,
            200);
  HttpResponse conflict =
      Call("PATCH", kWidgets + "/a",
           Json{{"metadata", {{"resourceVersion", stale}}}, {"spec", {{"size", 3}}}}.dump(), {},
           "application/merge-patch+json");
  EXPECT_EQ(conflict.status, 409) << conflict.body;
  HttpResponse json_conflict =
      Call("PATCH", kWidgets + "/a",
           Json::array({{{"op", "test"}, {"path", "/metadata/resourceVersion"}, {"value", stale}},
                        {{"op", "replace"}, {"path", "/spec/size"}, {"value", 4}}})
               .dump(),
           {}, "application/json-patch+json");
  EXPECT_NE(json_conflict.status, 200) << json_conflict.body;
}

// A CRD the server could not serve is refused when it is written, never accepted and then
// silently not served.
// The metrics observer hears of every request with kube-apiserver's verb for it.
TEST_F(HandlerTest, EveryRequestIsReportedWithItsKubeVerb) {
  std::vector<std::string> seen;
  HandlerOptions options{kToken, "127.0.0.1:1"};
  options.on_request = [&seen](const RequestRecord& r) {
    EXPECT_GE(r.seconds, 0);
    seen.push_back(std::string(r.verb) + " " + std::string(r.group) + "/" +
                   std::string(r.resource) + "/" + std::string(r.subresource) + " " +
                   std::to_string(r.code));
  };
  handler_.reset();
  handler_ = std::make_unique<Handler>(*store_, clock_, options);
  ASSERT_TRUE(handler_->Start("").ok());
  Call("POST", kWidgets, Widget("a", 1));
  Call("GET", kWidgets);
  Call("GET", kWidgets + "/a");
  Call("PATCH", kWidgets + "/a/status", R"({"status":{"phase":"Ready"}})", {},
       "application/merge-patch+json");
  Call("PATCH", kWidgets + "/a",
       "apiVersion: example.dev/v1\nkind: Widget\nmetadata: {name: a}\nspec: {size: 1}\n",
       {{"fieldManager", "t"}}, "application/apply-patch+yaml");
  Call("PUT", kWidgets + "/b", Widget("b", 1));
  Call("DELETE", kWidgets + "/a");
  Call("DELETE", kWidgets);
  Call("GET", "/version");
  Call("GET", "/apis/example.dev/v1/namespaces/default/gadgets");
  EXPECT_EQ(seen, (std::vector<std::string>{
                      "POST example.dev/widgets/ 201", "LIST example.dev/widgets/ 200",
                      "GET example.dev/widgets/ 200", "PATCH example.dev/widgets/status 200",
                      "APPLY example.dev/widgets/ 200", "PUT example.dev/widgets/ 404",
                      "DELETE example.dev/widgets/ 200",
                      "DELETECOLLECTION example.dev/widgets/ 200", "GET // 200", "GET // 404"}));
}

TEST_F(HandlerTest, CrdsThatCannotBeServedAreRefused) {
  Json crd = Json::parse(kWidgetCrd);
  crd["metadata"]["name"] = "gadgets.apps";
  crd["spec"]["group"] = "apps";
  crd["spec"]["names"] = {{"kind", "Gadget"}, {"plural", "gadgets"}, {"singular", "gadget"}};
  HttpResponse r =
      Call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd.dump());
  EXPECT_EQ(r.status, 422) << r.body;
  EXPECT_NE(r.body.find("spec.group"), std::string::npos) << r.body;
  EXPECT_EQ(Call("GET", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/gadgets.apps")
                .status,
            404);

  // apiextensions.k8s.io/v1 requires a schema for every version, as kube-apiserver does.
  Json schemaless = Json::parse(kWidgetCrd);
  schemaless["metadata"]["name"] = "gizmos.example.dev";
  schemaless["spec"]["names"] = {{"kind", "Gizmo"}, {"plural", "gizmos"}, {"singular", "gizmo"}};
  schemaless["spec"]["versions"][0].erase("schema");
  HttpResponse no_schema =
      Call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", schemaless.dump());
  EXPECT_EQ(no_schema.status, 422) << no_schema.body;
  EXPECT_NE(no_schema.body.find("spec.versions[0].schema.openAPIV3Schema"), std::string::npos)
      << no_schema.body;
  EXPECT_NE(no_schema.body.find("Required value"), std::string::npos) << no_schema.body;
}

TEST_F(HandlerTest, StatusSubresourceSeparatesSpecAndStatus) {
  ASSERT_EQ(Call("POST", kWidgets, Widget("a", 1)).status, 201);
  HttpResponse s = Call("PATCH", kWidgets + "/a/status",
                        R"({"status":{"phase":"Ready"},"spec":{"size":9}})", {},
                        "application/merge-patch+json");
  ASSERT_EQ(s.status, 200) << s.body;
  Json after_status = Json::parse(s.body);
  EXPECT_EQ(after_status["status"]["phase"], "Ready");
  EXPECT_EQ(after_status["spec"]["size"], 1);
  EXPECT_EQ(after_status["metadata"]["generation"], 1);
  HttpResponse m = Call("PATCH", kWidgets + "/a", R"({"status":{"phase":"Lost"},"spec":{"size":5}})",
                        {}, "application/merge-patch+json");
  ASSERT_EQ(m.status, 200) << m.body;
  Json after_main = Json::parse(m.body);
  EXPECT_EQ(after_main["status"]["phase"], "Ready");
  EXPECT_EQ(after_main["spec"]["size"], 5);
  EXPECT_EQ(after_main["metadata"]["generation"], 2);
  HttpResponse json_patch = Call("PATCH", kWidgets + "/a",
                                 R"([{"op":"replace","path":"/spec/size","value":6}])", {},
                                 "application/json-patch+json");
  EXPECT_EQ(json_patch.status, 200);
  HttpResponse smp = Call("PATCH", kWidgets + "/a", R"({"spec":{"size":7}})", {},
                          "application/strategic-merge-patch+json");
  EXPECT_EQ(smp.status, 415);
}

TEST_F(HandlerTest, ServerSideApplyCreatesTracksAndRefusesConflicts) {
  const std::string kApply = "application/apply-patch+yaml";
  const std::string config =
      "apiVersion: example.dev/v1\nkind: Widget\nmetadata: {name: b}\nspec: {size: 2}\n";
  HttpResponse no_manager = Call("PATCH", kWidgets + "/b", config, {}, kApply);
  EXPECT_EQ(no_manager.status, 400);
  EXPECT_NE(no_manager.body.find("fieldManager"), std::string::npos) << no_manager.body;
  HttpResponse wrong_name =
      Call("PATCH", kWidgets + "/c", config, {{"fieldManager", "ci"}}, kApply);
  EXPECT_EQ(wrong_name.status, 400);
  EXPECT_NE(wrong_name.body.find("does not match the name on the URL"), std::string::npos);

  HttpResponse created = Call("PATCH", kWidgets + "/b", config, {{"fieldManager", "ci"}}, kApply);
  ASSERT_EQ(created.status, 201) << created.body;
  Json b = Json::parse(created.body);
  EXPECT_EQ(b["spec"]["color"], "blue");  // defaults and validation as for any write
  EXPECT_EQ(b["metadata"]["generation"], 1);
  ASSERT_EQ(b["metadata"]["managedFields"].size(), 1u);

  // An invalid configuration is refused like any invalid object.
  HttpResponse invalid = Call("PATCH", kWidgets + "/b",
                              "apiVersion: example.dev/v1\nkind: Widget\nmetadata: {name: b}\n"
                              "spec: {size: 0}\n",
                              {{"fieldManager", "ci"}}, kApply);
  EXPECT_EQ(invalid.status, 422) << invalid.body;

  // A merge patch by someone else takes the field; applying another value conflicts.
  ASSERT_EQ(Call("PATCH", kWidgets + "/b", R"({"spec":{"size":3}})", {{"fieldManager", "ops"}},
                 "application/merge-patch+json")
                .status,
            200);
  HttpResponse conflict = Call("PATCH", kWidgets + "/b", config, {{"fieldManager", "ci"}}, kApply);
  ASSERT_EQ(conflict.status, 409) << conflict.body;
  Json status = Json::parse(conflict.body);
  EXPECT_EQ(status["reason"], "Conflict");
  EXPECT_EQ(status["message"],
            "Apply failed with 1 conflict: conflict with \"ops\" using example.dev/v1: .spec.size");
  EXPECT_EQ(status["details"]["causes"][0]["field"], ".spec.size");
  EXPECT_EQ(status["details"]["causes"][0]["reason"], "FieldManagerConflict");
  HttpResponse forced =
      Call("PATCH", kWidgets + "/b", config, {{"fieldManager", "ci"}, {"force", "true"}}, kApply);
  ASSERT_EQ(forced.status, 200) << forced.body;
  EXPECT_EQ(Json::parse(forced.body)["spec"]["size"], 2);
  EXPECT_EQ(Json::parse(forced.body)["metadata"]["generation"], 3);
}

TEST_F(HandlerTest, FinalizersHoldDeletionUntilRemoved) {
  Json w = Json::parse(Widget("f", 1));
  w["metadata"]["finalizers"] = {"example.dev/cleanup"};
  ASSERT_EQ(Call("POST", kWidgets, w.dump()).status, 201);
  HttpResponse d = Call("DELETE", kWidgets + "/f");
  ASSERT_EQ(d.status, 202) << d.body;
  Json pending = Json::parse(Call("GET", kWidgets + "/f").body);
  EXPECT_TRUE(pending["metadata"].contains("deletionTimestamp"));
  ASSERT_EQ(RemoveFinalizers("f"), 200);
  EXPECT_EQ(Call("GET", kWidgets + "/f").status, 404);
}

TEST_F(HandlerTest, DeletingAnOwnerDeletesItsDependents) {
  Json owner = Json::parse(Call("POST", kWidgets, Widget("owner", 1)).body);
  ASSERT_EQ(Call("POST", kWidgets, OwnedWidget("child", owner).dump()).status, 201);
  ASSERT_EQ(Call("POST", "/api/v1/namespaces/default/configmaps",
                 R"({"metadata":{"name":"unrelated"},"data":{"a":"b"}})")
                .status,
            201);
  ASSERT_EQ(Call("DELETE", kWidgets + "/owner").status, 200);
  EXPECT_TRUE(WaitUntil([&] { return Call("GET", kWidgets + "/child").status == 404; }));
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/default/configmaps/unrelated").status, 200);
}

TEST_F(HandlerTest, ForegroundDeletionKeepsTheOwnerUntilBlockingDependentsAreGone) {
  Json owner = Json::parse(Call("POST", kWidgets, Widget("owner", 1)).body);
  ASSERT_EQ(Call("POST", kWidgets, OwnedWidget("blocking", owner, true, true).dump()).status, 201);
  ASSERT_EQ(Call("POST", kWidgets, OwnedWidget("plain", owner, false).dump()).status, 201);
  ASSERT_EQ(
      Call("POST", kWidgets, OwnedWidget("slow-nonblocking", owner, false, true).dump()).status,
      201);

  EXPECT_EQ(Call("DELETE", kWidgets + "/owner", R"({"propagationPolicy":"Sideways"})").status, 400);
  HttpResponse d = Call("DELETE", kWidgets + "/owner", R"({"propagationPolicy":"Foreground"})");
  ASSERT_EQ(d.status, 202) << d.body;
  Json pending = Json::parse(d.body);
  EXPECT_TRUE(pending["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(pending["metadata"]["finalizers"], Json::array({"foregroundDeletion"}));

  auto marked = [&](const std::string& name) {
    return Json::parse(Call("GET", kWidgets + "/" + name).body)["metadata"].contains(
        "deletionTimestamp");
  };
  // Every dependent is deleted; those with finalizers are only marked.
  ASSERT_TRUE(WaitUntil([&] { return Call("GET", kWidgets + "/plain").status == 404; }));
  ASSERT_TRUE(WaitUntil([&] { return marked("blocking"); }));
  ASSERT_TRUE(WaitUntil([&] { return marked("slow-nonblocking"); }));
  // The owner waits for the blocking dependent (not for the one that does not block).
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(Call("GET", kWidgets + "/owner").status, 200);

  ASSERT_EQ(RemoveFinalizers("blocking"), 200);
  EXPECT_TRUE(WaitUntil([&] { return Call("GET", kWidgets + "/owner").status == 404; }));
  EXPECT_EQ(Call("GET", kWidgets + "/slow-nonblocking").status, 200);

  // An owner without dependents goes at once.
  ASSERT_EQ(Call("POST", kWidgets, Widget("alone", 1)).status, 201);
  EXPECT_EQ(Call("DELETE", kWidgets + "/alone", R"({"propagationPolicy":"Foreground"})").status,
            200);
  EXPECT_EQ(Call("GET", kWidgets + "/alone").status, 404);
}

TEST_F(HandlerTest, ForegroundDeletionResumesAfterARestart) {
  Json owner = Json::parse(Call("POST", kWidgets, Widget("owner", 1)).body);
  ASSERT_EQ(Call("POST", kWidgets, OwnedWidget("child", owner, true, true).dump()).status, 201);
  ASSERT_EQ(Call("DELETE", kWidgets + "/owner", R"({"propagationPolicy":"Foreground"})").status,
            202);
  handler_.reset();
  handler_ = std::make_unique<Handler>(*store_, clock_, HandlerOptions{kToken, "127.0.0.1:1"});
  ASSERT_TRUE(handler_->Start("").ok());
  EXPECT_EQ(Call("GET", kWidgets + "/owner").status, 200);
  ASSERT_EQ(RemoveFinalizers("child"), 200);
  EXPECT_TRUE(WaitUntil([&] { return Call("GET", kWidgets + "/owner").status == 404; }));
}

TEST_F(HandlerTest, ListsFilterAndPage) {
  for (int i = 0; i < 5; ++i) {
    Json w = Json::parse(Widget("w" + std::to_string(i), 1));
    w["metadata"]["labels"] = {{"parity", i % 2 ? "odd" : "even"}};
    ASSERT_EQ(Call("POST", kWidgets, w.dump()).status, 201);
  }
  Json even = Json::parse(Call("GET", kWidgets, "", {{"labelSelector", "parity=even"}}).body);
  EXPECT_EQ(even["items"].size(), 3u);
  EXPECT_EQ(even["kind"], "WidgetList");
  Json by_name = Json::parse(Call("GET", kWidgets, "", {{"fieldSelector", "metadata.name=w3"}}).body);
  ASSERT_EQ(by_name["items"].size(), 1u);
  std::vector<std::string> names;
  std::string token;
  do {
    std::map<std::string, std::string> q = {{"limit", "2"}};
    if (!token.empty()) {
      q["continue"] = token;
    }
    Json page = Json::parse(Call("GET", kWidgets, "", q).body);
    EXPECT_LE(page["items"].size(), 2u);
    for (const Json& item : page["items"]) {
      names.push_back(item["metadata"]["name"]);
    }
    token = page["metadata"].value("continue", "");
  } while (!token.empty());
  EXPECT_EQ(names, (std::vector<std::string>{"w0", "w1", "w2", "w3", "w4"}));
  EXPECT_EQ(Call("GET", kWidgets, "", {{"labelSelector", "parity in (x"}}).status, 400);
  Json table = Json::parse(
      Call("GET", kWidgets, "", {}, "", "application/json;as=Table;v=v1;g=meta.k8s.io").body);
  EXPECT_EQ(table["kind"], "Table");
  EXPECT_EQ(table["rows"].size(), 5u);
  EXPECT_EQ(table["columnDefinitions"][1]["name"], "Age");
}

TEST_F(HandlerTest, LaterPagesOfAListShowTheFirstPagesRevision) {
  for (int i = 0; i < 4; ++i) {
    ASSERT_EQ(Call("POST", kWidgets, Widget("w" + std::to_string(i), 1)).status, 201);
  }
  Json first = Json::parse(Call("GET", kWidgets, "", {{"limit", "2"}}).body);
  ASSERT_EQ(first["items"].size(), 2u);
  std::string rv = first["metadata"]["resourceVersion"];
  std::string token = first["metadata"]["continue"];
  // Between the pages: one listed object deleted, one changed, one added.
  ASSERT_EQ(Call("DELETE", kWidgets + "/w2").status, 200);
  ASSERT_EQ(
      Call("PATCH", kWidgets + "/w3", R"({"spec":{"size":9}})", {}, "application/merge-patch+json")
          .status,
      200);
  ASSERT_EQ(Call("POST", kWidgets, Widget("w25", 1)).status, 201);
  Json second = Json::parse(Call("GET", kWidgets, "", {{"limit", "2"}, {"continue", token}}).body);
  ASSERT_EQ(second["items"].size(), 2u) << second.dump();
  EXPECT_EQ(second["items"][0]["metadata"]["name"], "w2");
  EXPECT_EQ(second["items"][1]["metadata"]["name"], "w3");
  EXPECT_EQ(second["items"][1]["spec"]["size"], 1);
  EXPECT_EQ(second["metadata"]["resourceVersion"], rv);
  EXPECT_FALSE(second["metadata"].contains("continue"));
  // The same revision on demand, and a revision not reached yet.
  Json exact = Json::parse(
      Call("GET", kWidgets, "", {{"resourceVersion", rv}, {"resourceVersionMatch", "Exact"}}).body);
  EXPECT_EQ(exact["items"].size(), 4u);
  HttpResponse future =
      Call("GET", kWidgets, "", {{"resourceVersion", "999999"}, {"resourceVersionMatch", "Exact"}});
  EXPECT_EQ(future.status, 504);
  EXPECT_EQ(Json::parse(future.body)["reason"], "Timeout");

  // Once the event log (20 events here) has moved past the first page's revision, the client is
  // told so (410 Expired) and given a token to go on without the guarantee.
  for (int i = 0; i < 25; ++i) {
    ASSERT_EQ(Call("PATCH", kWidgets + "/w0", Json{{"spec", {{"size", i + 2}}}}.dump(), {},
                   "application/merge-patch+json")
                  .status,
              200);
  }
  HttpResponse expired = Call("GET", kWidgets, "", {{"limit", "2"}, {"continue", token}});
  ASSERT_EQ(expired.status, 410) << expired.body;
  Json status = Json::parse(expired.body);
  EXPECT_EQ(status["reason"], "Expired");
  std::string inconsistent = status["metadata"]["continue"];
  Json rest = Json::parse(Call("GET", kWidgets, "", {{"continue", inconsistent}}).body);
  ASSERT_EQ(rest["items"].size(), 2u) << rest.dump();
  EXPECT_EQ(rest["items"][0]["metadata"]["name"], "w25");
  EXPECT_EQ(rest["items"][1]["metadata"]["name"], "w3");
}

TEST_F(HandlerTest, WatchStreamsEventsInOrderAndExpiresOldVersions) {
  Json first = Json::parse(Call("POST", kWidgets, Widget("a", 1)).body);
  std::string rv = first["metadata"]["resourceVersion"];
  HttpResponse w = Call("GET", kWidgets, "", {{"watch", "true"}, {"resourceVersion", rv}});
  ASSERT_TRUE(w.stream);
  auto writer = std::make_shared<MemoryWriter>();
  w.stream(writer);
  ASSERT_EQ(Call("POST", kWidgets, Widget("b", 1)).status, 201);
  ASSERT_EQ(Call("PATCH", kWidgets + "/b", R"({"spec":{"size":3}})", {},
                 "application/merge-patch+json")
                .status,
            200);
  ASSERT_EQ(Call("DELETE", kWidgets + "/a").status, 200);
  std::vector<Json> events = writer->WaitFor(3);
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0]["type"], "ADDED");
  EXPECT_EQ(events[0]["object"]["metadata"]["name"], "b");
  EXPECT_EQ(events[1]["type"], "MODIFIED");
  EXPECT_EQ(events[1]["object"]["spec"]["size"], 3);
  EXPECT_EQ(events[2]["type"], "DELETED");
  EXPECT_EQ(events[2]["object"]["metadata"]["name"], "a");

  for (int i = 0; i < 30; ++i) {
    ASSERT_EQ(Call("POST", kWidgets, Widget("x" + std::to_string(i), 1)).status, 201);
  }
  HttpResponse old = Call("GET", kWidgets, "", {{"watch", "1"}, {"resourceVersion", rv}});
  auto expired = std::make_shared<MemoryWriter>();
  old.stream(expired);
  std::vector<Json> error = expired->WaitFor(1);
  ASSERT_EQ(error.size(), 1u);
  EXPECT_EQ(error[0]["type"], "ERROR");
  EXPECT_EQ(error[0]["object"]["code"], 410);
  EXPECT_EQ(error[0]["object"]["reason"], "Expired");
}

TEST_F(HandlerTest, SecretsTakeStringDataAndNamespacesTerminate) {
  ASSERT_EQ(Call("POST", "/api/v1/namespaces", R"({"metadata":{"name":"team"}})").status, 201);
  HttpResponse s = Call("POST", "/api/v1/namespaces/team/secrets",
                        R"({"metadata":{"name":"s"},"stringData":{"k":"hello"}})");
  ASSERT_EQ(s.status, 201) << s.body;
  Json secret = Json::parse(s.body);
  EXPECT_EQ(secret["data"]["k"], "aGVsbG8=");
  EXPECT_EQ(secret["type"], "Opaque");
  EXPECT_FALSE(secret.contains("stringData"));
  HttpResponse bad = Call("POST", "/api/v1/namespaces/team/secrets",
                          R"({"metadata":{"name":"b"},"data":{"k":"not base64!"}})");
  EXPECT_EQ(bad.status, 422);
  ASSERT_EQ(Call("DELETE", "/api/v1/namespaces/team").status, 202);
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (Call("GET", "/api/v1/namespaces/team").status != 404 &&
         std::chrono::steady_clock::now() < deadline) {
    std::this_thread::yield();
  }
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/team").status, 404);
  EXPECT_EQ(Call("GET", "/api/v1/namespaces/team/secrets/s").status, 404);
}

// What `kubectl describe` asks for: the Events of one object, by involvedObject fields; and a
// CRD's selectableFields.
TEST_F(HandlerTest, EventsAndCrdSelectableFieldsFilterByField) {
  const std::string events = "/api/v1/namespaces/default/events";
  for (const auto& [name, about] : {std::pair<std::string, std::string>{"e1", "a"}, {"e2", "b"}}) {
    Json event = {
        {"metadata", {{"name", name}}},
        {"involvedObject", {{"kind", "Widget"}, {"name", about}, {"namespace", "default"}}},
        {"reason", "Tested"},
        {"type", "Normal"},
        {"message", "about " + about}};
    ASSERT_EQ(Call("POST", events, event.dump()).status, 201);
  }
  HttpResponse list = Call("GET", events, "",
                           {{"fieldSelector", "involvedObject.name=a,involvedObject.kind=Widget"}});
  ASSERT_EQ(list.status, 200) << list.body;
  Json items = Json::parse(list.body)["items"];
  ASSERT_EQ(items.size(), 1u) << list.body;
  EXPECT_EQ(items[0]["metadata"]["name"], "e1");
  HttpResponse table = Call("GET", events, "", {}, "application/json",
                            "application/json;as=Table;v=v1;g=meta.k8s.io");
  ASSERT_EQ(table.status, 200);
  EXPECT_NE(table.body.find("\"widget/a\""), std::string::npos) << table.body;
  HttpResponse bad = Call("GET", events, "", {{"fieldSelector", "spec.nothing=1"}});
  EXPECT_EQ(bad.status, 400);
  EXPECT_NE(bad.body.find("field label not supported: spec.nothing"), std::string::npos);

  Json crd = Json::parse(kWidgetCrd);
  crd["metadata"]["name"] = "gadgets.example.dev";
  crd["spec"]["names"] = {{"plural", "gadgets"}, {"singular", "gadget"}, {"kind", "Gadget"}};
  crd["spec"]["versions"][0]["selectableFields"] = {{{"jsonPath", ".spec.color"}}};
  ASSERT_EQ(
      Call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", crd.dump()).status,
      201);
  const std::string gadgets = "/apis/example.dev/v1/namespaces/default/gadgets";
  for (const auto& [name, color] :
       {std::pair<std::string, std::string>{"g1", "red"}, {"g2", "green"}}) {
    Json g = {{"apiVersion", "example.dev/v1"},
              {"kind", "Gadget"},
              {"metadata", {{"name", name}}},
              {"spec", {{"size", 1}, {"color", color}}}};
    ASSERT_EQ(Call("POST", gadgets, g.dump()).status, 201);
  }
  HttpResponse green = Call("GET", gadgets, "", {{"fieldSelector", "spec.color=green"}});
  ASSERT_EQ(green.status, 200) << green.body;
  ASSERT_EQ(Json::parse(green.body)["items"].size(), 1u);
  EXPECT_EQ(Json::parse(green.body)["items"][0]["metadata"]["name"], "g2");
  EXPECT_EQ(Call("GET", kWidgets, "", {{"fieldSelector", "spec.color=green"}}).status, 400)
      << "widgets declare no selectable fields";
}

// Deleting a CRD deletes its custom resources first (their finalizers hold it), refuses new ones
// meanwhile, and leaves nothing behind for a CRD of the same name created later.
TEST_F(HandlerTest, DeletingACrdDeletesItsCustomResourcesFirst) {
  const std::string crd =
      "/apis/apiextensions.k8s.io/v1/customresourcedefinitions/widgets.example.dev";
  ASSERT_EQ(Call("POST", kWidgets, Widget("plain", 1)).status, 201);
  Json held = Json::parse(Widget("held", 2));
  held["metadata"]["finalizers"] = {"example.dev/hold"};
  ASSERT_EQ(Call("POST", kWidgets, held.dump()).status, 201);

  HttpResponse deleting = Call("DELETE", crd);
  ASSERT_EQ(deleting.status, 202) << deleting.body;
  Json terminating = Json::parse(deleting.body);
  EXPECT_TRUE(terminating["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(terminating["status"]["conditions"].back()["type"], "Terminating");
  HttpResponse refused = Call("POST", kWidgets, Widget("late", 3));
  EXPECT_EQ(refused.status, 403) << refused.body;
  EXPECT_NE(refused.body.find("terminating"), std::string::npos) << refused.body;

  auto wait_for = [&](const std::string& path, int status) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
    while (Call("GET", path).status != status && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::yield();
    }
    return Call("GET", path).status == status;
  };
  ASSERT_TRUE(wait_for(kWidgets + "/plain", 404));
  HttpResponse still = Call("GET", kWidgets + "/held");
  ASSERT_EQ(still.status, 200) << "its finalizer holds it";
  EXPECT_TRUE(Json::parse(still.body)["metadata"].contains("deletionTimestamp"));
  EXPECT_EQ(Call("GET", crd).status, 200) << "the CRD waits for its last custom resource";

  ASSERT_EQ(RemoveFinalizers("held"), 200);
  ASSERT_TRUE(wait_for(crd, 404));
  EXPECT_EQ(Call("GET", kWidgets).status, 404) << "no longer served";
  ASSERT_EQ(
      Call("POST", "/apis/apiextensions.k8s.io/v1/customresourcedefinitions", kWidgetCrd).status,
      201);
  HttpResponse list = Call("GET", kWidgets);
  ASSERT_EQ(list.status, 200) << list.body;
  EXPECT_TRUE(Json::parse(list.body)["items"].empty()) << list.body;
}

}  // namespace
}  // namespace lifeboat::apiserver
