// Benchmark of the embedded API server as users run it: a real `lifeboat up` process (HTTPS,
// SQLite in a temp data dir, the project's CRDs), driven over keep-alive connections.
//   apiserver_bench [--objects N] [--connections C] [--watchers W] [--lifeboat PATH]
//                   [--controllers true|false]
// Reports create throughput, list latency, watch fan-out delay and the server's RSS.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "api/json.h"
#include "bench/apiserver/lean_client.h"

extern char** environ;

namespace {

using lifeboat::Json;
using namespace nlohmann::literals;
using lifeboat::bench::LeanClient;
using Clock = std::chrono::steady_clock;

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

double Seconds(Clock::duration d) { return std::chrono::duration<double>(d).count(); }

long RssKiB(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("VmRSS:", 0) == 0) {
      return std::stol(line.substr(6));
    }
  }
  return -1;
}

// CPU seconds (user + system) the process `pid` has used so far.
double CpuSeconds(pid_t pid) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string stat((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  // Fields after the command name (which may contain spaces) start after the last ')'.
  std::istringstream fields(stat.substr(stat.rfind(')') + 2));
  std::string field;
  double ticks = 0;
  for (int i = 3; i <= 15 && fields >> field; ++i) {
    if (i == 14 || i == 15) {
      ticks += std::stod(field);
    }
  }
  return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
}

double SelfCpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  auto seconds = [](const timeval& t) { return t.tv_sec + t.tv_usec / 1e6; };
  return seconds(usage.ru_utime) + seconds(usage.ru_stime);
}

Json Policy(int i) {
  std::string n = std::to_string(i);
  return {{"apiVersion", "lifeboat.dev/v1alpha1"},
          {"kind", "BackupPolicy"},
          {"metadata",
           {{"name", "policy-" + n},
            {"namespace", "bench"},
            {"labels", {{"app", "bench"}, {"shard", std::to_string(i % 10)}}}}},
          {"spec",
           {{"vaultRef", {{"name", "vault"}}},
            {"volumes",
             {{{"name", "data"}, {"path", "/srv/app-" + n + "/data"}},
              {{"name", "db"}, {"path", "/srv/app-" + n + "/db"}}}},
            {"schedule", {{"cron", "*/15 * * * *"}, {"timeZone", "UTC"}}},
            {"retention", {{"keepLast", 5}, {"hourly", 24}, {"daily", 7}, {"weekly", 4}}},
            {"rpo", "30m"},
            {"consistency",
             {{"type", "Application"},
              {"preHook", {{"exec", {{"command", {"sh", "-c", "sync"}}}}, {"timeout", "30s"}}},
              {"postHook", {{"exec", {{"command", {"sync"}}}}}}}}}}};
}

}  // namespace

int main(int argc, char** argv) {
  int objects = 10'000;
  int connections = 8;
  int watchers = 10;
  std::string binary = LIFEBOAT_BINARY;
  bool controllers = true;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string flag = argv[i];
    if (flag == "--objects") {
      objects = std::atoi(argv[i + 1]);
    } else if (flag == "--connections") {
      connections = std::atoi(argv[i + 1]);
    } else if (flag == "--watchers") {
      watchers = std::atoi(argv[i + 1]);
    } else if (flag == "--lifeboat") {
      binary = argv[i + 1];
    } else if (flag == "--controllers") {
      controllers = std::string(argv[i + 1]) != "false";
    } else {
      std::cerr << "unknown flag " << flag << "\n";
      return 2;
    }
  }
  char pattern[] = "/tmp/lifeboat-apiserver-bench-XXXXXX";
  std::filesystem::path dir = mkdtemp(pattern);
  std::filesystem::path log = dir / "up.log";
  std::string crds = std::string(LIFEBOAT_SOURCE_DIR) + "/crds";
  std::string data = (dir / "data").string();
  std::vector<std::string> args = {binary, "up", "--data-dir", data, "--port", "0", "--crd-dir",
                                   crds, "--log-level", "warn", "--metrics-bind-address",
                                   "127.0.0.1:0"};
  if (!controllers) {
    args.push_back("--no-controllers");
  }
  std::vector<char*> cargs;
  for (auto& a : args) {
    cargs.push_back(a.data());
  }
  cargs.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, log.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_adddup2(&actions, STDOUT_FILENO, STDERR_FILENO);
  pid_t pid;
  if (posix_spawn(&pid, binary.c_str(), &actions, nullptr, cargs.data(), environ) != 0) {
    std::cerr << "cannot start " << binary << "\n";
    return 1;
  }
  std::smatch m;
  std::string url;
  auto deadline = Clock::now() + std::chrono::seconds(30);
  while (Clock::now() < deadline) {
    std::string out = ReadFile(log);
    if (std::regex_search(out, m, std::regex("listening on (\\S+)"))) {
      url = m[1];
      break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (url.empty()) {
    std::cerr << "lifeboat up did not start:\n" << ReadFile(log);
    kill(pid, SIGKILL);
    return 1;
  }
  std::string token = ReadFile(dir / "data" / "token");
  token.erase(token.find_last_not_of("\r\n") + 1);
  const std::string ca = ReadFile(dir / "data" / "ca.crt");
  auto connect = [&]() {
    auto client = LeanClient::Connect(url, token, ca);
    if (!client.ok()) {
      std::cerr << client.status() << "\n";
      std::exit(1);
    }
    return std::move(*client);
  };
  auto admin = connect();
  auto ns = admin->Do("POST", "/api/v1/namespaces", R"({"metadata":{"name":"bench"}})");
  if (!ns.ok() || ns->status != 201) {
    std::cerr << "cannot create namespace: " << (ns.ok() ? ns->body : ns.status().ToString())
              << "\n";
    return 1;
  }
  // The Vault every policy names: a real one (the controllers initialise it), so policies
  // reconcile to Ready the way they do in use rather than to Ready=False VaultNotFound.
  if (controllers) {
    Json secret = {{"apiVersion", "v1"},
                   {"kind", "Secret"},
                   {"metadata", {{"name", "vault-passphrase"}, {"namespace", "bench"}}},
                   {"stringData", {{"passphrase", "apiserver-bench-passphrase"}}}};
    Json vault = {{"apiVersion", "lifeboat.dev/v1alpha1"},
                  {"kind", "Vault"},
                  {"metadata", {{"name", "vault"}, {"namespace", "bench"}}},
                  {"spec",
                   {{"storage", {{"filesystem", {{"path", (dir / "vault").string()}}}}},
                    {"encryptionKeySecretRef", {{"name", "vault-passphrase"}, {"key", "passphrase"}}}}}};
    auto s = admin->Do("POST", "/api/v1/namespaces/bench/secrets", secret.dump());
    auto v = admin->Do("POST", "/apis/lifeboat.dev/v1alpha1/namespaces/bench/vaults", vault.dump());
    if (!s.ok() || s->status != 201 || !v.ok() || v->status != 201) {
      std::cerr << "cannot create the vault: " << (v.ok() ? v->body : v.status().ToString())
                << "\n";
      return 1;
    }
    bool ready = false;
    for (auto until = Clock::now() + std::chrono::seconds(60); !ready && Clock::now() < until;) {
      auto r = admin->Do("GET", "/apis/lifeboat.dev/v1alpha1/namespaces/bench/vaults/vault");
      if (r.ok() && r->status == 200) {
        for (const Json& c : Json::parse(r->body).value("/status/conditions"_json_pointer,
                                                         Json::array())) {
          ready |= c.value("type", "") == "Ready" && c.value("status", "") == "True";
        }
      }
      if (!ready) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!ready) {
      std::cerr << "the Vault did not become Ready within 60 s\n";
      return 1;
    }
  }
  const std::string collection = "/apis/lifeboat.dev/v1alpha1/namespaces/bench/backuppolicies";
  auto rv_list = admin->Do("GET", collection);
  std::string rv = Json::parse(rv_list->body)["metadata"]["resourceVersion"];
  long rss_start = RssKiB(pid);

  // Watchers: each counts ADDED events until it has seen every object.
  std::atomic<int> watchers_ready{0};
  std::vector<Clock::time_point> watcher_done(static_cast<size_t>(watchers));
  std::vector<std::thread> watch_threads;
  for (int w = 0; w < watchers; ++w) {
    watch_threads.emplace_back([&, w] {
      auto client = connect();
      int seen = 0;
      watchers_ready++;
      auto status = client->Stream(
          collection + "?watch=true&timeoutSeconds=600&resourceVersion=" + rv,
          [&](std::string_view line) {
            if (line.find("\"type\":\"ADDED\"") != std::string::npos) {
              ++seen;
            }
            if (seen == objects) {
              watcher_done[static_cast<size_t>(w)] = Clock::now();
              return false;
            }
            return true;
          });
      if (!status.ok()) {
        std::cerr << "watch failed: " << status.status() << "\n";
      }
    });
  }
  while (watchers_ready.load() < watchers) {
    std::this_thread::yield();
  }

  std::vector<std::string> bodies;
  bodies.reserve(static_cast<size_t>(objects));
  for (int i = 0; i < objects; ++i) {
    bodies.push_back(Policy(i).dump());
  }
  std::atomic<int> next{0};
  std::atomic<int> failures{0};
  double server_cpu_start = CpuSeconds(pid);
  double client_cpu_start = SelfCpuSeconds();
  auto start = Clock::now();
  std::vector<std::thread> writers;
  for (int c = 0; c < connections; ++c) {
    writers.emplace_back([&] {
      auto client = connect();
      for (int i = next++; i < objects; i = next++) {
        auto r = client->Do("POST", collection, bodies[static_cast<size_t>(i)]);
        if (!r.ok() || r->status != 201) {
          if (failures++ == 0) {
            std::cerr << "create failed: " << (r.ok() ? r->body : r.status().ToString()) << "\n";
          }
        }
      }
    });
  }
  for (auto& t : writers) {
    t.join();
  }
  auto created = Clock::now();
  for (auto& t : watch_threads) {
    t.join();
  }
  Clock::time_point last_watch =
      watchers > 0 ? *std::max_element(watcher_done.begin(), watcher_done.end()) : created;
  double server_cpu = CpuSeconds(pid) - server_cpu_start;
  double client_cpu = SelfCpuSeconds() - client_cpu_start;

  std::vector<double> list_ms;
  size_t list_bytes = 0;
  for (int i = 0; i < 5; ++i) {
    auto t0 = Clock::now();
    auto r = admin->Do("GET", collection);
    list_ms.push_back(Seconds(Clock::now() - t0) * 1000);
    list_bytes = r.ok() ? r->body.size() : 0;
  }
  std::sort(list_ms.begin(), list_ms.end());
  auto t0 = Clock::now();
  auto selected = admin->Do("GET", collection + "?labelSelector=shard%3D3");
  double selector_ms = Seconds(Clock::now() - t0) * 1000;
  size_t selected_items = Json::parse(selected->body)["items"].size();
  long rss_end = RssKiB(pid);

  // With the controllers: wait until every object has been reconciled (has a status) and the
  // revision stops moving, then count the server's writes and the process's CPU per create,
  // reconciles included.
  double settled_cpu = 0;
  int64_t writes = 0;
  double settle_s = 0;
  long rss_settled = 0;
  if (controllers) {
    auto settle_start = Clock::now();
    int64_t last_rv = -1;
    while (Clock::now() - settle_start < std::chrono::seconds(120)) {
      auto r = admin->Do("GET", collection);
      if (!r.ok()) break;
      Json list = Json::parse(r->body);
      size_t with_status = 0;
      for (const Json& item : list["items"]) {
        with_status += item.contains("status") ? 1 : 0;
      }
      int64_t now_rv = std::stoll(list["metadata"]["resourceVersion"].get<std::string>());
      if (with_status == list["items"].size() && now_rv == last_rv) break;
      last_rv = now_rv;
      std::this_thread::sleep_for(std::chrono::seconds(1));
    }
    settle_s = Seconds(Clock::now() - created);
    settled_cpu = CpuSeconds(pid) - server_cpu_start;
    writes = last_rv - std::stoll(rv);
    rss_settled = RssKiB(pid);
  }

  double create_s = Seconds(created - start);
  std::printf("objects                     %d BackupPolicy (%zu bytes each as JSON)\n", objects,
              bodies[0].size());
  std::printf("create throughput           %.0f creates/s (%d connections, %.2f s, %d failed)\n",
              objects / create_s, connections, create_s, failures.load());
  std::printf("CPU per create              server %.0f us, benchmark clients %.0f us (until every "
              "watcher had every event)\n",
              server_cpu * 1e6 / objects, client_cpu * 1e6 / objects);
  std::printf("list all (median of 5)      %.1f ms (%.1f MiB)\n", list_ms[2],
              list_bytes / 1048576.0);
  std::printf("list labelSelector shard=3  %.1f ms (%zu items)\n", selector_ms, selected_items);
  std::printf("watch fan-out               %d watchers got all %d events %.0f ms after the last "
              "create returned\n",
              watchers, objects, Seconds(last_watch - created) * 1000);
  if (controllers) {
    std::printf(
        "controllers settled         %.1f s after the last create; %.2f writes per create, "
        "server CPU %.0f us per create incl. reconciles and their list polling; RSS %.1f MiB\n",
        settle_s, static_cast<double>(writes) / objects, settled_cpu * 1e6 / objects,
        rss_settled / 1024.0);
  }
  std::printf("RSS of lifeboat up          %.1f MiB at start, %.1f MiB after %d objects\n",
              rss_start / 1024.0, rss_end / 1024.0, objects);
  kill(pid, SIGTERM);
  int status = 0;
  waitpid(pid, &status, 0);
  std::filesystem::remove_all(dir);
  return failures.load() == 0 ? 0 : 1;
}
