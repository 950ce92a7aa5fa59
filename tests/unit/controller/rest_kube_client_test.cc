// RestKubeClient against the real embedded API server over HTTPS.
#include <gtest/gtest.h>

#include <atomic>
#include <mutex>
#include <vector>

#include "tests/unit/controller/api_server_fixture.h"

namespace lifeboat::controller {
namespace {

using testing::ApiServerFixture;
using testing::BackupPolicy;
using testing::kBackupPolicies;
using testing::WaitFor;

class RestKubeClientTest : public ApiServerFixture {};

TEST_F(RestKubeClientTest, CrudWithOptimisticConcurrencyAndMappedErrors) {
  auto client = NewClient();
  CreateNamespace(*client, "prod");
  auto created = client->Create(kBackupPolicies, BackupPolicy("prod", "db"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ((*created)["metadata"]["generation"], 1);

  auto got = client->Get(kBackupPolicies, {"prod", "db"});
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ((*got)["spec"]["rpo"], "2h");

  auto duplicate = client->Create(kBackupPolicies, BackupPolicy("prod", "db"));
  EXPECT_EQ(duplicate.status().code(), StatusCode::kAlreadyExists) << duplicate.status();

  Json changed = *got;
  changed["spec"]["rpo"] = "4h";
  auto updated = client->Update(kBackupPolicies, changed);
  ASSERT_TRUE(updated.ok()) << updated.status();
  EXPECT_EQ((*updated)["metadata"]["generation"], 2);

  // `changed` still carries the old resourceVersion: 409 Conflict → kAborted.
  changed["spec"]["rpo"] = "8h";
  auto stale = client->Update(kBackupPolicies, changed);
  EXPECT_EQ(stale.status().code(), StatusCode::kAborted) << stale.status();

  Json bad = BackupPolicy("prod", "bad");
  bad["spec"]["rpo"] = "soon";
  auto invalid = client->Create(kBackupPolicies, bad);
  EXPECT_EQ(invalid.status().code(), StatusCode::kInvalidArgument) << invalid.status();
  EXPECT_NE(invalid.status().message().find("spec.rpo"), std::string::npos) << invalid.status();

  Json status_object = *updated;
  status_object["status"] = {{"observedGeneration", 2}};
  auto with_status = client->UpdateStatus(kBackupPolicies, status_object);
  ASSERT_TRUE(with_status.ok()) << with_status.status();
  EXPECT_EQ((*with_status)["status"]["observedGeneration"], 2);
  EXPECT_EQ((*with_status)["metadata"]["generation"], 2) << "status writes keep the generation";

  auto patched = client->Patch(kBackupPolicies, {"prod", "db"}, PatchType::kMerge,
                               Json{{"metadata", {{"labels", {{"tier", "gold"}}}}}});
  ASSERT_TRUE(patched.ok()) << patched.status();
  EXPECT_EQ((*patched)["metadata"]["labels"]["tier"], "gold");
  EXPECT_EQ((*patched)["metadata"]["labels"]["app"], "db");

  auto json_patched =
      client->Patch(kBackupPolicies, {"prod", "db"}, PatchType::kJsonPatch,
                    Json::array({{{"op", "replace"}, {"path", "/spec/rpo"}, {"value", "1h"}}}));
  ASSERT_TRUE(json_patched.ok()) << json_patched.status();
  EXPECT_EQ((*json_patched)["spec"]["rpo"], "1h");

  DeleteOptions wrong_uid;
  wrong_uid.precondition_uid = "not-the-uid";
  Status refused = client->Delete(kBackupPolicies, {"prod", "db"}, wrong_uid);
  EXPECT_FALSE(refused.ok());

  ASSERT_TRUE(client->Delete(kBackupPolicies, {"prod", "db"}).ok());
  EXPECT_EQ(client->Get(kBackupPolicies, {"prod", "db"}).status().code(), StatusCode::kNotFound);
  EXPECT_EQ(client->Delete(kBackupPolicies, {"prod", "db"}).code(), StatusCode::kNotFound);
}

TEST_F(RestKubeClientTest, ListPagesAndSelectors) {
  auto client = NewClient();
  CreateNamespace(*client, "prod");
  CreateNamespace(*client, "dev");
  for (int i = 0; i < 7; ++i) {
    Json object = BackupPolicy(i < 5 ? "prod" : "dev", "p" + std::to_string(i));
    if (i % 2 == 1) {
      object["metadata"]["labels"]["app"] = "web";
    }
    ASSERT_TRUE(client->Create(kBackupPolicies, object).ok());
  }
  ListOptions paged;
  paged.limit = 2;
  std::vector<std::string> names;
  int pages = 0;
  do {
    auto page = client->List(kBackupPolicies, "", paged);
    ASSERT_TRUE(page.ok()) << page.status();
    ++pages;
    for (const Json& item : page->items) {
      EXPECT_EQ(item["kind"], "BackupPolicy");
      names.push_back(item["metadata"]["name"]);
    }
    EXPECT_FALSE(page->resource_version.empty());
    paged.continue_token = page->continue_token;
  } while (!paged.continue_token.empty());
  EXPECT_EQ(names.size(), 7u);
  EXPECT_EQ(pages, 4);

  auto prod = client->List(kBackupPolicies, "prod", {});
  ASSERT_TRUE(prod.ok());
  EXPECT_EQ(prod->items.size(), 5u);

  ListOptions web;
  web.label_selector = "app=web";
  auto labelled = client->List(kBackupPolicies, "", web);
  ASSERT_TRUE(labelled.ok());
  EXPECT_EQ(labelled->items.size(), 3u);

  ListOptions by_name;
  by_name.field_selector = "metadata.name=p6";
  auto named = client->List(kBackupPolicies, "", by_name);
  ASSERT_TRUE(named.ok());
  ASSERT_EQ(named->items.size(), 1u);
  EXPECT_EQ(named->items[0]["metadata"]["namespace"], "dev");
}

TEST_F(RestKubeClientTest, WatchDeliversEventsInOrderAndStopsOnRequest) {
  auto client = NewClient();
  CreateNamespace(*client, "prod");
  auto start = client->List(kBackupPolicies, "", {});
  ASSERT_TRUE(start.ok());
  std::mutex mu;
  std::vector<std::pair<WatchEventType, std::string>> seen;
  std::stop_source stop;
  Status watch_result;
  std::thread watcher([&] {
    WatchOptions options;
    options.resource_version = start->resource_version;
    watch_result = client->Watch(kBackupPolicies, options, stop.get_token(), [&](WatchEvent&& e) {
      if (e.type == WatchEventType::kBookmark) {
        return;
      }
      std::lock_guard<std::mutex> l(mu);
      seen.emplace_back(e.type, e.object["metadata"]["name"].get<std::string>());
    });
  });
  auto writer = NewClient();
  auto created = writer->Create(kBackupPolicies, BackupPolicy("prod", "a"));
  ASSERT_TRUE(created.ok());
  Json changed = *created;
  changed["spec"]["rpo"] = "3h";
  ASSERT_TRUE(writer->Update(kBackupPolicies, changed).ok());
  ASSERT_TRUE(writer->Delete(kBackupPolicies, {"prod", "a"}).ok());
  EXPECT_TRUE(WaitFor([&] {
    std::lock_guard<std::mutex> l(mu);
    return seen.size() >= 3;
  }));
  stop.request_stop();
  watcher.join();
  EXPECT_EQ(watch_result.code(), StatusCode::kCancelled) << watch_result;
  ASSERT_EQ(seen.size(), 3u);
  EXPECT_EQ(seen[0].first, WatchEventType::kAdded);
  EXPECT_EQ(seen[1].first, WatchEventType::kModified);
  EXPECT_EQ(seen[2].first, WatchEventType::kDeleted);
}

TEST_F(RestKubeClientTest, WatchFromAnExpiredRevisionReportsOutOfRange) {
  auto client = NewClient();
  CreateNamespace(*client, "prod");
  ASSERT_TRUE(client->Create(kBackupPolicies, BackupPolicy("prod", "a")).ok());
  ASSERT_TRUE(client->Create(kBackupPolicies, BackupPolicy("prod", "b")).ok());
  // A restarted server starts with an empty event log: revision 1 is out of its window.
  StopServer();
  StartServer(port_);
  auto fresh = NewClient();
  WatchOptions options;
  options.resource_version = "1";
  std::stop_source stop;
  Status s = fresh->Watch(kBackupPolicies, options, stop.get_token(), [](WatchEvent&&) {});
  EXPECT_EQ(s.code(), StatusCode::kOutOfRange) << s;
  EXPECT_EQ(s.message().rfind("Expired", 0), 0u) << s;
}

TEST_F(RestKubeClientTest, UnreachableServerIsUnavailableAndBadConfigIsRejected) {
  ClientConfig config;
  config.server = "http://127.0.0.1:1";
  config.request_timeout = std::chrono::seconds(2);
  auto client = NewRestKubeClient(config);
  ASSERT_TRUE(client.ok());
  auto got = (*client)->Get(kBackupPolicies, {"prod", "x"});
  EXPECT_EQ(got.status().code(), StatusCode::kUnavailable) << got.status();

  config.server = "ftp://example.com";
  EXPECT_EQ(NewRestKubeClient(config).status().code(), StatusCode::kInvalidArgument);
  config.server = "https://127.0.0.1:6443";
  config.ca_pem = "not a certificate";
  auto bad_ca = NewRestKubeClient(config);
  EXPECT_EQ(bad_ca.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_ca.status().message().find("certificate-authority"), std::string::npos);
}

TEST_F(RestKubeClientTest, WrongTokenIsUnauthenticated) {
  auto config = LoadKubeconfigFile(server_->kubeconfig_path());
  ASSERT_TRUE(config.ok());
  config->bearer_token = "wrong";
  auto client = NewRestKubeClient(*config);
  ASSERT_TRUE(client.ok());
  EXPECT_EQ((*client)->Get(kBackupPolicies, {"prod", "x"}).status().code(),
            StatusCode::kUnauthenticated);
}

}  // namespace
}  // namespace lifeboat::controller
