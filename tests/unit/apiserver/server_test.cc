#include "apiserver/server.h"

#include <sys/stat.h>

#include <gtest/gtest.h>

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

}  // namespace
}  // namespace lifeboat::apiserver
