#include "apiserver/store.h"

#include <gtest/gtest.h>
#include <signal.h>
#include <sqlite3.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <numeric>
#include <set>
#include <thread>

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

TEST(StoreTest, FindOwnedByFollowsOwnerReferencesThroughWritesAndRestart) {
  testing::TempDir dir;
  auto owned = [](const std::string& name, std::vector<std::string> owners) {
    Json o = Object(name);
    for (const std::string& uid : owners) {
      // The uid also appears elsewhere in the text: only ownerReferences count.
      o["metadata"]["ownerReferences"].push_back(
          {{"apiVersion", "v1"}, {"kind", "ConfigMap"}, {"name", uid}, {"uid", uid}});
    }
    o["data"]["mentions"] = "uid-c";
    return o;
  };
  auto keys = [](const std::vector<ObjectKey>& found) {
    std::set<std::string> names;
    for (const ObjectKey& k : found) names.insert(k.resource + " " + k.ns + "/" + k.name);
    return names;
  };
  {
    auto store = OpenStore(dir);
    ASSERT_TRUE(store->Create({"/configmaps", "ns", "a"}, owned("a", {"uid-x"})).ok());
    ASSERT_TRUE(store->Create({"/secrets", "ns", "b"}, owned("b", {"uid-x", "uid-y"})).ok());
    ASSERT_TRUE(store->Create({"/configmaps", "ns", "c"}, owned("c", {})).ok());
    EXPECT_EQ(keys(store->FindOwnedBy("uid-x")),
              (std::set<std::string>{"/configmaps ns/a", "/secrets ns/b"}));
    EXPECT_EQ(keys(store->FindOwnedBy("uid-y")), (std::set<std::string>{"/secrets ns/b"}));
    EXPECT_TRUE(store->FindOwnedBy("uid-c").empty());  // mentioned, not an owner
    // a moves from x to y; b is deleted.
    auto a = store->Get({"/configmaps", "ns", "a"});
    ASSERT_TRUE(store->Update({"/configmaps", "ns", "a"}, owned("a", {"uid-y"}), a->rv).ok());
    auto b = store->Get({"/secrets", "ns", "b"});
    ASSERT_TRUE(store->Delete({"/secrets", "ns", "b"}, Json::parse(*b->json), b->rv).ok());
    EXPECT_TRUE(store->FindOwnedBy("uid-x").empty());
    EXPECT_EQ(keys(store->FindOwnedBy("uid-y")), (std::set<std::string>{"/configmaps ns/a"}));
  }
  auto reopened = OpenStore(dir);
  EXPECT_TRUE(reopened->FindOwnedBy("uid-x").empty());
  EXPECT_EQ(keys(reopened->FindOwnedBy("uid-y")), (std::set<std::string>{"/configmaps ns/a"}));
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

// The names listed at `at_rv` after `after`, each with its data.k.
std::vector<std::string> NamesAt(const Store& store, const std::string& after, int64_t at_rv,
                                 const std::string& ns = "ns") {
  auto listed = store.ListAt("/configmaps", ns, after, at_rv);
  EXPECT_TRUE(listed.ok()) << listed.status();
  std::vector<std::string> out;
  if (!listed.ok()) return out;
  for (const auto& [key, stored] : listed->items) {
    out.push_back(key.name + "=" + Json::parse(*stored.json)["data"]["k"].get<std::string>());
  }
  return out;
}

TEST(StoreTest, ListAtRebuildsAnEarlierRevisionFromTheLog) {
  testing::TempDir dir;
  auto store = OpenStore(dir, 8);
  for (const char* name : {"a", "b", "c", "d"}) {
    ASSERT_TRUE(store->Create(ObjectKey{"/configmaps", "ns", name}, Object(name)).ok());
  }
  ASSERT_TRUE(store->Create(ObjectKey{"/configmaps", "other", "x"}, Object("x")).ok());
  int64_t at = store->revision();  // 5
  Json changed = Object("b");
  changed["data"]["k"] = "changed";
  ASSERT_TRUE(store->Update(ObjectKey{"/configmaps", "ns", "b"}, changed, 2).ok());
  changed["data"]["k"] = "twice";
  ASSERT_TRUE(store->Update(ObjectKey{"/configmaps", "ns", "b"}, changed, 6).ok());
  ASSERT_TRUE(store->Delete(ObjectKey{"/configmaps", "ns", "c"}, Object("c"), 3).ok());
  ASSERT_TRUE(store->Create(ObjectKey{"/configmaps", "ns", "bb"}, Object("bb")).ok());
  ASSERT_TRUE(store->Create(ObjectKey{"/configmaps", "ns", "e"}, Object("e")).ok());

  EXPECT_EQ(NamesAt(*store, "", at), (std::vector<std::string>{"a=v", "b=v", "c=v", "d=v"}));
  EXPECT_EQ(NamesAt(*store, "ns/a", at), (std::vector<std::string>{"b=v", "c=v", "d=v"}));
  EXPECT_EQ(NamesAt(*store, "ns/b", at), (std::vector<std::string>{"c=v", "d=v"}));
  EXPECT_EQ(NamesAt(*store, "", 0),
            (std::vector<std::string>{"a=v", "b=twice", "bb=v", "d=v", "e=v"}));
  EXPECT_EQ(NamesAt(*store, "", 7), (std::vector<std::string>{"a=v", "b=twice", "c=v", "d=v"}));
  auto all = store->ListAt("/configmaps", "", "", at);
  ASSERT_TRUE(all.ok());
  EXPECT_EQ(all->items.size(), 5u);
  EXPECT_EQ(all->revision, at);
  // Newer than the store, or older than the log reaches (capacity 8: events 3..10 are kept).
  EXPECT_EQ(store->ListAt("/configmaps", "ns", "", 99).status().code(),
            StatusCode::kInvalidArgument);
  EXPECT_EQ(store->ListAt("/configmaps", "ns", "", 1).status().code(), StatusCode::kOutOfRange);
  EXPECT_TRUE(store->ListAt("/configmaps", "ns", "", 2).ok());
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

TEST(StoreTest, ConcurrentWritesCommitInRevisionOrderAndWatchSeesEveryOne) {
  testing::TempDir dir;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 150;
  std::vector<int64_t> returned;
  std::vector<int64_t> watched;
  {
    auto store = OpenStore(dir);
    std::mutex mu;
    auto id = store->Watch("/configmaps", 0, [&](const Event& e) { watched.push_back(e.object.rv); });
    ASSERT_TRUE(id.ok());
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0; i < kPerThread; ++i) {
          std::string name = "o" + std::to_string(t) + "-" + std::to_string(i);
          ObjectKey key{"/configmaps", "ns", name};
          auto created = store->Create(key, Object(name));
          ASSERT_TRUE(created.ok()) << created.status();
          // What a writer got back is committed: reads see it at once.
          ASSERT_TRUE(store->Get(key).ok());
          ASSERT_GE(store->revision(), created->rv);
          auto updated = store->Update(key, Object(name, "db"), created->rv);
          ASSERT_TRUE(updated.ok()) << updated.status();
          std::lock_guard<std::mutex> lock(mu);
          returned.push_back(created->rv);
          returned.push_back(updated->rv);
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    store->Unwatch(*id);
  }
  std::sort(returned.begin(), returned.end());
  std::vector<int64_t> expected(2 * kThreads * kPerThread);
  std::iota(expected.begin(), expected.end(), 1);
  EXPECT_EQ(returned, expected);  // every revision handed out once, none skipped
  EXPECT_EQ(watched, expected);   // and published in order

  auto reopened = OpenStore(dir);
  EXPECT_EQ(reopened->revision(), 2 * kThreads * kPerThread);
  EXPECT_EQ(reopened->Count("/configmaps", "ns"), static_cast<size_t>(kThreads * kPerThread));
  auto one = reopened->Get({"/configmaps", "ns", "o3-7"});
  ASSERT_TRUE(one.ok());
  EXPECT_EQ((*one->labels)[0].second, "db");
}

TEST(StoreTest, QueuedWritesSeeEachOtherAndConflictsStayConflicts) {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  constexpr int kThreads = 6;
  std::atomic<int> created{0};
  std::atomic<int> exists{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 100; ++i) {
        std::string name = "same-" + std::to_string(i);
        auto r = store->Create({"/configmaps", "ns", name}, Object(name));
        if (r.ok()) {
          ++created;
        } else {
          EXPECT_EQ(r.status().code(), StatusCode::kAlreadyExists);
          ++exists;
        }
      }
    });
  }
  for (auto& t : threads) {
    t.join();
  }
  EXPECT_EQ(created.load(), 100);
  EXPECT_EQ(exists.load(), 100 * (kThreads - 1));
  EXPECT_EQ(store->revision(), 100);
}

TEST(StoreTest, AFailedCommitLeavesNoTraceAndLaterWritesReuseTheRevision) {
  testing::TempDir dir;
  auto store = OpenStore(dir);
  ASSERT_TRUE(store->Create({"/configmaps", "ns", "a"}, Object("a")).ok());
  {
    // Another connection makes SQLite refuse one name.
    sqlite3* db = nullptr;
    ASSERT_EQ(sqlite3_open((dir / "state.db").c_str(), &db), SQLITE_OK);
    sqlite3_busy_timeout(db, 5000);
    ASSERT_EQ(sqlite3_exec(db,
                           "CREATE TRIGGER refuse BEFORE INSERT ON objects WHEN NEW.name = 'bad' "
                           "BEGIN SELECT RAISE(ABORT, 'refused by the test'); END;",
                           nullptr, nullptr, nullptr),
              SQLITE_OK);
    sqlite3_close(db);
  }
  std::vector<int64_t> watched;
  auto id = store->Watch("/configmaps", 0, [&](const Event& e) { watched.push_back(e.object.rv); });
  ASSERT_TRUE(id.ok());
  auto bad = store->Create({"/configmaps", "ns", "bad"}, Object("bad"));
  EXPECT_EQ(bad.status().code(), StatusCode::kInternal);
  EXPECT_NE(bad.status().message().find("refused by the test"), std::string::npos)
      << bad.status();
  EXPECT_TRUE(IsNotFound(store->Get({"/configmaps", "ns", "bad"}).status()));
  EXPECT_FALSE(store->FindByUid("uid-bad").has_value());
  EXPECT_EQ(store->revision(), 1);
  auto good = store->Create({"/configmaps", "ns", "good"}, Object("good"));
  ASSERT_TRUE(good.ok()) << good.status();
  EXPECT_EQ(good->rv, 2);
  EXPECT_EQ(watched, (std::vector<int64_t>{1, 2}));
  store->Unwatch(*id);
}

TEST(StoreTest, EveryReturnedWriteSurvivesKill9) {
  testing::TempDir dir;
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    // The child writes from four threads and reports each write once Create returned.
    close(fds[0]);
    auto store = Store::Open(StoreOptions{dir / "state.db", 10'000, /*checkpoint_pages=*/50});
    if (!store.ok()) {
      _exit(3);
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
      threads.emplace_back([&, t] {
        for (int i = 0;; ++i) {
          std::string name = "k" + std::to_string(t) + "-" + std::to_string(i);
          if (!(*store)->Create({"/configmaps", "ns", name}, Object(name)).ok()) {
            _exit(4);
          }
          std::string line = name + "\n";
          if (write(fds[1], line.data(), line.size()) != static_cast<ssize_t>(line.size())) {
            _exit(5);
          }
        }
      });
    }
    for (auto& t : threads) {
      t.join();
    }
    _exit(0);
  }
  close(fds[1]);
  std::set<std::string> acknowledged;
  std::string pending;
  char buf[4096];
  while (acknowledged.size() < 2000) {
    ssize_t n = read(fds[0], buf, sizeof(buf));
    ASSERT_GT(n, 0) << "the writer process stopped early";
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      acknowledged.insert(pending.substr(0, nl));
      pending.erase(0, nl + 1);
    }
  }
  kill(child, SIGKILL);
  int status = 0;
  waitpid(child, &status, 0);
  close(fds[0]);
  ASSERT_TRUE(WIFSIGNALED(status));

  auto store = OpenStore(dir);
  for (const std::string& name : acknowledged) {
    EXPECT_TRUE(store->Get({"/configmaps", "ns", name}).ok()) << name << " was lost";
  }
  EXPECT_GE(store->revision(), static_cast<int64_t>(acknowledged.size()));
  EXPECT_EQ(static_cast<int64_t>(store->Count("/configmaps", "ns")), store->revision());
}

}  // namespace
}  // namespace lifeboat::apiserver
