#include "apiserver/store.h"

#include <gtest/gtest.h>

#include "tests/support/temp_dir.h"

namespace lifeboat::apiserver {
namespace {

Json Object(const std::string& name, const std::string& app = "web") {
  return {{"apiVersion", "v1"},
          {"kind", "ConfigMap"},
          {"metadata", {{"name", name}, {"namespace", "ns"}, {"uid", "uid-" + name},
                        {"labels", {{"app", app}}}}},
          {"data", {{"k", "v"}}}};
}

std::unique_ptr<Store> OpenStore(const testing::TempDir& dir, size_t capacity = 10'000) {
  auto store = Store::Open(StoreOptions{dir / "state.db", capacity});
  EXPECT_TRUE(store.ok()) << store.status();
  return std::move(store).value();
}

TEST(StoreTest, CreateGetUpdateDeleteBumpTheRevision) {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  ObjectKey key{"/configmaps", "ns", "a"};
  auto created = store->Create(key, Object("a"));
  ASSERT_TRUE(created.ok()) << created.status();
  EXPECT_EQ(created->rv, 1);
  EXPECT_EQ(Json::parse(*created->json)["metadata"]["resourceVersion"], "1");
  EXPECT_EQ(store->Create(key, Object("a")).status().code(), StatusCode::kAlreadyExists);

  Json changed = Object("a");
  changed["data"]["k"] = "w";
  EXPECT_EQ(store->Update(key, changed, 7).status().code(), StatusCode::kAborted);
  auto updated = store->Update(key, changed, 1);
  ASSERT_TRUE(updated.ok());
  EXPECT_EQ(updated->rv, 2);
  EXPECT_EQ(Json::parse(*store->Get(key)->json)["data"]["k"], "w");
  EXPECT_TRUE(store->FindByUid("uid-a").has_value());

  ASSERT_TRUE(store->Delete(key, changed, 2).ok());
  EXPECT_TRUE(IsNotFound(store->Get(key).status()));
  EXPECT_FALSE(store->FindByUid("uid-a").has_value());
  EXPECT_EQ(store->revision(), 3);
}

TEST(StoreTest, RestartKeepsObjectsAndRevision) {
  testing::TempDir dir;
  {
    auto store = OpenStore(dir);
    for (int i = 0; i < 50; ++i) {
      ASSERT_TRUE(store->Create({"/configmaps", "ns", "o" + std::to_string(i)},
                                Object("o" + std::to_string(i)))
                      .ok());
    }
    ASSERT_TRUE(store->Delete({"/configmaps", "ns", "o0"}, Object("o0"), 0).ok());
  }
  auto store = OpenStore(dir);
  EXPECT_EQ(store->revision(), 51);
  EXPECT_EQ(store->Count("/configmaps", "ns"), 49u);
  auto next = store->Create({"/configmaps", "ns", "new"}, Object("new"));
  ASSERT_TRUE(next.ok());
  EXPECT_EQ(next->rv, 52);
  EXPECT_EQ((*store->Get({"/configmaps", "ns", "o7"})->labels)[0].second, "web");
}

TEST(StoreTest, ListIsOrderedAndScopedByNamespace) {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  for (const char* ns : {"b", "a", "c"}) {
    for (const char* name : {"y", "x"}) {
      Json o = Object(name);
      o["metadata"]["uid"] = std::string(ns) + name;
      ASSERT_TRUE(store->Create({"/configmaps", ns, name}, o).ok());
    }
  }
  auto all = store->List("/configmaps", "");
  ASSERT_EQ(all.items.size(), 6u);
  EXPECT_EQ(all.items[0].first.ns, "a");
  EXPECT_EQ(all.items[0].first.name, "x");
  auto in_b = store->List("/configmaps", "b");
  ASSERT_EQ(in_b.items.size(), 2u);
  auto after = store->List("/configmaps", "", "b/x");
  EXPECT_EQ(after.items.size(), 3u);
  EXPECT_EQ(store->KeysInNamespace("c").size(), 2u);
}

TEST(StoreTest, WatchReplaysFromRevisionAndReportsGone) {
  testing::TempDir dir;
  auto store = OpenStore(dir, /*capacity=*/5);
  for (int i = 0; i < 10; ++i) {
    ASSERT_TRUE(store->Create({"/configmaps", "ns", "o" + std::to_string(i)},
                              Object("o" + std::to_string(i)))
                    .ok());
  }
  std::vector<int64_t> seen;
  auto id = store->Watch("/configmaps", 7, [&](const Event& e) { seen.push_back(e.object.rv); });
  ASSERT_TRUE(id.ok());
  EXPECT_EQ(seen, (std::vector<int64_t>{8, 9, 10}));
  ASSERT_TRUE(store->Create({"/configmaps", "ns", "late"}, Object("late")).ok());
  EXPECT_EQ(seen.back(), 11);
  store->Unwatch(*id);

  auto gone = store->Watch("/configmaps", 2, [](const Event&) {});
  EXPECT_EQ(gone.status().code(), StatusCode::kOutOfRange);

  std::vector<std::string> initial;
  auto from_zero = store->Watch("/configmaps", 0, [&](const Event& e) {
    EXPECT_EQ(e.type, EventType::kAdded);
    initial.push_back(e.key.name);
  });
  ASSERT_TRUE(from_zero.ok());
  EXPECT_EQ(initial.size(), 11u);
}

}  // namespace
}  // namespace lifeboat::apiserver
