#include "apiserver/server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <thread>

#include "apiserver/client.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::apiserver {
namespace {

std::string ReadFile(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::unique_ptr<Server> StartServer(const std::filesystem::path& data_dir, bool plain = false) {
  ServerOptions options;
  options.data_dir = data_dir;
  options.port = 0;
  options.plain_http = plain;
  auto server = NewServer(options);
  EXPECT_TRUE(server.ok());
  Status started = (*server)->Start();
  EXPECT_TRUE(started.ok()) << started;
  return std::move(server).value();
}

std::unique_ptr<Client> ClientFor(const Server& server, const std::filesystem::path& data_dir,
                                  const std::string& token) {
  auto client = NewClient(ClientOptions{server.url(), token, ReadFile(data_dir / "ca.crt")});
  EXPECT_TRUE(client.ok());
  return std::move(client).value();
}

TEST(ServerTest, HttpsWithTokenAndKubeconfig) {
  testing::TempDir dir;
  auto server = StartServer(dir.path());
  EXPECT_NE(server->port(), 0);
  EXPECT_EQ(server->url().rfind("https://127.0.0.1:", 0), 0u);
  std::string kubeconfig = ReadFile(server->kubeconfig_path());
  EXPECT_NE(kubeconfig.find("server: " + server->url()), std::string::npos);
  EXPECT_NE(kubeconfig.find("token: " + server->bearer_token()), std::string::npos);
  EXPECT_NE(kubeconfig.find("certificate-authority-data: "), std::string::npos);
  struct stat st;
  ASSERT_EQ(::stat((dir.path() / "token").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);

  auto anonymous = ClientFor(*server, dir.path(), "");
  auto r = anonymous->Do("GET", "/api/v1/namespaces");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 401);
  auto client = ClientFor(*server, dir.path(), server->bearer_token());
  auto ns = client->Do("GET", "/api/v1/namespaces");
  ASSERT_TRUE(ns.ok()) << ns.status();
  EXPECT_EQ(ns->status, 200);
  EXPECT_EQ(Json::parse(ns->body)["items"].size(), 3u);
}

TEST(ServerTest, WatchStreamsOverHttpAndRestartKeepsState) {
  testing::TempDir dir;
  auto server = StartServer(dir.path());
  auto client = ClientFor(*server, dir.path(), server->bearer_token());
  auto list = client->Do("GET", "/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(list.ok());
  std::string rv = Json::parse(list->body)["metadata"]["resourceVersion"];

  std::vector<std::string> names;
  auto watcher_client = ClientFor(*server, dir.path(), server->bearer_token());
  std::thread watcher([&] {
    auto status = watcher_client->Stream(
        "/api/v1/namespaces/default/configmaps?watch=true&timeoutSeconds=20&resourceVersion=" + rv,
        [&](const std::string& line) {
          Json e = Json::parse(line);
          names.push_back(e["object"]["metadata"]["name"]);
          return names.size() < 3;
        });
    EXPECT_TRUE(status.ok());
  });
  for (int i = 0; i < 3; ++i) {
    auto c = client->Do("POST", "/api/v1/namespaces/default/configmaps",
                        R"({"metadata":{"name":"c)" + std::to_string(i) + R"("},"data":{"a":"b"}})");
    ASSERT_TRUE(c.ok());
    ASSERT_EQ(c->status, 201) << c->body;
  }
  watcher.join();
  EXPECT_EQ(names, (std::vector<std::string>{"c0", "c1", "c2"}));
  std::string token = server->bearer_token();
  server->Stop();

  auto again = StartServer(dir.path());
  EXPECT_EQ(again->bearer_token(), token);
  auto client2 = ClientFor(*again, dir.path(), token);
  auto after = client2->Do("GET", "/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(after.ok());
  Json items = Json::parse(after->body)["items"];
  ASSERT_EQ(items.size(), 3u);
  EXPECT_GT(std::stoll(Json::parse(after->body)["metadata"]["resourceVersion"].get<std::string>()),
            std::stoll(rv));
}

// A watch whose client disconnects stops costing the server: its queued events are freed when
// the socket closes, and the watch itself goes at the next event (cpprestsdk's listener kept
// queueing events for closed watchers, up to 64 MiB each).
TEST(ServerTest, AWatchWhoseClientLeftIsFreed) {
  testing::TempDir dir;
  auto server = StartServer(dir.path(), /*plain=*/true);
  auto client = ClientFor(*server, dir.path(), server->bearer_token());
  auto list = client->Do("GET", "/api/v1/namespaces/default/configmaps");
  ASSERT_TRUE(list.ok());
  std::string rv = Json::parse(list->body)["metadata"]["resourceVersion"];

  // The watcher: a raw socket with a small receive buffer that reads the response head only.
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  int rcvbuf = 4096;
  ::setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof(rcvbuf));
  timeval tv{10, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(static_cast<uint16_t>(server->port()));
  ::inet_pton(AF_INET, "127.0.0.1", &addr.sin_addr);
  ASSERT_EQ(::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
  std::string request =
      "GET /api/v1/namespaces/default/configmaps?watch=true&resourceVersion=" + rv +
      " HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer " + server->bearer_token() + "\r\n\r\n";
  ASSERT_EQ(::send(fd, request.data(), request.size(), MSG_NOSIGNAL),
            static_cast<ssize_t>(request.size()));
  std::string head;
  char ch;
  while (head.find("\r\n\r\n") == std::string::npos && ::recv(fd, &ch, 1, 0) == 1) {
    head += ch;
  }
  ASSERT_EQ(head.rfind("HTTP/1.1 200", 0), 0u) << head;

  // 12 MiB of events the watcher does not read.
  std::string data(128u << 10, 'd');
  for (int i = 0; i < 96; ++i) {
    Json cm = {{"metadata", {{"name", "big" + std::to_string(i)}}}, {"data", {{"d", data}}}};
    auto c = client->Do("POST", "/api/v1/namespaces/default/configmaps", cm.dump());
    ASSERT_TRUE(c.ok()) << c.status();
    ASSERT_EQ(c->status, 201) << c->body;
  }
  ServerStats stats = server->stats();
  EXPECT_EQ(stats.watches, 1u);
  EXPECT_EQ(stats.streams, 1u);
  EXPECT_GT(stats.stream_backlog_bytes, 4u << 20);

  ::close(fd);  // with unread data: a reset
  auto poll = [&](auto done) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (!done(server->stats()) && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));  // polling a counter
    }
    return server->stats();
  };
  auto start = std::chrono::steady_clock::now();
  stats = poll([](const ServerStats& s) { return s.streams == 0; });
  EXPECT_EQ(stats.streams, 0u);
  EXPECT_EQ(stats.stream_backlog_bytes, 0u);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(1));

  // The next event finds the stream gone; the watch is dropped.
  auto c = client->Do("POST", "/api/v1/namespaces/default/configmaps",
                      R"({"metadata":{"name":"after"}})");
  ASSERT_TRUE(c.ok());
  ASSERT_EQ(c->status, 201);
  stats = poll([](const ServerStats& s) { return s.watches == 0; });
  EXPECT_EQ(stats.watches, 0u);
}

TEST(ServerTest, PlainHttpOnlyOnLoopback) {
  testing::TempDir dir;
  ServerOptions options;
  options.data_dir = dir.path();
  options.port = 0;
  options.plain_http = true;
  options.bind_address = "0.0.0.0";
  auto server = NewServer(options);
  ASSERT_TRUE(server.ok());
  Status s = (*server)->Start();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("loopback"), std::string::npos);

  auto plain = StartServer(dir / "plain", /*plain=*/true);
  EXPECT_EQ(plain->url().rfind("http://127.0.0.1:", 0), 0u);
  auto client = NewClient(ClientOptions{plain->url(), plain->bearer_token(), ""});
  ASSERT_TRUE(client.ok());
  auto r = (*client)->Do("GET", "/version");
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
}

TEST(ServerTest, ThreeWayMergePatchChangesDropsAndKeepsOthersFields) {
  Json original = Json::parse(R"({"a": 1, "b": {"x": 1, "y": 2}, "c": 3, "gone": 5})");
  Json modified = Json::parse(R"({"a": 2, "b": {"x": 1}, "n": {"k": "v"}})");
  Json current =
      Json::parse(R"({"a": 1, "b": {"x": 1, "y": 2, "z": 9}, "c": 3, "d": 4, "e": {"f": 1}})");
  // a changed, b.y and c dropped from the manifest, n new; b.z, d and e are someone else's;
  // "gone" was applied before but is no longer there, so there is nothing to remove.
  EXPECT_EQ(ThreeWayMergePatch(original, modified, current),
            Json::parse(R"({"a": 2, "b": {"y": null}, "c": null, "n": {"k": "v"}})"));
  Json same = Json::parse(R"({"a": 2, "b": {"x": 1}, "n": {"k": "v"}, "d": 4})");
  EXPECT_TRUE(ThreeWayMergePatch(modified, modified, same).empty());
  // No last-applied configuration: nothing is removed.
  EXPECT_EQ(ThreeWayMergePatch(Json(), modified, current),
            Json::parse(R"({"a": 2, "n": {"k": "v"}})"));
}

// `lifeboat up -f` applies like `kubectl apply`: the last-applied annotation is written, an
// unchanged manifest changes nothing, a changed one is patched three-way.
TEST(ServerTest, ApplyObjectCreatesThenPatchesThreeWay) {
  testing::TempDir dir;
  auto server = StartServer(dir.path());
  auto client = ClientFor(*server, dir.path(), server->bearer_token());
  Json manifest = Json::parse(R"({"apiVersion": "v1", "kind": "ConfigMap",
      "metadata": {"name": "settings", "namespace": "default", "labels": {"app": "demo"}},
      "data": {"mode": "fast", "level": "3"}})");
  auto created = ApplyObject(*client, manifest);
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(*created, "configmap/settings created");
  const std::string path = "/api/v1/namespaces/default/configmaps/settings";
  auto got = client->Do("GET", path);
  ASSERT_TRUE(got.ok());
  Json cm = Json::parse(got->body);
  std::string last =
      cm["metadata"]["annotations"].value("kubectl.kubernetes.io/last-applied-configuration", "");
  // What kubectl records: the manifest with an empty annotations map, one line.
  Json recorded = manifest;
  recorded["metadata"]["annotations"] = Json::object();
  EXPECT_EQ(last, recorded.dump() + "\n");
  std::string rv = cm["metadata"]["resourceVersion"];

  auto again = ApplyObject(*client, manifest);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_EQ(*again, "configmap/settings unchanged");
  EXPECT_EQ(Json::parse(client->Do("GET", path)->body)["metadata"]["resourceVersion"], rv);

  // Someone else labels it; the manifest then drops `level` and changes `mode`.
  auto labelled = client->Do("PATCH", path, R"({"metadata": {"labels": {"owner": "ops"}}})",
                             "application/merge-patch+json");
  ASSERT_TRUE(labelled.ok());
  ASSERT_EQ(labelled->status, 200) << labelled->body;
  manifest["data"] = Json::parse(R"({"mode": "slow"})");
  auto configured = ApplyObject(*client, manifest);
  ASSERT_TRUE(configured.ok()) << configured.status();
  EXPECT_EQ(*configured, "configmap/settings configured");
  cm = Json::parse(client->Do("GET", path)->body);
  EXPECT_EQ(cm["data"], Json::parse(R"({"mode": "slow"})"));
  EXPECT_EQ(cm["metadata"]["labels"], Json::parse(R"({"app": "demo", "owner": "ops"})"));
  EXPECT_EQ(Json::parse(cm["metadata"]["annotations"].value(
                "kubectl.kubernetes.io/last-applied-configuration", ""))["data"],
            manifest["data"]);
}

}  // namespace
}  // namespace lifeboat::apiserver
