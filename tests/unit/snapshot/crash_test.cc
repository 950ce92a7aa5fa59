// kill -9 during snapshot creation and deletion: every other snapshot stays intact and
// verifiable, and the next run cleans up what the killed one left behind.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <random>
#include <thread>

#include "engines/snapshot/snapshot.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/snapshot/snapshot_test_util.h"

namespace lifeboat::snapshot {
namespace {

using ::lifeboat::testing::TempDir;
using namespace ::lifeboat::snapshot::testing;

constexpr uint32_t kBs = 4096;
constexpr int kImages = 3;
constexpr uint64_t kImageBlocks = 2048;  // 8 MiB each

StoreOptions Small() {
  StoreOptions o;
  o.block_size = kBs;
  return o;
}

// Versions of one volume's content: each differs from the last in scattered blocks.
std::vector<std::filesystem::path> MakeVersions(const TempDir& tmp) {
  std::vector<std::filesystem::path> out;
  std::mt19937_64 rng(42);
  for (int v = 0; v < kImages; ++v) {
    auto p = tmp / ("v" + std::to_string(v) + ".img");
    if (v == 0) {
      MakeSparse(p, kImageBlocks * kBs);
      for (uint64_t b = 0; b < kImageBlocks; b += 2) {
        WriteAt(p, b * kBs, RandomBytes(rng, kBs));
      }
    } else {
      std::filesystem::copy_file(out.back(), p);
      for (int i = 0; i < 200; ++i) {
        WriteAt(p, (rng() % kImageBlocks) * kBs, RandomBytes(rng, kBs));
      }
    }
    out.push_back(p);
  }
  return out;
}

// Every snapshot in the store verifies and materialises to exactly its source version.
void ExpectAllIntact(const std::filesystem::path& store_dir, const TempDir& tmp) {
  auto store = SnapshotStore::Open(store_dir, Small());
  ASSERT_TRUE(store.ok()) << store.status();
  auto list = (*store)->List();
  ASSERT_TRUE(list.ok()) << list.status();
  for (const SnapshotInfo& info : *list) {
    auto v = (*store)->Verify(info.id);
    ASSERT_TRUE(v.ok()) << v.status();
    auto target = tmp / ("check-" + info.id);
    auto m = (*store)->Materialize({.id = info.id, .target = target});
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(ReadAll(target), ReadAll(info.source)) << info.id << " from " << info.source;
    std::filesystem::remove(target);
  }
}

// The child alternates creating snapshots of the versions and deleting the oldest, forever;
// the parent kills it at a random instant after it has finished `warmup` operations.
pid_t StartChurn(const std::filesystem::path& store_dir,
                 const std::vector<std::filesystem::path>& versions, int ready_fd, int seed) {
  pid_t pid = ::fork();
  if (pid != 0) {
    return pid;
  }
  auto store = SnapshotStore::Open(store_dir, Small());
  if (!store.ok()) {
    ::_exit(2);
  }
  std::mt19937 rng(static_cast<unsigned>(seed));
  for (int op = 0;; ++op) {
    auto list = (*store)->List();
    if (!list.ok()) {
      ::_exit(3);
    }
    if (list->size() >= 3 || (list->size() > 0 && rng() % 3 == 0)) {
      if (!(*store)->Delete(list->front().id).ok()) {
        ::_exit(4);
      }
    } else {
      const auto& src = versions[rng() % versions.size()];
      if (!(*store)->Create({.volume = "disk", .source = src, .threads = 1}).ok()) {
        ::_exit(5);
      }
    }
    char c = 'x';
    if (::write(ready_fd, &c, 1) != 1) {
      ::_exit(6);
    }
  }
}

TEST(SnapshotCrashTest, KillDuringCreateAndDeleteKeepsOtherSnapshotsIntact) {
  TempDir tmp;
  auto versions = MakeVersions(tmp);
  auto store_dir = tmp / "store";
  {
    auto store = SnapshotStore::Open(store_dir, Small());
    ASSERT_TRUE(store.ok());
    ASSERT_TRUE((*store)->Create({.volume = "disk", .source = versions[0]}).ok());
  }
  // Measure one uninterrupted operation so kill instants fall inside operations.
  auto t0 = std::chrono::steady_clock::now();
  {
    auto store = SnapshotStore::Open(store_dir, Small());
    ASSERT_TRUE(store.ok());
    auto s = (*store)->Create({.volume = "disk", .source = versions[1], .threads = 1});
    ASSERT_TRUE(s.ok());
    ASSERT_TRUE((*store)->Delete(s->snapshot.id).ok());
  }
  auto op_us = std::max<int64_t>(200, std::chrono::duration_cast<std::chrono::microseconds>(
                                          std::chrono::steady_clock::now() - t0)
                                              .count() /
                                          2);
  std::mt19937 rng(7);
  constexpr int kRounds = 12;
  for (int round = 0; round < kRounds; ++round) {
    SCOPED_TRACE("round " + std::to_string(round));
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0);
    pid_t pid = StartChurn(store_dir, versions, fds[1], round);
    ::close(fds[1]);
    // Let it finish a couple of operations, then kill it somewhere inside the next one.
    char c;
    int warmup = 1 + static_cast<int>(rng() % 3);
    for (int i = 0; i < warmup; ++i) {
      ASSERT_EQ(::read(fds[0], &c, 1), 1) << "churn child died early";
    }
    // The delay picks the kill instant (fault timing, not synchronisation).
    std::this_thread::sleep_for(std::chrono::microseconds(rng() % (2 * op_us)));
    ::kill(pid, SIGKILL);
    int status = 0;
    ::waitpid(pid, &status, 0);
    ::close(fds[0]);
    ASSERT_TRUE(WIFSIGNALED(status)) << "child exited with " << WEXITSTATUS(status);
    ExpectAllIntact(store_dir, tmp);
  }
  // Garbage collection after the last kill leaves exactly the live data.
  auto store = SnapshotStore::Open(store_dir, Small());
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE((*store)->CollectGarbage().ok());
  auto list = (*store)->List();
  ASSERT_TRUE(list.ok());
  for (const auto& e : std::filesystem::recursive_directory_iterator(store_dir)) {
    EXPECT_FALSE(e.path().string().ends_with(".tmp")) << e.path();
  }
  // Deleting every snapshot frees every block: nothing leaked from the killed runs.
  for (const SnapshotInfo& info : *list) {
    ASSERT_TRUE((*store)->Delete(info.id).ok());
  }
  EXPECT_TRUE(std::filesystem::is_empty(store_dir / "blocks"));
}

}  // namespace
}  // namespace lifeboat::snapshot
