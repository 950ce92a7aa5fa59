// Replication with real processes: `lifeboat receiver` killed with SIGKILL mid-transfer and
// restarted (the transfer resumes, it does not start over), and a sender process killed
// mid-cycle (the target's journal stays consistent and every point still materialises).
#include <dirent.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/stat.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <random>
#include <thread>

#include "engines/replication/sender.h"
#include "engines/replication/store.h"
#include "tests/e2e/subprocess.h"
#include "tests/support/temp_dir.h"

namespace lifeboat::replication {
namespace {
namespace fs = std::filesystem;
using lifeboat::testing::Subprocess;
using lifeboat::testing::TempDir;

constexpr auto kStartTimeout = std::chrono::seconds(20);
constexpr char kToken[] = "e2e-token";

std::string Random(std::mt19937_64& rng, size_t size) {
  std::string out(size, '\0');
  for (size_t i = 0; i + 8 <= size; i += 8) {
    uint64_t v = rng();
    std::memcpy(out.data() + i, &v, 8);
  }
  return out;
}

void Write(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

std::string ReadAll(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool SameTree(const fs::path& a, const fs::path& b) {
  for (auto it = fs::recursive_directory_iterator(a); it != fs::recursive_directory_iterator();
       ++it) {
    fs::path other = b / it->path().lexically_relative(a);
    if (it->is_regular_file() && ReadAll(it->path()) != ReadAll(other)) {
      return false;
    }
    if (!fs::exists(other)) {
      return false;
    }
  }
  return true;
}

size_t CountPacks(const fs::path& dir) {
  std::error_code ec;
  size_t n = 0;
  for (const auto& e : fs::directory_iterator(dir, ec)) {
    // Complete packs only: a ".tmp-" pack is still being written (or fsynced) by the target.
    n += e.path().extension() == ".pack" && !e.path().filename().string().starts_with(".tmp-");
  }
  return n;
}

class ReplicationE2eTest : public ::testing::Test {
 protected:
  void SetUp() override {
    Write(tmp_ / "token", kToken);
    source_ = tmp_ / "source" / "vol";
    for (int i = 0; i < 6; ++i) {
      Write(source_ / ("part-" + std::to_string(i) + ".bin"), Random(rng_, 4 << 20));
    }
    Write(source_ / "notes" / "readme.txt", "replicated by lifeboat\n");
  }

  std::unique_ptr<Subprocess> StartReceiver(int port) {
    auto p = std::make_unique<Subprocess>(std::vector<std::string>{
        LIFEBOAT_E2E_BINARY, "receiver", "--root", (tmp_ / "root").string(), "--address",
        "127.0.0.1", "--port", std::to_string(port), "--token-file", (tmp_ / "token").string()});
    EXPECT_TRUE(p->WaitForText("listening on https://", kStartTimeout)) << p->output();
    std::string out = p->output();
    size_t at = out.find("listening on ");
    endpoint_.endpoint = out.substr(at + 13, out.find('\n', at) - at - 13);
    endpoint_.ca_pem = ReadAll(tmp_ / "root" / ".tls" / "tls.crt");
    endpoint_.token = kToken;
    endpoint_.io_timeout = std::chrono::seconds(5);
    return p;
  }

  int Port() const {
    return std::stoi(endpoint_.endpoint.substr(endpoint_.endpoint.rfind(':') + 1));
  }

  ReplicateOptions Options() {
    ReplicateOptions o;
    o.site = "site-a";
    o.ns = "prod";
    o.policy = "app";
    o.state_dir = tmp_ / "state";
    return o;
  }

  PointRef Ref() { return {tmp_ / "root", "site-a", "prod", "app"}; }

  TempDir tmp_;
  std::mt19937_64 rng_{7};
  fs::path source_;
  TargetEndpoint endpoint_;
};

TEST_F(ReplicationE2eTest, ReceiverKilledMidTransferResumesAfterRestart) {
  auto receiver = StartReceiver(0);
  ReplicateOptions o = Options();
  o.bandwidth_limit = 8 << 20;  // ~3 s for the 24 MiB: time to kill mid-way, even under load
  std::atomic<bool> killed{false};
  o.progress = [&](const ReplicationProgress& p) {
    // Killed once 8 MiB went out: at least 4 MiB of it acknowledged even with a few batches
    // still in flight (with the kill at 4 MiB, 23 bytes short of 4 MiB were once acknowledged).
    if (p.bytes_sent >= (8u << 20) && !killed.exchange(true)) {
      ::kill(receiver->pid(), SIGKILL);
    }
  };
  auto start = std::chrono::steady_clock::now();
  auto cut = Replicate({{"", source_}}, endpoint_, o);
  ASSERT_TRUE(killed);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), StatusCode::kUnavailable) << cut.status();
  EXPECT_NE(cut.status().message().find(endpoint_.endpoint), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));  // no stall
  receiver->Stop(SIGKILL, std::chrono::seconds(5));

  receiver = StartReceiver(Port());
  o.progress = nullptr;
  auto resumed = Replicate({{"", source_}}, endpoint_, o);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  // The batches acknowledged before the kill were kept: the retry sends what was left.
  EXPECT_LE(resumed->data_bytes_sent, (24u << 20) - (4u << 20));
  EXPECT_GT(resumed->data_bytes_sent, 0u);
  fs::path out = tmp_ / "materialized";
  auto m = Materialize(Ref(), resumed->point.id, out);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(SameTree(source_, out / "vol"));
  EXPECT_EQ(receiver->Stop(SIGTERM, std::chrono::seconds(10)), 0) << receiver->output();
}

TEST_F(ReplicationE2eTest, SenderKilledMidCycleLeavesAConsistentJournal) {
  auto receiver = StartReceiver(0);
  auto first = Replicate({{"", source_}}, endpoint_, Options());
  ASSERT_TRUE(first.ok()) << first.status();
  fs::create_directories(tmp_ / "before");
  fs::copy(source_, tmp_ / "before" / "vol", fs::copy_options::recursive);
  for (int i = 0; i < 4; ++i) {
    Write(source_ / ("part-" + std::to_string(i) + ".bin"), Random(rng_, 4 << 20));
  }
  fs::path packs = tmp_ / "root" / "site-a" / "prod" / "app" / "packs";
  size_t packs_before = CountPacks(packs);
  Write(tmp_ / "ca.pem", endpoint_.ca_pem);
  Subprocess sender({REPLICATION_BENCH_TOOL, "replicate", "--endpoint", endpoint_.endpoint,
                     "--ca-file", (tmp_ / "ca.pem").string(), "--token-file",
                     (tmp_ / "token").string(), "--state-dir", (tmp_ / "state").string(), "--site",
                     "site-a", "--namespace", "prod", "--policy", "app", "--bandwidth-limit",
                     std::to_string(8 << 20), source_.string()});
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (CountPacks(packs) == packs_before && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));  // poll the directory
  }
  ASSERT_GT(CountPacks(packs), packs_before) << sender.output();
  EXPECT_EQ(sender.Stop(SIGKILL, std::chrono::seconds(5)), 128 + SIGKILL) << sender.output();

  auto journal = ListRemotePoints(endpoint_, "site-a", "prod", "app");
  ASSERT_TRUE(journal.ok()) << journal.status();
  ASSERT_EQ(journal->points.size(), 1u);
  EXPECT_EQ(journal->points[0].id, first->point.id);
  auto m = Materialize(Ref(), first->point.id, tmp_ / "old");
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_TRUE(SameTree(tmp_ / "before" / "vol", tmp_ / "old" / "vol"));

  auto next = Replicate({{"", source_}}, endpoint_, Options());
  ASSERT_TRUE(next.ok()) << next.status();
  EXPECT_LT(next->data_bytes_sent, 16u << 20);  // what the killed sender delivered was kept
  auto m2 = Materialize(Ref(), next->point.id, tmp_ / "new");
  ASSERT_TRUE(m2.ok()) << m2.status();
  EXPECT_TRUE(SameTree(source_, tmp_ / "new" / "vol"));
}

}  // namespace
}  // namespace lifeboat::replication
