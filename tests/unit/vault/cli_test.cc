// The real `lifeboat` binary against a real vault directory: the CLI contract, and crash safety
// under kill -9 at random instants of backup and prune.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <random>
#include <thread>

#include "api/json.h"
#include "tests/support/process.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/vault/vault_test_util.h"

namespace lifeboat::vault {
namespace {
namespace fs = std::filesystem;
using lifeboat::testing::RunCommand;
using lifeboat::testing::TempDir;

class VaultCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    bin_ = std::getenv("LIFEBOAT_BINARY") != nullptr ? lifeboat::testing::LifeboatBinary().string()
                                                     : std::string(LIFEBOAT_BUILT_BINARY);
    ASSERT_TRUE(fs::exists(bin_)) << bin_;
    vault_ = (dir_.path() / "vault").string();
    src_ = dir_.path() / "src";
    testing::WriteFile(dir_.path() / "pw", "s3cret passphrase\n");
    flags_ = " --vault " + vault_ + " --password-file " + (dir_.path() / "pw").string();
  }

  lifeboat::testing::CommandResult Lb(const std::string& args) {
    return RunCommand(bin_ + " " + args + " 2>&1");
  }

  Json LbJson(const std::string& args) {
    auto r = RunCommand(bin_ + " " + args + " --json 2>/dev/null");
    EXPECT_EQ(r.exit_code, 0) << args << "\n" << r.output;
    return Json::parse(r.output, nullptr, false);
  }

  struct KillOutcome {
    bool killed = false;
    std::chrono::milliseconds ran{0};  // how long it ran before it ended or was killed
  };
  // Runs lifeboat with `args`, kills it with SIGKILL after `delay` (unless it ended before).
  KillOutcome RunAndKill(const std::vector<std::string>& args, std::chrono::milliseconds delay) {
    pid_t pid = ::fork();
    if (pid == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(bin_.c_str()));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(bin_.c_str(), argv.data());
      ::_exit(127);
    }
    // The random instant is the test's input: wait for the child to end or the instant to pass.
    auto started = std::chrono::steady_clock::now();
    auto deadline = started + delay;
    auto ran = [&] {
      return std::chrono::duration_cast<std::chrono::milliseconds>(
          std::chrono::steady_clock::now() - started);
    };
    int status = 0;
    while (std::chrono::steady_clock::now() < deadline) {
      if (::waitpid(pid, &status, WNOHANG) == pid) {
        return {false, ran()};
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    ::kill(pid, SIGKILL);
    ::waitpid(pid, &status, 0);
    return {WIFSIGNALED(status), ran()};
  }

  struct Peak {
    int exit_code = -1;
    uint64_t max_rss_kib = 0;
  };
  // Runs lifeboat to the end and returns its own peak resident set (wait4's rusage).
  Peak RunMeasured(const std::vector<std::string>& args) {
    pid_t pid = ::fork();
    if (pid == 0) {
      int devnull = ::open("/dev/null", O_WRONLY);
      ::dup2(devnull, 1);
      ::dup2(devnull, 2);
      std::vector<char*> argv;
      argv.push_back(const_cast<char*>(bin_.c_str()));
      for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(bin_.c_str(), argv.data());
      ::_exit(127);
    }
    int status = 0;
    struct rusage usage {};
    if (::wait4(pid, &status, 0, &usage) != pid) return {};
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1,
            static_cast<uint64_t>(usage.ru_maxrss)};
  }

  std::vector<std::string> Args(std::vector<std::string> head) {
    head.insert(head.end(), {"--vault", vault_, "--password-file", (dir_.path() / "pw").string()});
    return head;
  }

  TempDir dir_;
  std::string bin_;
  std::string vault_;
  fs::path src_;
  std::string flags_;
};

TEST_F(VaultCliTest, InitBackupLsRestoreCheckStats) {
  testing::WriteFile(src_ / "a.txt", testing::TextBytes(200 << 10, 1));
  testing::WriteFile(src_ / "sub/b.bin", testing::RandomBytes(3 << 20, 2));
  auto init = Lb("vault init" + flags_);
  ASSERT_EQ(init.exit_code, 0) << init.output;
  auto again = Lb("vault init" + flags_);
  EXPECT_EQ(again.exit_code, 1);
  EXPECT_NE(again.output.find("already exists"), std::string::npos) << again.output;
  Json b = LbJson("backup " + src_.string() + flags_);
  ASSERT_TRUE(b.is_object());
  EXPECT_EQ(b["files"], 2);
  EXPECT_EQ(b["partial"], false);
  std::string point = b["point"];
  auto ls = Lb("ls " + point.substr(0, 8) + flags_);
  EXPECT_EQ(ls.exit_code, 0);
  EXPECT_NE(ls.output.find("src/sub/b.bin"), std::string::npos) << ls.output;
  Json r = LbJson("restore latest src/sub --target " + (dir_.path() / "out").string() + flags_);
  EXPECT_EQ(r["files"], 1);
  EXPECT_EQ(testing::ReadFile(dir_.path() / "out/src/sub/b.bin"),
            testing::ReadFile(src_ / "sub/b.bin"));
  EXPECT_FALSE(fs::exists(dir_.path() / "out/src/a.txt"));
  Json c = LbJson("vault check --read-data" + flags_);
  EXPECT_EQ(c["ok"], true);
  Json s = LbJson("vault stats" + flags_);
  EXPECT_EQ(s["points"], 1);
  EXPECT_GT(s["stored_bytes"].get<uint64_t>(), 3u << 20);
}

TEST_F(VaultCliTest, PassphraseNeverPrintedAndWrongOneIsClear) {
  auto init = Lb("vault init" + flags_);
  ASSERT_EQ(init.exit_code, 0) << init.output;
  testing::WriteFile(dir_.path() / "bad", "not the passphrase\n");
  auto r = Lb("vault stats --vault " + vault_ + " --password-file " +
              (dir_.path() / "bad").string());
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("wrong passphrase"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("not the passphrase"), std::string::npos);
  auto env = RunCommand("LIFEBOAT_PASSWORD='s3cret passphrase' " + bin_ + " vault stats --vault " +
                        vault_ + " 2>&1");
  EXPECT_EQ(env.exit_code, 0) << env.output;
  EXPECT_EQ(env.output.find("s3cret"), std::string::npos);
  auto none = RunCommand("env -u LIFEBOAT_PASSWORD " + bin_ + " vault stats --vault " + vault_ +
                         " 2>&1");
  EXPECT_EQ(none.exit_code, 1);
  EXPECT_NE(none.output.find("--password-file"), std::string::npos) << none.output;
  auto missing = Lb("vault stats --vault " + (dir_.path() / "nope").string() +
                    " --password-file " + (dir_.path() / "pw").string());
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("nope"), std::string::npos) << missing.output;
}

TEST_F(VaultCliTest, UnreadableFilesGiveAPartialPointListingThem) {
  // As root every file is readable: run the backup as `nobody` through setpriv.
  if (::geteuid() == 0 && !fs::exists("/usr/bin/setpriv")) {
    GTEST_SKIP() << "needs setpriv to drop root";
  }
  fs::permissions(dir_.path(), fs::perms::all);
  testing::WriteFile(src_ / "ok.txt", "readable\n");
  testing::WriteFile(src_ / "secret.txt", "unreadable\n");
  fs::permissions(src_, fs::perms::all);
  fs::permissions(src_ / "ok.txt", fs::perms::all);
  fs::permissions(src_ / "secret.txt", fs::perms::none);
  fs::permissions(dir_.path() / "pw", fs::perms::all);
  std::string as_nobody = ::geteuid() == 0
                              ? "setpriv --reuid=65534 --regid=65534 --clear-groups "
                              : "";
  ASSERT_EQ(RunCommand(as_nobody + bin_ + " vault init" + flags_ + " 2>&1").exit_code, 0);
  auto r = RunCommand(as_nobody + bin_ + " backup " + src_.string() + flags_ + " --json");
  EXPECT_EQ(r.exit_code, 3) << r.output;
  Json j = Json::parse(r.output.substr(r.output.find('{')), nullptr, false);
  ASSERT_TRUE(j.is_object()) << r.output;
  EXPECT_EQ(j["partial"], true);
  ASSERT_EQ(j["errors"].size(), 1u);
  EXPECT_NE(j["errors"][0]["path"].get<std::string>().find("secret.txt"), std::string::npos);
  EXPECT_EQ(j["files"], 1);
  auto points = RunCommand(as_nobody + bin_ + " vault points" + flags_ + " 2>&1");
  EXPECT_NE(points.output.find("PARTIAL"), std::string::npos) << points.output;
}

TEST_F(VaultCliTest, RepairRebuildsDeletedIndexFiles) {
  testing::WriteFile(src_ / "a.txt", testing::TextBytes(200 << 10, 1));
  testing::WriteFile(src_ / "sub/b.bin", testing::RandomBytes(3 << 20, 2));
  ASSERT_EQ(Lb("vault init" + flags_).exit_code, 0);
  ASSERT_EQ(Lb("backup " + src_.string() + flags_).exit_code, 0);
  testing::WriteFile(src_ / "c.txt", "third\n");
  ASSERT_EQ(Lb("backup " + src_.string() + flags_).exit_code, 0);
  fs::remove_all(fs::path(vault_) / "index");
  auto broken = Lb("vault check" + flags_);
  EXPECT_EQ(broken.exit_code, 1) << broken.output;
  Json repaired = LbJson("vault repair --read-data" + flags_);
  ASSERT_TRUE(repaired.is_object());
  EXPECT_GT(repaired["packs"].get<uint64_t>(), 0u);
  EXPECT_EQ(repaired["packs_not_indexed_before"], repaired["packs"]);
  EXPECT_TRUE(repaired["damaged"].empty());
  Json c = LbJson("vault check --read-data" + flags_);
  EXPECT_EQ(c["ok"], true) << c.dump();
  Json r = LbJson("restore latest --target " + (dir_.path() / "out").string() + flags_);
  EXPECT_EQ(r["files"], 3);
  EXPECT_EQ(testing::CompareTrees(src_, dir_.path() / "out/src"), "");
}

// The cheap version of bench/vault/rss_flat.sh (10k to 1M files): backing up ten times as many
// files must not take more memory. Tiny files drawn from 64 contents keep the vault's index the
// same size, so what is measured is the per-file state of the walk, the queue and the trees.
TEST_F(VaultCliTest, PeakMemoryStaysFlatFrom10kTo100kFiles) {
  constexpr int kFilesPerDir = 100;
  constexpr uint64_t kSlackKiB = 16 << 10;
  constexpr uint64_t kCeilingKiB = 150 << 10;
  std::vector<std::string> pool;
  for (int i = 0; i < 64; ++i) pool.push_back(testing::TextBytes(200 + 37 * i, i));
  auto make = [&](const fs::path& root, int files) {
    for (int i = 0; i < files; ++i) {
      // 100 files per directory, 100 directories per parent: no directory grows with the count.
      fs::path dir = root / ("d" + std::to_string(i / (kFilesPerDir * kFilesPerDir))) /
                     ("d" + std::to_string(i / kFilesPerDir % kFilesPerDir));
      if (i % kFilesPerDir == 0) fs::create_directories(dir);
      testing::WriteFile(dir / ("f" + std::to_string(i)), pool[i % pool.size()]);
    }
  };
  make(dir_.path() / "k10", 10'000);
  make(dir_.path() / "k100", 100'000);
  ASSERT_EQ(Lb("vault init" + flags_).exit_code, 0);
  Peak small = RunMeasured(Args({"backup", (dir_.path() / "k10").string()}));
  ASSERT_EQ(small.exit_code, 0);
  Peak large = RunMeasured(Args({"backup", (dir_.path() / "k100").string()}));
  ASSERT_EQ(large.exit_code, 0);
  RecordProperty("peak_rss_kib_10k_files", std::to_string(small.max_rss_kib));
  RecordProperty("peak_rss_kib_100k_files", std::to_string(large.max_rss_kib));
  EXPECT_LE(large.max_rss_kib, small.max_rss_kib + kSlackKiB)
      << "10k files: " << small.max_rss_kib << " KiB, 100k files: " << large.max_rss_kib << " KiB";
  EXPECT_LE(large.max_rss_kib, kCeilingKiB);
  Json points = LbJson("vault points" + flags_);
  ASSERT_TRUE(points.is_array() && points.size() == 2) << points.dump();
}

TEST_F(VaultCliTest, KillNineDuringBackupAndPruneNeverBreaksTheVault) {
  constexpr int kIterations = 20;
  std::mt19937 rng(20261121);
  testing::WriteFile(src_ / "base.bin", testing::RandomBytes(8 << 20, 1));
  testing::WriteFile(src_ / "text.txt", testing::TextBytes(2 << 20, 2));
  auto init = Lb("vault init --chunk-min 64K --chunk-avg 256K --chunk-max 1M --pack-size 2M" +
                 flags_);
  ASSERT_EQ(init.exit_code, 0) << init.output;
  // Expected content of each point: a copy of the source taken before its backup started.
  std::map<std::string, fs::path> expected;
  auto snapshot_source = [&](int i) {
    fs::path copy = dir_.path() / ("expected-" + std::to_string(i));
    // cp -a keeps mtimes, which restore brings back too.
    EXPECT_EQ(RunCommand("cp -a " + src_.string() + " " + copy.string()).exit_code, 0);
    return copy;
  };
  auto points = [&] {
    std::vector<std::string> ids;
    for (const Json& p : LbJson("vault points" + flags_)) ids.push_back(p["id"]);
    return ids;
  };
  auto restore_and_compare = [&](const std::string& id) {
    fs::path out = dir_.path() / ("restore-" + id.substr(0, 8));
    fs::remove_all(out);
    auto r = Lb("restore " + id + " --target " + out.string() + flags_);
    ASSERT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(testing::CompareTrees(expected.at(id), out / "src"), "") << "point " << id;
    fs::remove_all(out);
  };
  // Kill instants are drawn over the length of an uninterrupted run on this machine, so that
  // most runs die somewhere in the middle however fast or loaded the machine is.
  int run_ms = 0;
  {
    fs::path copy = snapshot_source(-1);
    auto started = std::chrono::steady_clock::now();
    Json b = LbJson("backup " + src_.string() + flags_);
    run_ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                  std::chrono::steady_clock::now() - started)
                                  .count());
    expected[b["point"]] = copy;
  }
  // A run that ends before its kill instant narrows the window of its kind (backup or prune)
  // to what it took, so the machine's speed, idle or loaded, cannot starve the test of kills.
  int window_ms[2] = {std::max(1, run_ms * 3 / 4), std::max(1, run_ms * 3 / 4)};
  constexpr int kMaxIterations = 3 * kIterations;
  int killed = 0;
  for (int i = 0; i < kMaxIterations && (i < kIterations || killed <= kIterations / 4); ++i) {
    bool prune = i % 3 == 2;
    std::chrono::milliseconds delay(
        std::uniform_int_distribution<int>(0, window_ms[prune ? 1 : 0])(rng));
    std::vector<std::string> before = points();
    if (prune) {
      KillOutcome o = RunAndKill(Args({"vault", "forget", "--keep-last", "3", "--prune"}), delay);
      killed += o.killed ? 1 : 0;
      if (!o.killed) {
        window_ms[1] = std::max(1, static_cast<int>(o.ran.count() * 3 / 4));
      }
    } else {
      testing::WriteFile(src_ / ("new-" + std::to_string(i) + ".bin"),
                         testing::RandomBytes(2 << 20, 100 + i));
      testing::WriteFile(src_ / "text.txt", testing::TextBytes(2 << 20, 200 + i));
      fs::path copy = snapshot_source(i);
      KillOutcome o = RunAndKill(Args({"backup", src_.string()}), delay);
      killed += o.killed ? 1 : 0;
      if (!o.killed) {
        window_ms[0] = std::max(1, static_cast<int>(o.ran.count() * 3 / 4));
      }
      for (const std::string& id : points()) {
        if (!expected.contains(id)) expected[id] = copy;
      }
    }
    auto check = Lb("vault check" + flags_);
    ASSERT_EQ(check.exit_code, 0) << "iteration " << i << ": " << check.output;
    std::vector<std::string> now = points();
    ASSERT_FALSE(now.empty());
    // The oldest surviving point and the newest one restore byte for byte.
    restore_and_compare(now.front());
    restore_and_compare(now.back());
  }
  EXPECT_GT(killed, kIterations / 4) << "too few runs were interrupted to prove anything";
  // A final uninterrupted prune repairs nothing by hand: it just works, and so does everything.
  ASSERT_EQ(Lb("vault prune" + flags_).exit_code, 0);
  auto check = Lb("vault check --read-data" + flags_);
  ASSERT_EQ(check.exit_code, 0) << check.output;
  EXPECT_EQ(check.output.find("warning"), std::string::npos) << check.output;
  for (const std::string& id : points()) restore_and_compare(id);
}

}  // namespace
}  // namespace lifeboat::vault
