#include "controller/store.h"

#include <gtest/gtest.h>
#include <malloc.h>

#include <string>

#include "controller/object_key.h"

namespace lifeboat::controller {
namespace {

// A BackupPolicy as `lifeboat up` serves it once reconciled (metadata, spec and status).
Json Policy(int i) {
  std::string n = std::to_string(i);
  return Json::parse(R"({"apiVersion":"lifeboat.dev/v1alpha1","kind":"BackupPolicy",
    "metadata":{"name":"policy-)" +
                     n + R"(","namespace":"bench","labels":{"app":"bench",
    "shard":"4"},"uid":"6f1c1e9a-3b1f-4c51-9a3e-0b7d1a2c)" +
                     std::to_string(1000 + i) + R"(",
    "resourceVersion":")" +
                     std::to_string(20000 + i) + R"(","generation":1,
    "creationTimestamp":"2026-12-04T18:30:37Z"},
    "spec":{"vaultRef":{"name":"vault"},"volumes":[{"name":"data","path":"/srv/app-)" +
                     n + R"(/data"},{"name":"db","path":"/srv/app-)" + n + R"(/db"}],
    "schedule":{"cron":"*/15 * * * *","timeZone":"UTC"},
    "retention":{"keepLast":5,"hourly":24,"daily":7,"weekly":4},"rpo":"30m",
    "consistency":{"type":"Application","preHook":{"exec":{"command":["sh","-c","sync"]},
    "timeout":"30s"},"postHook":{"exec":{"command":["sync"]}}}},
    "status":{"observedGeneration":1,"recoveryPointCount":0,"currentRPOSeconds":3.5,
    "nextBackupTime":"2026-12-04T18:45:00Z","conditions":[{"type":"Ready","status":"False",
    "reason":"VaultNotFound","message":"vaultRef: Vault bench/vault not found",
    "lastTransitionTime":"2026-12-04T18:30:37Z","observedGeneration":1},{"type":"RPOMet",
    "status":"Unknown","reason":"NoRecoveryPointYet","message":"no recovery point yet; objective 30m",
    "lastTransitionTime":"2026-12-04T18:30:37Z","observedGeneration":1}]}})");
}

TEST(InformerStoreTest, GetReturnsWhatWasStored) {
  Store store;
  Json policy = Policy(7);
  policy["status"]["big"] = uint64_t{1} << 63;
  policy["status"]["negative"] = -12;
  policy["status"]["flag"] = true;
  policy["status"]["nothing"] = nullptr;
  policy["status"]["text"] = "ünïcødé \"quoted\"\n";
  EXPECT_EQ(store.Upsert(KeyOf(policy), Store::Encode(policy)), nullptr);
  ObjectPtr got = store.Get("bench/policy-7");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, policy);
  EXPECT_EQ(got->dump(), policy.dump());
  EXPECT_EQ(store.Get("bench/policy-8"), nullptr);
  EXPECT_EQ(store.Size(), 1u);
}

TEST(InformerStoreTest, LeavesManagedFieldsOut) {
  Store store;
  Json policy = Policy(3);
  Json applied = policy;
  applied["metadata"]["managedFields"] =
      Json::array({{{"manager", "flux"},
                    {"operation", "Apply"},
                    {"fieldsType", "FieldsV1"},
                    {"fieldsV1", {{"f:spec", {{"f:rpo", Json::object()}}}}}}});
  store.Upsert(KeyOf(applied), Store::Encode(applied));
  ObjectPtr got = store.Get("bench/policy-3");
  ASSERT_NE(got, nullptr);
  EXPECT_EQ(*got, policy);
}

TEST(InformerStoreTest, UpsertRemoveAndReplaceReturnThePreviousVersion) {
  Store store;
  Json v1 = Policy(1);
  Json v2 = v1;
  v2["metadata"]["resourceVersion"] = "30001";
  store.Upsert("bench/policy-1", Store::Encode(v1));
  Store::Encoded previous = store.Upsert("bench/policy-1", Store::Encode(v2));
  ASSERT_NE(previous, nullptr);
  EXPECT_EQ(*Store::Decode(previous), v1);
  EXPECT_EQ(*store.Get("bench/policy-1"), v2);
  EXPECT_EQ(store.EncodedBytes(), Store::Encode(v2)->size());

  Store::Encoded removed = store.Remove("bench/policy-1");
  ASSERT_NE(removed, nullptr);
  EXPECT_EQ(*Store::Decode(removed), v2);
  EXPECT_EQ(store.Remove("bench/policy-1"), nullptr);
  EXPECT_EQ(store.Size(), 0u);
  EXPECT_EQ(store.EncodedBytes(), 0u);

  store.Upsert("bench/policy-1", Store::Encode(v1));
  Store::Contents next;
  next.emplace("bench/policy-2", Store::Encode(Policy(2)));
  next.emplace("bench/policy-3", Store::Encode(Policy(3)));
  Store::Contents old = store.Replace(next);
  ASSERT_EQ(old.size(), 1u);
  EXPECT_EQ(*Store::Decode(old.at("bench/policy-1")), v1);
  EXPECT_EQ(store.Keys(), (std::vector<std::string>{"bench/policy-2", "bench/policy-3"}));
  std::vector<ObjectPtr> listed = store.List();
  ASSERT_EQ(listed.size(), 2u);
  EXPECT_EQ(*listed[1], Policy(3));
}

TEST(InformerStoreTest, SnapshotsAreIndependentOfLaterWrites) {
  Store store;
  store.Upsert("bench/policy-1", Store::Encode(Policy(1)));
  ObjectPtr before = store.Get("bench/policy-1");
  Json changed = Policy(1);
  changed["spec"]["rpo"] = "1h";
  store.Upsert("bench/policy-1", Store::Encode(changed));
  EXPECT_EQ((*before)["spec"]["rpo"], "30m");
  EXPECT_EQ((*store.Get("bench/policy-1"))["spec"]["rpo"], "1h");
}

// The memory of `lifeboat up` at 10,000 BackupPolicies is mostly this cache: held as
// nlohmann::json trees it took ~9 KB per policy (90 MiB at 10,000). This counts the heap the
// store holds per object (deterministic: the same allocations every run, on this thread's
// arena), and allows twice the object's JSON text.
TEST(InformerStoreTest, HoldsAnObjectInAboutItsSerialisedSize) {
  constexpr int kObjects = 2000;
  size_t text_bytes = 0;
  for (int i = 0; i < kObjects; ++i) {
    text_bytes += Policy(i).dump().size();
  }
  malloc_trim(0);
  const size_t before = mallinfo2().uordblks;
  {
    Store store;
    for (int i = 0; i < kObjects; ++i) {
      Json policy = Policy(i);
      store.Upsert(KeyOf(policy), Store::Encode(policy));
    }
    const size_t held = mallinfo2().uordblks - before;
    const size_t per_object = held / kObjects;
    const size_t text_per_object = text_bytes / kObjects;
    RecordProperty("heap_bytes_per_object", static_cast<int>(per_object));
    RecordProperty("json_text_bytes_per_object", static_cast<int>(text_per_object));
    EXPECT_LE(per_object, 2 * text_per_object)
        << "the cache holds " << per_object << " heap bytes per BackupPolicy of " << text_per_object
        << " bytes of JSON";
    EXPECT_LE(store.EncodedBytes(), text_bytes);
  }
}

TEST(InformerStoreTest, IndexFollowsUpsertRemoveAndReplace) {
  Store store;
  store.AddIndex("shard", [](const Json& o) -> std::vector<std::string> {
    std::string shard = o.value("/metadata/labels/shard"_json_pointer, "");
    if (shard.empty()) return {};
    return {shard, "any"};
  });
  auto names = [&](const std::string& value) {
    std::vector<std::string> out;
    for (const ObjectPtr& o : store.ByIndex("shard", value))
      out.push_back((*o)["metadata"]["name"]);
    return out;
  };
  Json a = Policy(1), b = Policy(2), c = Policy(3);
  b["metadata"]["labels"]["shard"] = "5";
  c["metadata"]["labels"].erase("shard");
  store.Upsert(KeyOf(a), Store::Encode(a), &a);
  store.Upsert(KeyOf(b), Store::Encode(b));  // decoded by the store
  store.Upsert(KeyOf(c), Store::Encode(c), &c);
  EXPECT_EQ(names("4"), std::vector<std::string>{"policy-1"});
  EXPECT_EQ(names("5"), std::vector<std::string>{"policy-2"});
  EXPECT_EQ(names("any"), (std::vector<std::string>{"policy-1", "policy-2"}));
  EXPECT_TRUE(store.ByIndex("unknown", "4").empty());
  EXPECT_TRUE(names("nothing").empty());

  a["metadata"]["labels"]["shard"] = "5";  // moves
  store.Upsert(KeyOf(a), Store::Encode(a), &a);
  EXPECT_TRUE(names("4").empty());
  EXPECT_EQ(names("5"), (std::vector<std::string>{"policy-1", "policy-2"}));
  store.Remove(KeyOf(b));
  EXPECT_EQ(names("5"), std::vector<std::string>{"policy-1"});

  Store::Contents fresh;
  fresh.emplace(KeyOf(b), Store::Encode(b));
  fresh.emplace(KeyOf(c), Store::Encode(c));
  store.Replace(std::move(fresh));
  EXPECT_EQ(names("5"), std::vector<std::string>{"policy-2"});
  EXPECT_EQ(names("any"), std::vector<std::string>{"policy-2"});

  // An index added to a filled store covers what it holds.
  store.AddIndex("name",
                 [](const Json& o) -> std::vector<std::string> { return {o["metadata"]["name"]}; });
  EXPECT_EQ(store.ByIndex("name", "policy-3").size(), 1u);
}

}  // namespace
}  // namespace lifeboat::controller
