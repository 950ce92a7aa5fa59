// `kubectl` (the real binary) against `lifeboat up` (the real binary) on a free port with a
// temporary data directory.
#include <signal.h>

#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "api/json.h"
#include "tests/e2e/kubectl_binary.h"
#include "tests/e2e/subprocess.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::testing {
namespace {

using std::chrono::seconds;

std::string Quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'') {
      out += "'\\''";
    } else {
      out += c;
    }
  }
  return out + "'";
}

// The lifeboat binary of this build: $LIFEBOAT_BINARY, else the one CMake compiled in.
std::filesystem::path Binary() {
  const char* env = std::getenv("LIFEBOAT_BINARY");
  return env && *env ? std::filesystem::path(env) : std::filesystem::path(LIFEBOAT_E2E_BINARY);
}

std::filesystem::path Source() {
  const char* env = std::getenv("LIFEBOAT_SOURCE_DIR");
  return env && *env ? std::filesystem::path(env)
                     : std::filesystem::path(LIFEBOAT_E2E_SOURCE_DIR);
}

std::filesystem::path TestData(const std::string& name) {
  return Source() / "tests" / "e2e" / "testdata" / name;
}

// The kubectl under test (tests/e2e/kubectl_binary.h), looked up once.
const KubectlBinary& KubectlUnderTest() {
  static const KubectlBinary k = FindKubectl();
  return k;
}

// One `lifeboat up` process and a kubectl bound to its kubeconfig.
class LifeboatUp {
 public:
  LifeboatUp(const TempDir& dir, std::vector<std::string> extra) : dir_(dir) {
    // Port 0 for the API server and /metrics: suites run in parallel.
    std::vector<std::string> argv = {Binary().string(), "up", "--data-dir",
                                     (dir.path() / "data").string(), "--port", "0",
                                     "--metrics-bind-address", "127.0.0.1:0"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    process_ = std::make_unique<Subprocess>(argv);
    ready_ = process_->WaitForText("kubectl get lifeboat", std::chrono::seconds(30));
    std::smatch m;
    std::string out = process_->output();
    if (std::regex_search(out, m, std::regex("kubeconfig: (\\S+)"))) {
      kubeconfig_ = m[1];
    }
  }

  bool ready() const { return ready_ && !kubeconfig_.empty(); }
  std::string output() const { return process_->output(); }
  int Stop() { return process_->Stop(SIGTERM, std::chrono::seconds(20)); }

  std::string KubectlCommand(const std::string& args) const {
    return "env HOME=" + Quote(dir_.path().string()) + " KUBECONFIG=" + Quote(kubeconfig_) + " " +
           KubectlUnderTest().command + " " + args;
  }
  CommandResult Kubectl(const std::string& args) const {
    return RunCommand(KubectlCommand(args) + " 2>&1");
  }
  // kubectl that must succeed; returns its output.
  std::string Ok(const std::string& args) const {
    CommandResult r = Kubectl(args);
    EXPECT_EQ(r.exit_code, 0) << "kubectl " << args << "\n" << r.output;
    return r.output;
  }

 private:
  const TempDir& dir_;
  std::unique_ptr<Subprocess> process_;
  bool ready_ = false;
  std::string kubeconfig_;
};

bool Contains(const std::string& haystack, const std::string& needle) {
  return haystack.find(needle) != std::string::npos;
}

bool MatchesLine(const std::string& text, const std::string& pattern) {
  return std::regex_search(text, std::regex(pattern));
}

class KubectlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!KubectlUnderTest().missing.empty()) {
      GTEST_SKIP() << KubectlUnderTest().missing;
    }
  }
  static int Minor() { return KubectlUnderTest().minor; }
  // Replaces the status of Widget e2e/`name`: `patch --subresource=status` from kubectl 1.24;
  // before it, a PUT of the object to its /status path with `replace --raw`.
  void SetStatus(const LifeboatUp& up, const std::string& name, const Json& status) {
    if (Minor() >= 24) {
      up.Ok("patch widget " + name + " -n e2e --subresource=status --type=merge -p " +
            Quote(Json{{"status", status}}.dump()));
      return;
    }
    Json object = Json::parse(up.Ok("get widget " + name + " -n e2e -o json"));
    object["status"] = status;
    std::filesystem::path file = dir_.WriteFile(name + "-status.json", object.dump());
    up.Ok("replace --raw /apis/e2e.lifeboat.dev/v1/namespaces/e2e/widgets/" + name + "/status -f " +
          file.string());
  }
  void StartWithFixtures(LifeboatUp& up) {
    ASSERT_TRUE(up.ready()) << up.output();
    EXPECT_TRUE(Contains(up.Ok("apply -f " + TestData("widget-crd.yaml").string()),
                         "customresourcedefinition.apiextensions.k8s.io/widgets.e2e.lifeboat.dev"));
    up.Ok("wait --for condition=established --timeout=20s crd/widgets.e2e.lifeboat.dev");
    std::string applied = up.Ok("apply -f " + TestData("widgets.yaml").string());
    EXPECT_TRUE(Contains(applied, "namespace/e2e created")) << applied;
    EXPECT_TRUE(Contains(applied, "widget.e2e.lifeboat.dev/small created")) << applied;
  }
  TempDir dir_;
};

TEST_F(KubectlTest, ApplyGetExplainWaitPatchAndValidate) {
  LifeboatUp up(dir_, {});
  StartWithFixtures(up);

  std::string table = up.Ok("get widgets -n e2e");
  EXPECT_TRUE(MatchesLine(table, "NAME\\s+SIZE\\s+COLOR\\s+READY\\s+AGE")) << table;
  EXPECT_TRUE(MatchesLine(table, "small\\s+2\\s+red\\s+\\S+")) << table;
  EXPECT_TRUE(MatchesLine(table, "large\\s+40\\s+blue")) << table;  // the schema default
  EXPECT_TRUE(MatchesLine(up.Ok("get fixtures -n e2e"), "large\\s+40"));
  EXPECT_EQ(up.Ok("get wd -n e2e -l tier=front -o name"), "widget.e2e.lifeboat.dev/small\n");

  std::string yaml = up.Ok("get widget small -n e2e -o yaml");
  EXPECT_TRUE(Contains(yaml, "size: 2")) << yaml;
  EXPECT_TRUE(MatchesLine(yaml, "resourceVersion: \"\\d+\"")) << yaml;
  EXPECT_TRUE(MatchesLine(yaml, "uid: [0-9a-f-]{36}")) << yaml;
  EXPECT_TRUE(Contains(yaml, "generation: 1")) << yaml;
  EXPECT_TRUE(Contains(up.Ok("get secret widget-key -n e2e -o jsonpath={.data.key}"),
                       "bm90LXZlcnktc2VjcmV0"));

  // kubectl's typed generators send protobuf bodies.
  up.Ok("create namespace made-by-create");
  up.Ok("create secret generic generated -n made-by-create --from-literal=k=v");
  EXPECT_EQ(up.Ok("get secret generated -n made-by-create -o jsonpath={.data.k}"), "dg==");
  EXPECT_TRUE(MatchesLine(up.Ok("get namespace made-by-create"), "made-by-create\\s+Active"));

  std::string explain = up.Ok("explain widget.spec");
  EXPECT_TRUE(Contains(explain, "size")) << explain;
  EXPECT_TRUE(Contains(explain, "How big the widget is")) << explain;

  CommandResult bad = up.Kubectl("apply -f " + TestData("bad-widget.yaml").string());
  EXPECT_NE(bad.exit_code, 0);
  EXPECT_TRUE(Contains(bad.output, "is invalid")) << bad.output;
  EXPECT_TRUE(Contains(bad.output, "spec.size")) << bad.output;
  EXPECT_TRUE(Contains(bad.output, "spec.color")) << bad.output;
  EXPECT_EQ(up.Kubectl("get widget broken -n e2e").exit_code, 1);

  SetStatus(up, "small",
            Json::parse(R"({"conditions":[{"type":"Ready","status":"True","reason":"Test",)"
                        R"("message":"set by the test",)"
                        R"("lastTransitionTime":"2026-01-01T00:00:00Z"}]})"));
  EXPECT_TRUE(Contains(up.Ok("wait --for=condition=Ready widget/small -n e2e --timeout=20s"),
                       "condition met"));
  EXPECT_TRUE(MatchesLine(up.Ok("get widgets -n e2e"), "small\\s+2\\s+red\\s+True"));

  up.Ok("patch widget large -n e2e --type=json -p " +
        Quote(R"([{"op":"replace","path":"/spec/size","value":41}])"));
  EXPECT_EQ(up.Ok("get widget large -n e2e -o jsonpath={.spec.size}/{.metadata.generation}"),
            "41/2");
  SetStatus(up, "small", Json::parse(R"({"conditions":[]})"));
  EXPECT_EQ(up.Ok("get widget small -n e2e -o jsonpath={.metadata.generation}"), "1");
}

TEST_F(KubectlTest, FinalizerHoldsDeletionAndStaleUpdateConflicts) {
  LifeboatUp up(dir_, {});
  StartWithFixtures(up);
  up.Ok("patch widget small -n e2e --type=merge -p " +
        Quote(R"({"metadata":{"finalizers":["e2e.lifeboat.dev/hold"]}})"));
  up.Ok("delete widget small -n e2e --wait=false");
  std::string ts = up.Ok("get widget small -n e2e -o jsonpath={.metadata.deletionTimestamp}");
  EXPECT_TRUE(MatchesLine(ts, "^\\d{4}-\\d\\d-\\d\\dT")) << ts;
  up.Ok("patch widget small -n e2e --type=merge -p " + Quote(R"({"metadata":{"finalizers":null}})"));
  CommandResult gone = up.Kubectl("get widget small -n e2e");
  EXPECT_NE(gone.exit_code, 0);
  EXPECT_TRUE(Contains(gone.output, "NotFound")) << gone.output;

  std::string stale = up.Ok("get widget large -n e2e -o json");
  std::filesystem::path stale_file = dir_.WriteFile("stale.json", stale);
  up.Ok("patch widget large -n e2e --type=merge -p " + Quote(R"({"spec":{"size":7}})"));
  CommandResult conflict = up.Kubectl("replace -f " + stale_file.string());
  EXPECT_NE(conflict.exit_code, 0);
  EXPECT_TRUE(Contains(conflict.output, "Conflict")) << conflict.output;
  EXPECT_TRUE(Contains(conflict.output, "the object has been modified")) << conflict.output;
}

// Client-side `kubectl apply` of a changed manifest: kubectl computes a three-way patch from the
// last-applied annotation (strategic merge for built-in kinds, JSON merge for custom resources),
// so changed values change, fields dropped from the manifest go, and others' fields stay.
TEST_F(KubectlTest, ClientSideApplyPatchesChangedManifests) {
  LifeboatUp up(dir_, {"--no-controllers"});
  StartWithFixtures(up);
  const std::string manifest = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: settings, namespace: e2e, labels: {app: demo, tier: front}}
data: {mode: fast, level: "3"}
---
apiVersion: e2e.lifeboat.dev/v1
kind: Widget
metadata: {name: csa, namespace: e2e, labels: {app: demo, tier: front}}
spec: {size: 5, color: green}
)";
  std::filesystem::path file = dir_.WriteFile("csa.yaml", manifest);
  std::string created = up.Ok("apply -f " + file.string());
  EXPECT_TRUE(Contains(created, "configmap/settings created")) << created;
  EXPECT_TRUE(Contains(created, "widget.e2e.lifeboat.dev/csa created")) << created;
  std::string again = up.Ok("apply -f " + file.string());
  EXPECT_TRUE(Contains(again, "configmap/settings unchanged")) << again;
  EXPECT_TRUE(Contains(again, "widget.e2e.lifeboat.dev/csa unchanged")) << again;

  // Someone else adds a label to each; the manifest then drops `tier` and `level`/`color`.
  up.Ok("label configmap settings -n e2e owner=ops");
  up.Ok("label widget csa -n e2e owner=ops");
  std::string changed = manifest;
  for (const char* from : {", tier: front", ", level: \"3\"", ", color: green"}) {
    for (size_t at; (at = changed.find(from)) != std::string::npos;) {
      changed.erase(at, std::string(from).size());
    }
  }
  changed.replace(changed.find("mode: fast"), 10, "mode: slow");
  changed.replace(changed.find("size: 5"), 7, "size: 6");
  dir_.WriteFile("csa.yaml", changed);
  std::string configured = up.Ok("apply -f " + file.string());
  EXPECT_TRUE(Contains(configured, "configmap/settings configured")) << configured;
  EXPECT_TRUE(Contains(configured, "widget.e2e.lifeboat.dev/csa configured")) << configured;
  Json cm = Json::parse(up.Ok("get configmap settings -n e2e -o json"));
  EXPECT_EQ(cm["data"], Json::parse(R"({"mode": "slow"})")) << cm.dump();
  EXPECT_EQ(cm["metadata"]["labels"], Json::parse(R"({"app": "demo", "owner": "ops"})"));
  Json widget = Json::parse(up.Ok("get widget csa -n e2e -o json"));
  // color was dropped from the manifest: the schema default comes back.
  EXPECT_EQ(widget["spec"], Json::parse(R"({"size": 6, "color": "blue"})")) << widget.dump();
  EXPECT_EQ(widget["metadata"]["labels"], Json::parse(R"({"app": "demo", "owner": "ops"})"));
  EXPECT_EQ(widget["metadata"]["generation"], 2);
  std::string last = widget["metadata"]["annotations"].value(
      "kubectl.kubernetes.io/last-applied-configuration", "");
  EXPECT_EQ(Json::parse(last)["spec"], Json::parse(R"({"size": 6})")) << last;
}

// `lifeboat up -f` applies as `kubectl apply` does: kubectl later finds the last-applied
// annotation it expects (no "missing the annotation" warning), sees nothing to change, and a
// field dropped from the manifest goes.
TEST_F(KubectlTest, ApplyAfterLifeboatUpDashFIsUnchangedWithoutWarning) {
  const std::string manifest = R"(apiVersion: v1
kind: ConfigMap
metadata: {name: from-up, namespace: default, labels: {app: demo}}
data: {mode: fast, level: "3"}
)";
  std::filesystem::path file = dir_.WriteFile("up.yaml", manifest);
  LifeboatUp up(dir_, {"--no-controllers", "-f", file.string()});
  ASSERT_TRUE(up.ready()) << up.output();
  EXPECT_TRUE(Contains(up.output(), "configmap/from-up created")) << up.output();
  std::string again = up.Ok("apply -f " + file.string());
  EXPECT_TRUE(Contains(again, "configmap/from-up unchanged")) << again;
  EXPECT_FALSE(Contains(again, "Warning")) << again;
  std::string changed = manifest;
  changed.replace(changed.find(", level: \"3\""), 12, "");
  dir_.WriteFile("up.yaml", changed);
  std::string configured = up.Ok("apply -f " + file.string());
  EXPECT_TRUE(Contains(configured, "configmap/from-up configured")) << configured;
  Json cm = Json::parse(up.Ok("get configmap from-up -o json"));
  EXPECT_EQ(cm["data"], Json::parse(R"({"mode": "fast"})")) << cm.dump();
}

// `kubectl apply --server-side` (what GitOps tools such as Flux use): create, field ownership in
// managedFields, conflicts with another manager's change, --force-conflicts, fields dropped from
// the manifest removed, and objects made by client-side apply taken over.
TEST_F(KubectlTest, ServerSideApplyOwnsFieldsAndReportsConflicts) {
  LifeboatUp up(dir_, {"--no-controllers"});
  StartWithFixtures(up);
  const std::string manifest = R"(apiVersion: e2e.lifeboat.dev/v1
kind: Widget
metadata:
  name: ssa
  namespace: e2e
  labels: {owner: gitops}
spec:
  size: 3
  color: red
)";
  std::filesystem::path file = dir_.WriteFile("ssa.yaml", manifest);
  const std::string apply = "apply --server-side --field-manager=gitops -f " + file.string();
  EXPECT_TRUE(Contains(up.Ok(apply), "widget.e2e.lifeboat.dev/ssa serverside-applied"));
  // kubectl shows managedFields by default before 1.21 and with this flag since.
  Json live = Json::parse(up.Ok("get widget ssa -n e2e -o json" +
                                std::string(Minor() >= 21 ? " --show-managed-fields" : "")));
  ASSERT_EQ(live["metadata"]["managedFields"].size(), 1u) << live.dump(1);
  const Json& entry = live["metadata"]["managedFields"][0];
  EXPECT_EQ(entry["manager"], "gitops");
  EXPECT_EQ(entry["operation"], "Apply");
  EXPECT_EQ(entry["fieldsV1"]["f:spec"], Json::parse(R"({"f:size": {}, "f:color": {}})"));
  EXPECT_EQ(entry["fieldsV1"]["f:metadata"], Json::parse(R"({"f:labels": {"f:owner": {}}})"));
  EXPECT_TRUE(Contains(up.Ok(apply), "serverside-applied"));  // idempotent

  // A person changes the size; the next apply of the old manifest conflicts and says with whom.
  up.Ok("patch widget ssa -n e2e --type=merge -p " + Quote(R"({"spec":{"size":5}})"));
  CommandResult conflict = up.Kubectl(apply);
  EXPECT_NE(conflict.exit_code, 0);
  EXPECT_TRUE(Contains(conflict.output, "conflict with \"kubectl-patch\"")) << conflict.output;
  EXPECT_TRUE(Contains(conflict.output, ".spec.size")) << conflict.output;
  EXPECT_EQ(up.Ok("get widget ssa -n e2e -o jsonpath={.spec.size}"), "5");
  up.Ok(apply + " --force-conflicts");
  EXPECT_EQ(up.Ok("get widget ssa -n e2e -o jsonpath={.spec.size}"), "3");

  // Dropping a field from the manifest removes it (the schema default comes back for color).
  std::string smaller = manifest;
  smaller.replace(smaller.find("  labels: {owner: gitops}\n"), 26, "");
  smaller.replace(smaller.find("  color: red\n"), 13, "");
  dir_.WriteFile("ssa.yaml", smaller);
  up.Ok(apply);
  EXPECT_EQ(up.Ok("get widget ssa -n e2e -o jsonpath={.spec.color}/{.metadata.labels}"), "blue/");

  // An object made by client-side apply: its fields belong to "before-first-apply", so another
  // value conflicts. Forced, kubectl 1.26+ moves the last-applied fields to the applier (its
  // client-side to server-side upgrade), so what the new manifest leaves out goes; older kubectl
  // has no such upgrade, so only the forced field changes hands and the rest stays.
  std::filesystem::path small = dir_.WriteFile("small.yaml", R"(apiVersion: e2e.lifeboat.dev/v1
kind: Widget
metadata: {name: small, namespace: e2e}
spec: {size: 9}
)");
  CommandResult taken =
      up.Kubectl("apply --server-side --field-manager=gitops -f " + small.string());
  EXPECT_NE(taken.exit_code, 0);
  EXPECT_TRUE(Contains(taken.output, "before-first-apply")) << taken.output;
  up.Ok("apply --server-side --field-manager=gitops --force-conflicts -f " + small.string());
  std::string after = up.Ok(
      "get widget small -n e2e -o jsonpath={.spec.size}/{.spec.color}/"
      "{.metadata.labels}{.metadata.annotations}");
  if (Minor() >= 26) {
    EXPECT_EQ(after, "9/blue/");
  } else {
    EXPECT_EQ(after.rfind(R"(9/red/{"tier":"front"}{"kubectl.kubernetes.io/last-applied-)", 0), 0u)
        << after;
  }

  // A server-side dry run changes nothing.
  up.Ok("apply --server-side --field-manager=gitops --dry-run=server -f " + file.string());
  EXPECT_EQ(up.Ok("get widget ssa -n e2e -o jsonpath={.spec.size}"), "3");
}

// `kubectl describe` lists an object's Events (it selects them by involvedObject fields) and
// `kubectl get events` names the object as kind/name.
TEST_F(KubectlTest, DescribeShowsTheObjectsEvents) {
  LifeboatUp up(dir_, {"--no-controllers"});
  StartWithFixtures(up);
  std::string uid = up.Ok("get widget small -n e2e -o jsonpath={.metadata.uid}");
  std::filesystem::path event = dir_.WriteFile("event.yaml", R"(apiVersion: v1
kind: Event
metadata: {name: small.1, namespace: e2e}
involvedObject: {apiVersion: e2e.lifeboat.dev/v1, kind: Widget, name: small, namespace: e2e, uid: )" +
                                                                 uid + R"(}
reason: SizeChecked
message: the widget is small enough
type: Warning
lastTimestamp: "2026-12-04T10:00:00Z"
)");
  up.Ok("create -f " + event.string());
  std::string described = up.Ok("describe widget small -n e2e");
  EXPECT_TRUE(MatchesLine(described, "Warning\\s+SizeChecked\\s+.*the widget is small enough"))
      << described;
  EXPECT_TRUE(MatchesLine(up.Ok("describe widget large -n e2e"), "Events:\\s+<none>"));
  EXPECT_TRUE(MatchesLine(up.Ok("get events -n e2e"),
                          "Warning\\s+SizeChecked\\s+widget/small\\s+the widget is small enough"));
  EXPECT_EQ(up.Ok("get events -n e2e --field-selector reason=SizeChecked -o name"),
            "event/small.1\n");
}

TEST_F(KubectlTest, WatchSeesEventsInOrder) {
  LifeboatUp up(dir_, {});
  StartWithFixtures(up);
  Subprocess watch({"/bin/sh", "-c",
                    "exec " + up.KubectlCommand("get widgets -n e2e --watch --output-watch-events "
                                                "-l tier=watched 2>&1")});
  // The watch starts from the list; an empty list prints nothing, so wait for the first event
  // after creating the object.
  std::string obj = R"({"apiVersion":"e2e.lifeboat.dev/v1","kind":"Widget","metadata":)"
                    R"({"name":"w1","namespace":"e2e","labels":{"tier":"watched"}},)"
                    R"("spec":{"size":3}})";
  std::filesystem::path file = dir_.WriteFile("w1.json", obj);
  up.Ok("create -f " + file.string());
  ASSERT_TRUE(watch.WaitForText("ADDED", seconds(20))) << watch.output();
  up.Ok("patch widget w1 -n e2e --type=merge -p " + Quote(R"({"spec":{"size":4}})"));
  ASSERT_TRUE(watch.WaitForText("MODIFIED", seconds(20))) << watch.output();
  up.Ok("delete widget w1 -n e2e");
  ASSERT_TRUE(watch.WaitForText("DELETED", seconds(20))) << watch.output();
  std::string out = watch.output();
  EXPECT_TRUE(MatchesLine(out, "ADDED\\s+w1\\s+3")) << out;
  EXPECT_TRUE(MatchesLine(out, "MODIFIED\\s+w1\\s+4")) << out;
  EXPECT_LT(out.find("ADDED"), out.find("MODIFIED"));
  EXPECT_LT(out.find("MODIFIED"), out.find("DELETED"));
  watch.Stop(SIGTERM, seconds(5));
}

TEST_F(KubectlTest, RestartKeepsEveryObject) {
  std::string before;
  std::string rv_before;
  {
    LifeboatUp up(dir_, {});
    StartWithFixtures(up);
    std::string many;
    for (int i = 0; i < 25; ++i) {
      many += "---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm-" + std::to_string(i) +
              "\n  namespace: e2e\ndata:\n  i: \"" + std::to_string(i) + "\"\n";
    }
    up.Ok("apply -f " + dir_.WriteFile("many.yaml", many).string());
    before = up.Ok("get widgets,configmaps,secrets,namespaces -A -o name");
    rv_before = up.Ok("get configmap cm-24 -n e2e -o jsonpath={.metadata.resourceVersion}");
    EXPECT_EQ(up.Stop(), 0) << up.output();
    EXPECT_TRUE(Contains(up.output(), "shutting down"));
  }
  LifeboatUp again(dir_, {});
  ASSERT_TRUE(again.ready()) << again.output();
  EXPECT_EQ(again.Ok("get widgets,configmaps,secrets,namespaces -A -o name"), before);
  EXPECT_EQ(again.Ok("get configmap cm-24 -n e2e -o jsonpath={.metadata.resourceVersion}"),
            rv_before);
  again.Ok("create configmap after-restart -n e2e --from-literal=a=b");
  std::string rv_after =
      again.Ok("get configmap after-restart -n e2e -o jsonpath={.metadata.resourceVersion}");
  EXPECT_GT(std::stoll(rv_after), std::stoll(rv_before));
  EXPECT_TRUE(MatchesLine(again.Ok("get widgets -n e2e"), "small\\s+2\\s+red"));
}

TEST_F(KubectlTest, UpPreloadsProjectCrdsAndAppliesExamples) {
  std::filesystem::path examples = Source() / "examples";
  std::filesystem::path crds = Source() / "crds";
  if (!std::filesystem::exists(crds / "lifeboat.dev_backuppolicies.yaml")) {
    GTEST_SKIP() << "crds/ has no BackupPolicy CRD yet";
  }
  LifeboatUp up(dir_, {"--crd-dir", crds.string(), "-f", examples.string()});
  ASSERT_TRUE(up.ready()) << up.output();
  EXPECT_TRUE(MatchesLine(up.output(), "backuppolicy.lifeboat.dev/\\S+ created")) << up.output();
  std::string all = up.Ok("get lifeboat -A");
  EXPECT_TRUE(Contains(all, "backuppolicy.lifeboat.dev/")) << all;
  std::string explain = up.Ok("explain backuppolicy.spec.retention");
  EXPECT_TRUE(Contains(explain, "FIELDS")) << explain;
  EXPECT_TRUE(Contains(up.Ok("api-resources --api-group=lifeboat.dev"), "backuppolicies"));
}

TEST_F(KubectlTest, RefusesRequestsWithoutTheToken) {
  LifeboatUp up(dir_, {});
  ASSERT_TRUE(up.ready()) << up.output();
  CommandResult r = up.Kubectl("get namespaces --token=wrong");
  EXPECT_NE(r.exit_code, 0);
  // kubectl 1.20 adds the Status reason ("(Unauthorized)"), newer ones a sentence of their own.
  EXPECT_TRUE(Contains(r.output, "You must be logged in to the server")) << r.output;
  EXPECT_TRUE(Contains(r.output, "provide credentials") || Contains(r.output, "(Unauthorized)"))
      << r.output;
}

}  // namespace
}  // namespace lifeboat::testing
