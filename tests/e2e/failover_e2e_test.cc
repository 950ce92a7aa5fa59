// Recovery plans end to end with two sites, each a real `lifeboat up` process with its own data
// dir, API server and replication endpoint. The protected site ("prod") replicates three
// volumes (a database directory, an application tree, a sparse disk image) with three
// ReplicationPolicies to the recovery site ("dr"), which holds a 3-group RecoveryPlan whose
// actions append to a marker file. The test drives Failover objects at the recovery site through
// the API, like `kubectl apply` would, and compares bytes:
//   drill: Test failover with a manual approval while replication goes on, then CleanupTest;
//   faults: a failing action, a missing recovery point and a wrong order each end Failed with a
//           clear reason, and a retry works;
//   round trip: Planned failover (the bytes at dr equal prod's), Commit, changes at dr,
//           Reprotect (the bytes sent back are about the changes), Failback (prod holds dr's
//           bytes and replicates again);
//   disaster: prod killed with SIGKILL, Unplanned failover from the last replicated points.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <csignal>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "api/json.h"
#include "common/clock.h"
#include "controller/client_config.h"
#include "controller/rest_kube_client.h"
#include "tests/e2e/subprocess.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::testing {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const controller::ResourceRef kPlans{"lifeboat.dev", "v1alpha1", "recoveryplans", "RecoveryPlan",
                                     true};
const controller::ResourceRef kFailovers{"lifeboat.dev", "v1alpha1", "failovers", "Failover",
                                         true};
const controller::ResourceRef kReplicationPolicies{"lifeboat.dev", "v1alpha1",
                                                   "replicationpolicies", "ReplicationPolicy",
                                                   true};
constexpr char kNs[] = "shop";

fs::path Binary() { return fs::path(LIFEBOAT_E2E_BINARY); }

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteAll(const fs::path& p, const std::string& content) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary | std::ios::trunc) << content;
}

bool Eventually(const std::function<bool()>& done, std::chrono::milliseconds timeout) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < deadline) {
    if (done()) return true;
    std::this_thread::sleep_for(100ms);
  }
  return done();
}

// A printable fingerprint of a file's bytes: size and a hash (failures stay readable).
std::string Digest(const std::string& bytes) {
  return std::to_string(bytes.size()) + " bytes #" +
         std::to_string(std::hash<std::string>{}(bytes));
}

// Every regular file under `root` (relative path → Digest), for equality checks; a file `root`
// is the entry "".
std::map<std::string, std::string> Tree(const fs::path& root) {
  std::map<std::string, std::string> files;
  if (fs::is_regular_file(root)) {
    files[""] = Digest(ReadAll(root));
    return files;
  }
  std::error_code ec;
  for (fs::recursive_directory_iterator it(root, ec), end; !ec && it != end; it.increment(ec)) {
    if (it->is_regular_file()) {
      files[fs::relative(it->path(), root).string()] = Digest(ReadAll(it->path()));
    }
  }
  return files;
}

void WriteDisk(const fs::path& path, size_t size, uint64_t seed, size_t offset, size_t length) {
  int fd = ::open(path.c_str(), O_CREAT | O_WRONLY, 0644);
  ASSERT_GE(fd, 0) << path;
  std::string data(length, '\0');
  uint64_t x = seed;
  for (char& c : data) {
    x = x * 6364136223846793005ULL + 1442695040888963407ULL;
    c = static_cast<char>(x >> 56);
  }
  ASSERT_EQ(::pwrite(fd, data.data(), data.size(), static_cast<off_t>(offset)),
            static_cast<ssize_t>(data.size()));
  ASSERT_EQ(::ftruncate(fd, static_cast<off_t>(size)), 0);
  ::close(fd);
}

// One site: `lifeboat up` with a replication endpoint, and a client for its API.
struct SiteProcess {
  fs::path data;
  std::unique_ptr<Subprocess> up;
  std::unique_ptr<controller::KubeClient> client;
  std::string endpoint;
  int metrics_port = 0;

  void Start(const fs::path& dir, const std::string& token) {
    data = dir / "data";
    fs::create_directories(data);
    WriteAll(dir / "token", token + "\n");
    up = std::make_unique<Subprocess>(std::vector<std::string>{
        Binary().string(), "up", "--data-dir", data.string(), "--port", "0",
        "--metrics-bind-address", "127.0.0.1:0", "--replication-port", "0",
        "--replication-token-file", (dir / "token").string()});
    ASSERT_TRUE(up->WaitForText("kubectl get lifeboat", 60s)) << up->output();
    std::smatch m;
    std::string out = up->output();
    ASSERT_TRUE(std::regex_search(out, m, std::regex("Replication endpoint on (\\S+)")));
    endpoint = m[1].str();
    ASSERT_TRUE(std::regex_search(out, m, std::regex("Metrics on http://127\\.0\\.0\\.1:(\\d+)")));
    metrics_port = std::stoi(m[1]);
    ASSERT_TRUE(std::regex_search(out, m, std::regex("kubeconfig: (\\S+)")));
    auto config = controller::LoadKubeconfigFile(m[1].str());
    ASSERT_TRUE(config.ok()) << config.status();
    auto c = controller::NewRestKubeClient(std::move(*config));
    ASSERT_TRUE(c.ok()) << c.status();
    client = std::move(*c);
  }

  void Apply(const std::vector<Json>& objects) {
    for (const Json& o : objects) {
      std::string plural = o["kind"] == "Secret"      ? "secrets"
                           : o["kind"] == "Namespace" ? "namespaces"
                           : o["kind"] == "Site"      ? "sites"
                           : o["kind"] == "ReplicationPolicy" ? "replicationpolicies"
                                                              : "recoveryplans";
      bool core = o["kind"] == "Secret" || o["kind"] == "Namespace";
      controller::ResourceRef r{core ? "" : "lifeboat.dev", core ? "v1" : "v1alpha1", plural,
                                o["kind"], o["kind"] != "Namespace"};
      auto made = client->Create(r, o);
      ASSERT_TRUE(made.ok()) << o["kind"] << ": " << made.status();
    }
  }

  Json Get(const controller::ResourceRef& r, const std::string& name) {
    auto got = client->Get(r, {kNs, name});
    return got.ok() ? *got : Json();
  }
};

Json Namespace() {
  return {{"apiVersion", "v1"}, {"kind", "Namespace"}, {"metadata", {{"name", kNs}}}};
}

Json TokenSecret(const std::string& name, const std::string& token) {
  return {{"apiVersion", "v1"},
          {"kind", "Secret"},
          {"metadata", {{"name", name}, {"namespace", kNs}}},
          {"stringData", {{"token", token}}}};
}

Json SiteObject(const std::string& name, const std::string& endpoint, const std::string& secret) {
  return {{"apiVersion", "lifeboat.dev/v1alpha1"},
          {"kind", "Site"},
          {"metadata", {{"name", name}, {"namespace", kNs}}},
          {"spec",
           {{"endpoint", endpoint},
            {"tls", {{"insecureSkipVerify", true}}},
            {"credentialsSecretRef", {{"name", secret}, {"key", "token"}}}}}};
}

Json Policy(const std::string& name, const std::string& volume, const fs::path& path) {
  return {{"apiVersion", "lifeboat.dev/v1alpha1"},
          {"kind", "ReplicationPolicy"},
          {"metadata", {{"name", name}, {"namespace", kNs}}},
          {"spec",
           {{"volumes", {{{"name", volume}, {"path", path.string()}}}},
            {"targetSiteRef", {{"name", "dr"}}},
            {"rpo", "5s"}}}};
}

Json Marker(const std::string& name, const fs::path& markers, const std::string& what) {
  return {{"name", name},
          {"exec",
           {{"command",
             {"sh", "-c",
              "echo \"$LIFEBOAT_FAILOVER_TYPE $LIFEBOAT_GROUP " + what + "\" >> " +
                  markers.string()}}}}};
}

class FailoverE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    volumes_ = dir_.path() / "prod-volumes";
    WriteAll(volumes_ / "db/base/16384", std::string(300 << 10, 'd'));
    WriteAll(volumes_ / "db/pg_wal/000001", std::string(64 << 10, 'w'));
    for (int i = 0; i < 20; ++i) {
      WriteAll(volumes_ / ("app/static/page" + std::to_string(i) + ".html"),
               std::string(2000 + i * 131, static_cast<char>('a' + i)));
    }
    WriteDisk(volumes_ / "disk.img", 32 << 20, 7, 0, 8 << 20);
    markers_ = dir_.path() / "markers.log";
    fail_flag_ = dir_.path() / "fail-db-check";

    dr_.Start(dir_.path() / "dr", "dr-token");
    if (HasFatalFailure()) return;
    prod_.Start(dir_.path() / "prod", "prod-token");
    if (HasFatalFailure()) return;

    prod_.Apply({Namespace(), TokenSecret("dr-token", "dr-token"),
                 SiteObject("dr", dr_.endpoint, "dr-token"),
                 Policy("db-replication", "db", volumes_ / "db"),
                 Policy("app-replication", "app", volumes_ / "app"),
                 Policy("web-replication", "disk", volumes_ / "disk.img")});
    if (HasFatalFailure()) return;

    Json plan = {
        {"apiVersion", "lifeboat.dev/v1alpha1"},
        {"kind", "RecoveryPlan"},
        {"metadata", {{"name", "shop"}, {"namespace", kNs}}},
        {"spec",
         {{"protectedSiteRef", {{"name", "prod"}}},
          {"targetRoot", (dir_.path() / "dr-volumes").string()},
          {"groups",
           {{{"name", "database"},
             {"replicationPolicies", {"db-replication"}},
             {"preActions", {Marker("stop-db", markers_, "pre")}},
             {"postActions",
              {Marker("start-db", markers_, "post"),
               {{"name", "check-db"},
                {"exec",
                 {{"command", {"sh", "-c", "test ! -e " + fail_flag_.string()}}}}}}}},
            {{"name", "application"},
             {"replicationPolicies", {"app-replication"}},
             {"postActions", {Marker("start-app", markers_, "post")}}},
            {{"name", "web"},
             {"replicationPolicies", {"web-replication"}},
             {"preActions",
              {{{"name", "approve-dns"},
                {"manual", {{"message", "switch DNS to the DR site"}}},
                {"timeout", "2m"}}}},
             {"postActions", {Marker("start-web", markers_, "post")}}}}}}}};
    dr_.Apply({Namespace(), TokenSecret("prod-token", "prod-token"),
               SiteObject("prod", prod_.endpoint, "prod-token"), plan});
    if (HasFatalFailure()) return;

    // Replication reaches the recovery site; the plan sees every replica.
    for (const char* p : {"db-replication", "app-replication", "web-replication"}) {
      ASSERT_TRUE(Eventually(
          [&] { return Phase(prod_, kReplicationPolicies, p) == "Protected"; }, 90s))
          << p << ": " << prod_.Get(kReplicationPolicies, p).dump(1);
    }
    ASSERT_TRUE(Eventually([&] { return ReadyReason(dr_, kPlans, "shop") == "Ready"; }, 60s))
        << dr_.Get(kPlans, "shop").dump(1);
  }

  static std::string Phase(SiteProcess& site, const controller::ResourceRef& r,
                           const std::string& name) {
    Json o = site.Get(r, name);
    return o.is_null() ? "" : o.value("/status/phase"_json_pointer, "");
  }
  static std::string ReadyReason(SiteProcess& site, const controller::ResourceRef& r,
                                 const std::string& name) {
    Json o = site.Get(r, name);
    if (o.is_null()) return "";
    for (const Json& c : o.value("/status/conditions"_json_pointer, Json::array())) {
      if (c.value("type", "") == "Ready") return c.value("reason", "");
    }
    return "";
  }

  void CreateFailover(const std::string& name, const std::string& type,
                      const std::string& point = "") {
    Json fo = {{"apiVersion", "lifeboat.dev/v1alpha1"},
               {"kind", "Failover"},
               {"metadata", {{"name", name}, {"namespace", kNs}}},
               {"spec", {{"planRef", {{"name", "shop"}}}, {"type", type}}}};
    if (!point.empty()) fo["spec"]["recoveryPoint"] = point;
    auto made = dr_.client->Create(kFailovers, fo);
    ASSERT_TRUE(made.ok()) << made.status();
  }

  // Waits for the Failover to end in `phase`; returns it.
  Json Await(const std::string& name, const std::string& phase, std::chrono::seconds t = 120s) {
    bool done = Eventually(
        [&] {
          std::string p = Phase(dr_, kFailovers, name);
          return p == "Succeeded" || p == "Failed" || p == phase;
        },
        t);
    Json fo = dr_.Get(kFailovers, name);
    EXPECT_TRUE(done) << name << " did not finish: " << fo.dump(1);
    EXPECT_EQ(fo.value("/status/phase"_json_pointer, ""), phase) << fo.dump(1);
    return fo;
  }

  void Approve(const std::string& name, const std::string& action) {
    auto patched = dr_.client->Patch(kFailovers, {kNs, name}, controller::PatchType::kMerge,
                                     {{"spec", {{"approvals", {action}}}}});
    ASSERT_TRUE(patched.ok()) << patched.status();
  }

  std::string PlanState() {
    return dr_.Get(kPlans, "shop").value("/status/state"_json_pointer, "");
  }

  double Rto(const Json& fo) { return fo.value("/status/rtoSeconds"_json_pointer, -1.0); }

  // Per group: the seconds its workload steps took.
  std::string GroupRtos(const Json& fo) {
    std::map<std::string, double> workloads;
    for (const Json& s : fo.value("/status/steps"_json_pointer, Json::array())) {
      if (s.value("stage", "") != "Workloads") continue;
      EXPECT_TRUE(s.contains("durationSeconds")) << s.dump();
      workloads[s.value("group", "")] += s.value("durationSeconds", 0.0);
    }
    std::string out;
    for (const auto& [g, secs] : workloads) out += g + "=" + std::to_string(secs) + "s ";
    return out;
  }

  fs::path Live(const std::string& policy) {
    return dir_.path() / "dr-volumes" / "live" / policy;
  }

  TempDir dir_;
  fs::path volumes_, markers_, fail_flag_;
  SiteProcess dr_, prod_;
};

TEST_F(FailoverE2eTest, DrillFaultsRoundTripAndDisaster) {
  if (HasFatalFailure()) return;
  const auto source_before = Tree(volumes_);

  // --- Test failover with an approval, while replication goes on.
  CreateFailover("drill", "Test");
  Json fo = Await("drill", "WaitingForApproval");
  // A second operation on the plan waits while the first one waits for its approval.
  CreateFailover("drill-twice", "Test");
  EXPECT_TRUE(Eventually([&] { return ReadyReason(dr_, kFailovers, "drill-twice") == "PlanBusy"; },
                         30s))
      << dr_.Get(kFailovers, "drill-twice").dump(1);
  EXPECT_EQ(Phase(dr_, kFailovers, "drill-twice"), "Pending");
  EXPECT_NE(fo.value("/status/message"_json_pointer, "").find("approve-dns"), std::string::npos);
  Approve("drill", "approve-dns");
  fo = Await("drill", "Succeeded");
  fs::path test_dir = dir_.path() / "dr-volumes" / "test" / "drill";
  EXPECT_EQ(Tree(test_dir / "db-replication" / "db"), Tree(volumes_ / "db"));
  EXPECT_EQ(Tree(test_dir / "app-replication" / "app"), Tree(volumes_ / "app"));
  EXPECT_EQ(Tree(test_dir / "web-replication" / "disk"), Tree(volumes_ / "disk.img"));
  EXPECT_EQ(Tree(volumes_), source_before) << "a test failover must not touch the source";
  EXPECT_EQ(ReadAll(markers_),
            "Test database pre\nTest database post\nTest application post\nTest web post\n");
  std::cout << "[ RTO      ] Test: " << Rto(fo) << " s; workloads per group: " << GroupRtos(fo)
            << "\n";
  // Replication is undisturbed: a new point arrives after the drill and the RPO holds.
  std::string last = prod_.Get(kReplicationPolicies, "db-replication")
                         .value("/status/lastReplicatedTime"_json_pointer, "");
  EXPECT_TRUE(Eventually(
      [&] {
        Json p = prod_.Get(kReplicationPolicies, "db-replication");
        return p.value("/status/lastReplicatedTime"_json_pointer, "") != last &&
               p.value("/status/phase"_json_pointer, "") == "Protected";
      },
      30s));
  EXPECT_EQ(PlanState(), "Protected");
  Json policy = prod_.Get(kReplicationPolicies, "db-replication");
  for (const Json& c : policy.value("/status/conditions"_json_pointer, Json::array())) {
    if (c.value("type", "") == "RPOMet") {
      EXPECT_EQ(c.value("status", ""), "True") << policy.dump(1);
    }
  }
  // Then the second drill runs, and finds the first one's copies in its way.
  fo = Await("drill-twice", "Failed");
  EXPECT_EQ(ReadyReason(dr_, kFailovers, "drill-twice"), "WrongOrder") << fo.dump(1);
  EXPECT_NE(fo.value("/status/message"_json_pointer, "").find("CleanupTest"), std::string::npos);

  CreateFailover("drill-cleanup", "CleanupTest");
  Await("drill-cleanup", "Succeeded");
  EXPECT_FALSE(fs::exists(test_dir));
  EXPECT_FALSE(dr_.Get(kPlans, "shop").contains(Json::json_pointer("/status/activeTest")));

  // --- Faults: each ends with a reason, and a retry works.
  CreateFailover("too-early", "Commit");
  fo = Await("too-early", "Failed");
  EXPECT_EQ(ReadyReason(dr_, kFailovers, "too-early"), "WrongOrder") << fo.dump(1);

  CreateFailover("ancient", "Test", "2001-01-01T00:00:00Z");
  fo = Await("ancient", "Failed");
  EXPECT_EQ(ReadyReason(dr_, kFailovers, "ancient"), "NoRecoveryPoint") << fo.dump(1);

  WriteAll(fail_flag_, "x");
  std::filesystem::remove(markers_);
  CreateFailover("drill-2", "Test");
  fo = Await("drill-2", "Failed");
  EXPECT_EQ(ReadyReason(dr_, kFailovers, "drill-2"), "ActionFailed") << fo.dump(1);
  EXPECT_NE(fo.value("/status/message"_json_pointer, "").find("check-db"), std::string::npos)
      << fo.dump(1);
  fs::remove(fail_flag_);
  CreateFailover("drill-3", "Test");
  Await("drill-3", "WaitingForApproval");
  Approve("drill-3", "approve-dns");
  Await("drill-3", "Succeeded");
  EXPECT_FALSE(fs::exists(dir_.path() / "dr-volumes" / "test" / "drill-2"))
      << "the failed drill's copies are cleaned up by the retry";
  CreateFailover("drill-3-cleanup", "CleanupTest");
  Await("drill-3-cleanup", "Succeeded");

  // --- Planned failover: the last writes at prod arrive at dr.
  WriteAll(volumes_ / "db/base/16384", std::string(300 << 10, 'e'));
  WriteAll(volumes_ / "app/config.yaml", "mode: production\n");
  std::filesystem::remove(markers_);
  CreateFailover("planned", "Planned");
  Await("planned", "WaitingForApproval");
  Approve("planned", "approve-dns");
  fo = Await("planned", "Succeeded");
  EXPECT_EQ(Tree(Live("db-replication") / "db"), Tree(volumes_ / "db"));
  EXPECT_EQ(Tree(Live("app-replication") / "app"), Tree(volumes_ / "app"));
  EXPECT_EQ(Tree(Live("web-replication") / "disk"), Tree(volumes_ / "disk.img"));
  EXPECT_EQ(PlanState(), "FailedOver");
  EXPECT_EQ(Phase(prod_, kReplicationPolicies, "db-replication"), "FailedOver");
  auto metrics = HttpGet(dr_.metrics_port, "/metrics");
  ASSERT_TRUE(metrics.ok()) << metrics.status();
  EXPECT_TRUE(std::regex_search(
      metrics->body,
      std::regex("lifeboat_failover_rto_seconds\\{[^}]*plan=\"shop\"[^}]*type=\"Planned\"[^}]*\\} [0-9.e+-]+")))
      << metrics->body;
  std::cout << "[ RTO      ] Planned: " << Rto(fo) << " s; workloads per group: "
            << GroupRtos(fo) << "\n";

  CreateFailover("commit", "Commit");
  Await("commit", "Succeeded");
  EXPECT_EQ(PlanState(), "Committed");

  // --- The application runs at dr and writes; reprotect sends back about the changes.
  const size_t changed = 1 << 20;
  WriteDisk(Live("web-replication") / "disk", 32 << 20, 99, 4 << 20, changed);
  WriteAll(Live("app-replication") / "app/config.yaml", "mode: dr\n");
  CreateFailover("reprotect", "Reprotect");
  fo = Await("reprotect", "Succeeded", 180s);
  int64_t sent = 0;
  for (const Json& s : fo.value("/status/steps"_json_pointer, Json::array())) {
    sent += s.value("bytesSent", int64_t{0});
  }
  std::cout << "[ REPROTECT] bytes sent back: " << sent << " for " << changed
            << " changed bytes in a 32 MiB image + a small file\n";
  EXPECT_GT(sent, 0);
  EXPECT_LT(sent, static_cast<int64_t>(2 * changed)) << fo.dump(1);
  EXPECT_EQ(PlanState(), "Reprotected");
  // While Reprotected the plan keeps replicating back (every minute): a change made now is at
  // the protected site before the failback starts.
  // Reprotect itself counts as the first cycle; the next one must carry the new file.
  auto reverse_cycle = [&]() -> std::pair<std::string, long long> {
    std::smatch m;
    std::string message = dr_.Get(kPlans, "shop").value("/status/message"_json_pointer, "");
    if (!std::regex_search(message, m,
                           std::regex("replicated back to the protected site at (\\S+) "
                                      "\\((\\d+) bytes sent\\)"))) {
      return {"", -1};
    }
    return {m[1].str(), std::stoll(m[2].str())};
  };
  ASSERT_TRUE(Eventually([&] { return !reverse_cycle().first.empty(); }, 30s))
      << dr_.Get(kPlans, "shop").dump(1);
  const std::string first_cycle = reverse_cycle().first;
  WriteAll(Live("app-replication") / "app/after-reprotect.txt", "written while reprotected\n");
  EXPECT_TRUE(Eventually(
      [&] {
        auto [at, bytes] = reverse_cycle();
        return at != first_cycle && bytes > 0;
      },
      150s))
      << dr_.Get(kPlans, "shop").dump(1);
  std::cout << "[ REVERSE  ] "
            << dr_.Get(kPlans, "shop").value("/status/message"_json_pointer, "") << "\n";

  // --- Failback: prod holds dr's bytes and replicates again.
  const auto dr_disk = Tree(Live("web-replication") / "disk");
  const auto dr_db = Tree(Live("db-replication") / "db");
  CreateFailover("failback", "Failback");
  Await("failback", "WaitingForApproval");
  Approve("failback", "approve-dns");
  fo = Await("failback", "Succeeded", 180s);
  EXPECT_EQ(Tree(volumes_ / "disk.img"), dr_disk);
  EXPECT_EQ(Tree(volumes_ / "db"), dr_db);
  EXPECT_EQ(ReadAll(volumes_ / "app/config.yaml"), "mode: dr\n");
  EXPECT_EQ(ReadAll(volumes_ / "app/after-reprotect.txt"), "written while reprotected\n");
  EXPECT_EQ(PlanState(), "Protected");
  EXPECT_FALSE(fs::exists(Live("web-replication")));
  EXPECT_TRUE(Eventually(
      [&] { return Phase(prod_, kReplicationPolicies, "web-replication") == "Protected"; }, 60s))
      << prod_.Get(kReplicationPolicies, "web-replication").dump(1);

  // --- Disaster: prod dies; the plan comes up from the last replicated points.
  std::string before_kill = prod_.Get(kReplicationPolicies, "web-replication")
                                .value("/status/lastReplicatedTime"_json_pointer, "");
  ASSERT_TRUE(Eventually(
      [&] {
        return prod_.Get(kReplicationPolicies, "web-replication")
                   .value("/status/lastReplicatedTime"_json_pointer, "") != before_kill;
      },
      30s))
      << "a cycle after failback carries prod's current bytes";
  const auto prod_final = Tree(volumes_);
  prod_.up->Stop(SIGKILL, 5s);
  std::filesystem::remove(markers_);
  CreateFailover("disaster", "Unplanned", "Latest");
  Await("disaster", "WaitingForApproval");
  // The recovery site's controller dies too while the run waits; it resumes where it stopped.
  dr_.up->Stop(SIGKILL, 5s);
  dr_.Start(dir_.path() / "dr", "dr-token");
  ASSERT_FALSE(HasFatalFailure());
  Await("disaster", "WaitingForApproval");
  Approve("disaster", "approve-dns");
  fo = Await("disaster", "Succeeded");
  EXPECT_EQ(Tree(Live("web-replication") / "disk")[""], prod_final.at("disk.img"));
  EXPECT_EQ(Tree(Live("app-replication") / "app"), Tree(volumes_ / "app"));
  EXPECT_EQ(ReadAll(markers_),
            "Unplanned database pre\nUnplanned database post\nUnplanned application post\n"
            "Unplanned web post\n")
      << "every action ran once across the restart";
  std::cout << "[ RTO      ] Unplanned: " << Rto(fo) << " s; workloads per group: "
            << GroupRtos(fo) << "\n";
  EXPECT_EQ(PlanState(), "FailedOver");
}

}  // namespace
}  // namespace lifeboat::testing
