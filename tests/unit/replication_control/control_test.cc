// The failover control channel over a real receiver (HTTPS on 127.0.0.1:0): routing to the
// attached handler, authentication, 503 without a handler, errors carried across, AwaitControl;
// and the replica store's lock between materialise and retention / point deletion.
#include "engines/replication/control.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/file.h>
#include <unistd.h>

#include <atomic>
#include <fstream>
#include <future>
#include <random>

#include "common/clock.h"
#include "engines/replication/https.h"
#include "engines/replication/receiver.h"
#include "engines/replication/sender.h"
#include "engines/replication/store.h"
#include "engines/vault/crypto.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/replication/tree_util.h"

namespace lifeboat::replication {
namespace {
namespace fs = std::filesystem;
using lifeboat::testing::TempDir;

constexpr char kToken[] = "control-token";

// A handler whose answers the test sets: what the receiver routes, the test sees.
class ScriptedHandler final : public ControlHandler {
 public:
  StatusOr<ControlState> Handover(const HandoverRequest& r) override {
    std::lock_guard<std::mutex> lock(mu);
    handovers.push_back(r);
    return Next();
  }
  StatusOr<ControlState> Seed(const SeedRequest& r) override {
    std::lock_guard<std::mutex> lock(mu);
    seeds.push_back(r);
    return Next();
  }
  StatusOr<ControlState> Failback(const FailbackRequest& r) override {
    std::lock_guard<std::mutex> lock(mu);
    failbacks.push_back(r);
    return Next();
  }

  std::mutex mu;
  std::vector<StatusOr<ControlState>> answers;  // consumed front first; the last one repeats
  std::vector<HandoverRequest> handovers;
  std::vector<SeedRequest> seeds;
  std::vector<FailbackRequest> failbacks;

 private:
  StatusOr<ControlState> Next() {
    StatusOr<ControlState> a = answers.front();
    if (answers.size() > 1) {
      answers.erase(answers.begin());
    }
    return a;
  }
};

ControlState State(ControlPhase phase, std::string point = "") {
  ControlState s;
  s.phase = phase;
  s.point = std::move(point);
  s.point_time_ms = 1'700'000'000'123;
  s.site_id = "site-a";
  s.message = std::string(ControlPhaseName(phase));
  return s;
}

class ControlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ReceiverOptions o;
    o.root = tmp_.path() / "root";
    o.token = kToken;
    auto r = StartReceiver(o);
    ASSERT_TRUE(r.ok()) << r.status();
    receiver_ = std::move(*r);
    site_.endpoint = receiver_->endpoint();
    site_.ca_pem = receiver_->ca_pem();
    site_.token = kToken;
  }

  TempDir tmp_;
  std::unique_ptr<Receiver> receiver_;
  TargetEndpoint site_;
};

TEST_F(ControlTest, WithoutAHandlerTheEndpointAnswers503) {
  auto s = RequestHandover(site_, {"prod", "db", "site-b", true});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(s.status().message().find("this site runs no controllers"), std::string::npos)
      << s.status();
  EXPECT_NE(s.status().message().find(receiver_->endpoint()), std::string::npos) << s.status();
}

TEST_F(ControlTest, CallsReachTheHandlerAndStatesRoundTrip) {
  ScriptedHandler handler;
  handler.answers = {State(ControlPhase::kSucceeded, "0001700000000123-abcd")};
  receiver_->SetControlHandler(&handler);

  auto h = RequestHandover(site_, {"prod", "db", "site-b", false});
  ASSERT_TRUE(h.ok()) << h.status();
  EXPECT_EQ(h->phase, ControlPhase::kSucceeded);
  EXPECT_EQ(h->point, "0001700000000123-abcd");
  EXPECT_EQ(h->point_time_ms, 1'700'000'000'123);
  EXPECT_EQ(h->site_id, "site-a");
  EXPECT_EQ(h->message, "Succeeded");
  auto s = RequestSeed(site_, {"prod", "db", "site-b"});
  ASSERT_TRUE(s.ok()) << s.status();
  auto f = RequestFailback(site_, {"prod", "db", "site-b", "0001700000000999-beef"});
  ASSERT_TRUE(f.ok()) << f.status();

  std::lock_guard<std::mutex> lock(handler.mu);
  ASSERT_EQ(handler.handovers.size(), 1u);
  EXPECT_EQ(handler.handovers[0].ns, "prod");
  EXPECT_EQ(handler.handovers[0].policy, "db");
  EXPECT_EQ(handler.handovers[0].to_site, "site-b");
  EXPECT_FALSE(handler.handovers[0].final_sync);
  ASSERT_EQ(handler.seeds.size(), 1u);
  EXPECT_EQ(handler.seeds[0].site, "site-b");
  ASSERT_EQ(handler.failbacks.size(), 1u);
  EXPECT_EQ(handler.failbacks[0].point, "0001700000000999-beef");
  receiver_->SetControlHandler(nullptr);
}

TEST_F(ControlTest, HandlerErrorsKeepTheirCodeAndMessage) {
  ScriptedHandler handler;
  handler.answers = {NotFoundError("ReplicationPolicy prod/db does not exist at site site-a")};
  receiver_->SetControlHandler(&handler);
  auto h = RequestHandover(site_, {"prod", "db", "site-b", true});
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kNotFound);
  EXPECT_NE(h.status().message().find("does not exist at site site-a"), std::string::npos);
  handler.answers = {FailedPreconditionError("not handed over: request a handover first")};
  auto s = RequestSeed(site_, {"prod", "db", "site-b"});
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.status().code(), StatusCode::kFailedPrecondition);
  EXPECT_NE(s.status().message().find("request a handover first"), std::string::npos);
  receiver_->SetControlHandler(nullptr);
}

TEST_F(ControlTest, WrongTokenIsRefusedBeforeTheHandler) {
  ScriptedHandler handler;
  handler.answers = {State(ControlPhase::kSucceeded)};
  receiver_->SetControlHandler(&handler);
  TargetEndpoint wrong = site_;
  wrong.token = "not-the-token";
  auto h = RequestHandover(wrong, {"prod", "db", "site-b", true});
  ASSERT_FALSE(h.ok());
  EXPECT_EQ(h.status().code(), StatusCode::kUnauthenticated);
  wrong.token.clear();
  EXPECT_EQ(RequestSeed(wrong, {"prod", "db", "site-b"}).status().code(),
            StatusCode::kUnauthenticated);
  std::lock_guard<std::mutex> lock(handler.mu);
  EXPECT_TRUE(handler.handovers.empty());
  EXPECT_TRUE(handler.seeds.empty());
  receiver_->SetControlHandler(nullptr);
}

TEST_F(ControlTest, BadNamesAndBodiesAreRejectedNamingTheField) {
  ScriptedHandler handler;
  handler.answers = {State(ControlPhase::kSucceeded)};
  receiver_->SetControlHandler(&handler);
  auto bad_site = RequestSeed(site_, {"prod", "db", "../etc"});
  ASSERT_FALSE(bad_site.ok());
  EXPECT_EQ(bad_site.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_site.status().message().find("site"), std::string::npos) << bad_site.status();
  auto bad_ns = RequestHandover(site_, {"pr od", "db", "site-b", true});
  ASSERT_FALSE(bad_ns.ok());
  EXPECT_EQ(bad_ns.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(bad_ns.status().message().find("namespace"), std::string::npos) << bad_ns.status();

  // Raw requests: the server validates too.
  HttpsClientOptions o;
  o.endpoint = site_.endpoint;
  o.ca_pem = site_.ca_pem;
  o.bearer_token = kToken;
  auto client = HttpsClient::Create(o);
  ASSERT_TRUE(client.ok()) << client.status();
  auto missing = (*client)->Do("POST", "/v1/control/prod/db/handover", "{}", "application/json");
  ASSERT_TRUE(missing.ok()) << missing.status();
  EXPECT_EQ(missing->status, 400);
  EXPECT_NE(missing->body.find("toSite"), std::string::npos) << missing->body;
  auto not_json = (*client)->Do("POST", "/v1/control/prod/db/failback", "[1", "application/json");
  ASSERT_TRUE(not_json.ok());
  EXPECT_EQ(not_json->status, 400);
  auto no_point =
      (*client)->Do("POST", "/v1/control/prod/db/failback", R"({"site":"b"})", "application/json");
  ASSERT_TRUE(no_point.ok());
  EXPECT_EQ(no_point->status, 400);
  EXPECT_NE(no_point->body.find("point"), std::string::npos) << no_point->body;
  auto unknown = (*client)->Do("POST", "/v1/control/prod/db/explode", "{}", "application/json");
  ASSERT_TRUE(unknown.ok());
  EXPECT_EQ(unknown->status, 404);
  auto get = (*client)->Do("GET", "/v1/control/prod/db/handover", "", "application/json");
  ASSERT_TRUE(get.ok());
  EXPECT_EQ(get->status, 404);
  std::lock_guard<std::mutex> lock(handler.mu);
  EXPECT_TRUE(handler.handovers.empty());
  EXPECT_TRUE(handler.failbacks.empty());
  receiver_->SetControlHandler(nullptr);
}

TEST_F(ControlTest, AwaitControlRepeatsWhileRunningAndStopsOnOutcomeDeadlineOrCancel) {
  ScriptedHandler handler;
  handler.answers = {State(ControlPhase::kRunning), State(ControlPhase::kRunning),
                     State(ControlPhase::kFailed)};
  receiver_->SetControlHandler(&handler);
  auto call = [&] { return RequestSeed(site_, {"prod", "db", "site-b"}); };
  auto done = AwaitControl(call, std::chrono::milliseconds(10), std::chrono::seconds(20), nullptr);
  ASSERT_TRUE(done.ok()) << done.status();
  EXPECT_EQ(done->phase, ControlPhase::kFailed);  // a Failed state is an answer, not an error
  {
    std::lock_guard<std::mutex> lock(handler.mu);
    EXPECT_EQ(handler.seeds.size(), 3u);
    handler.answers = {State(ControlPhase::kRunning)};
  }
  auto late =
      AwaitControl(call, std::chrono::milliseconds(10), std::chrono::milliseconds(200), nullptr);
  EXPECT_EQ(late.status().code(), StatusCode::kDeadlineExceeded) << late.status();
  std::atomic<bool> cancel{true};
  auto cancelled =
      AwaitControl(call, std::chrono::milliseconds(10), std::chrono::seconds(20), &cancel);
  EXPECT_EQ(cancelled.status().code(), StatusCode::kCancelled);
  // Errors other than Unavailable end the wait at once.
  {
    std::lock_guard<std::mutex> lock(handler.mu);
    handler.answers = {FailedPreconditionError("wrong state")};
  }
  auto refused =
      AwaitControl(call, std::chrono::milliseconds(10), std::chrono::seconds(20), nullptr);
  EXPECT_EQ(refused.status().code(), StatusCode::kFailedPrecondition);
  receiver_->SetControlHandler(nullptr);
  // Unavailable (no handler) is retried until the deadline, which names the last error.
  auto unavailable =
      AwaitControl(call, std::chrono::milliseconds(10), std::chrono::milliseconds(150), nullptr);
  EXPECT_EQ(unavailable.status().code(), StatusCode::kDeadlineExceeded);
  EXPECT_NE(unavailable.status().message().find("runs no controllers"), std::string::npos)
      << unavailable.status();
}

// --- the replica store: materialise against retention and deletion ---

class StoreLockTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ReceiverOptions o;
    o.root = tmp_.path() / "target";
    o.token = kToken;
    o.repo.gc_grace = std::chrono::seconds(0);
    o.clock = &clock_;
    auto r = StartReceiver(o);
    ASSERT_TRUE(r.ok()) << r.status();
    receiver_ = std::move(*r);
    target_.endpoint = receiver_->endpoint();
    target_.ca_pem = receiver_->ca_pem();
    target_.token = kToken;
    volume_ = tmp_.path() / "source" / "vol";
    fs::create_directories(volume_);
  }

  // Writes new random content and replicates it: one point per call.
  PointInfo Cycle(size_t bytes) {
    std::ofstream(volume_ / "data.bin", std::ios::binary | std::ios::trunc)
        << testing::RandomBytes(rng_, bytes);
    ReplicateOptions o;
    o.site = "site-a";
    o.ns = "prod";
    o.policy = "db";
    o.state_dir = tmp_.path() / "state";
    o.clock = &clock_;
    auto r = Replicate({{"vol", volume_}}, target_, o);
    EXPECT_TRUE(r.ok()) << r.status();
    clock_.Advance(std::chrono::minutes(10));
    return r.ok() ? r->point : PointInfo{};
  }

  Repo& TheRepo() { return **receiver_->repos().Get("site-a", "prod", "db"); }

  TempDir tmp_;
  FakeClock clock_{SystemClock().Now()};
  std::mt19937_64 rng_{11};
  std::unique_ptr<Receiver> receiver_;
  TargetEndpoint target_;
  fs::path volume_;
};

bool WaitUntil(const std::function<bool()>& done) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  while (!done()) {
    if (std::chrono::steady_clock::now() > deadline) {
      return false;
    }
    std::this_thread::yield();
  }
  return true;
}

// Holds the repo lock the way a materialise in another process does.
class HeldLock {
 public:
  HeldLock(const fs::path& repo_dir, int op)
      : fd_(::open((repo_dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600)) {
    EXPECT_GE(fd_, 0);
    EXPECT_EQ(::flock(fd_, op), 0);
  }
  ~HeldLock() { ::close(fd_); }

 private:
  int fd_;
};

TEST_F(StoreLockTest, RetentionIsDeferredWhileAPointIsMaterialisedAndRunsAfter) {
  PointInfo first = Cycle(256 << 10);
  Cycle(256 << 10);
  Repo& repo = TheRepo();
  ASSERT_EQ(repo.Points().size(), 2u);
  {
    HeldLock reading(repo.dir(), LOCK_SH);
    auto gc = repo.ApplyRetention(std::chrono::seconds(60));
    ASSERT_TRUE(gc.ok()) << gc.status();
    EXPECT_TRUE(gc->deferred);
    EXPECT_EQ(gc->points_deleted, 0u);
    EXPECT_EQ(repo.Points().size(), 2u);
    // Replication goes on meanwhile: a commit is not held up, its retention defers.
    Cycle(256 << 10);
    EXPECT_EQ(repo.Points().size(), 3u);
  }
  auto gc = repo.ApplyRetention(std::chrono::seconds(60));
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_FALSE(gc->deferred);
  EXPECT_EQ(gc->points_deleted, 2u);
  EXPECT_GT(gc->bytes_freed, 0u);
  ASSERT_EQ(repo.Points().size(), 1u);
  EXPECT_NE(repo.Points()[0].id, first.id);
}

TEST_F(StoreLockTest, DeletePointWaitsForAMaterialiseToFinish) {
  PointInfo first = Cycle(256 << 10);
  Cycle(256 << 10);
  Repo& repo = TheRepo();
  std::future<StatusOr<GcStats>> deleted;
  {
    HeldLock reading(repo.dir(), LOCK_SH);
    deleted = std::async(std::launch::async, [&] { return repo.DeletePoint(first.id); });
    // Bounded check that it is waiting (not a synchronisation: the outcome is checked below).
    EXPECT_EQ(deleted.wait_for(std::chrono::milliseconds(300)), std::future_status::timeout);
    EXPECT_EQ(repo.Points().size(), 2u);
  }
  auto gc = deleted.get();
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->points_deleted, 1u);
  EXPECT_EQ(repo.Points().size(), 1u);
}

TEST_F(StoreLockTest, MaterialiseRacingRetentionAndDeletionStaysByteIdentical) {
  std::vector<PointInfo> doomed;
  for (int i = 0; i < 4; ++i) {
    doomed.push_back(Cycle(2 << 20));
  }
  PointInfo keep = Cycle(6 << 20);
  fs::path expected = tmp_.path() / "expected";
  fs::create_directories(expected);
  testing::CopyTree(volume_, expected / "vol");
  Repo& repo = TheRepo();
  std::atomic<bool> stop{false};
  std::atomic<int> collections{0};
  std::thread gc([&] {
    // Deletes the older points one by one, then retention passes (each defers or runs).
    for (size_t i = 1; i < doomed.size() && !stop; ++i) {
      auto s = repo.DeletePoint(doomed[i].id);
      EXPECT_TRUE(s.ok()) << s.status();
    }
    while (!stop) {
      auto s = repo.ApplyRetention(std::chrono::seconds(60));
      EXPECT_TRUE(s.ok()) << s.status();
      if (s.ok() && !s->deferred) {
        collections++;
      }
    }
  });
  for (int i = 0; i < 4; ++i) {
    fs::path out = tmp_.path() / ("out" + std::to_string(i));
    auto m = repo.Materialize(keep.id, out, {});
    ASSERT_TRUE(m.ok()) << m.status();
    EXPECT_EQ(testing::CompareTrees(expected, out), "");
  }
  ASSERT_TRUE(WaitUntil([&] { return collections.load() > 0; }));
  stop = true;
  gc.join();
  ASSERT_EQ(repo.Points().size(), 1u);
  EXPECT_EQ(repo.Points()[0].id, keep.id);
}

TEST_F(StoreLockTest, MaterialiseOneVolumeAndRemoveAReplica) {
  fs::create_directories(tmp_.path() / "source" / "other");
  std::ofstream(tmp_.path() / "source" / "other" / "x.txt") << "other volume\n";
  std::ofstream(volume_ / "data.bin", std::ios::binary) << testing::RandomBytes(rng_, 64 << 10);
  ReplicateOptions o;
  o.site = "site-a";
  o.ns = "prod";
  o.policy = "db";
  o.state_dir = tmp_.path() / "state";
  o.clock = &clock_;
  auto r = Replicate({{"vol", volume_}, {"other", tmp_.path() / "source" / "other"}}, target_, o);
  ASSERT_TRUE(r.ok()) << r.status();
  Repo& repo = TheRepo();
  MaterializeOptions only;
  only.volume = "other";
  fs::path out = tmp_.path() / "one";
  auto m = repo.Materialize(r->point.id, out, only);
  ASSERT_TRUE(m.ok()) << m.status();
  EXPECT_EQ(m->files, 1u);
  EXPECT_TRUE(fs::exists(out / "other" / "x.txt"));
  EXPECT_FALSE(fs::exists(out / "vol"));
  only.volume = "missing";
  auto none = repo.Materialize(r->point.id, tmp_.path() / "none", only);
  EXPECT_EQ(none.status().code(), StatusCode::kNotFound);
  EXPECT_NE(none.status().message().find("missing"), std::string::npos);

  ASSERT_TRUE(receiver_->repos().Remove("site-a", "prod", "db").ok());
  EXPECT_FALSE(fs::exists(tmp_.path() / "target" / "site-a" / "prod" / "db"));
  EXPECT_TRUE(fs::is_empty(tmp_.path() / "target" / "site-a" / "prod"));
  // Replicating again after the removal starts a fresh replica (a full cycle).
  auto again = Replicate({{"vol", volume_}}, target_, o);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->full);
  EXPECT_EQ(TheRepo().Points().size(), 1u);
  EXPECT_TRUE(receiver_->repos().Remove("site-x", "prod", "db").ok());  // absent: nothing to do
}

// Uploads on several connections load their packs at the same time: every chunk must be indexed
// in the pack that holds it (a materialise with verification reads each one back).
TEST(RepoConcurrencyTest, ConcurrentUploadsIndexEveryChunkInItsOwnPack) {
  TempDir tmp;
  FakeClock clock;
  auto opened = Repo::Open(tmp.path() / "repo", clock, RepoOptions{});
  ASSERT_TRUE(opened.ok()) << opened.status();
  Repo& repo = **opened;
  constexpr int kThreads = 4;
  constexpr int kBatches = 20;
  constexpr int kChunksPerBatch = 8;
  constexpr size_t kChunk = 4096;
  std::vector<std::vector<std::pair<Hash, std::string>>> made(kThreads);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      for (int b = 0; b < kBatches; ++b) {
        std::string records;
        for (int c = 0; c < kChunksPerBatch; ++c) {
          std::string data = testing::RandomBytes(rng, kChunk);
          vault::Digest d = vault::Sha256(data);
          Hash h;
          std::copy(d.begin(), d.end(), h.begin());
          records.append(reinterpret_cast<const char*>(h.data()), h.size());
          uint32_t len = static_cast<uint32_t>(data.size());
          records.append(reinterpret_cast<const char*>(&len), sizeof(len));
          records += data;
          made[t].emplace_back(h, std::move(data));
        }
        Status s = repo.AddChunks(records);
        EXPECT_TRUE(s.ok()) << s;
      }
    });
  }
  for (std::thread& t : threads) {
    t.join();
  }
  Manifest m;
  m.info.time_ms = 1;
  std::string expected;
  Entry file;
  file.path = "vol";
  file.mode = 0600;
  file.chunking = ChunkingKind::kFixedBlocks;
  for (const auto& per_thread : made) {
    for (const auto& [hash, data] : per_thread) {
      file.chunks.push_back({static_cast<uint32_t>(data.size()), hash});
      expected += data;
    }
  }
  file.size = expected.size();
  m.entries.push_back(file);
  auto point = repo.Commit(m);
  ASSERT_TRUE(point.ok()) << point.status();
  MaterializeOptions verify;
  verify.verify = true;
  auto out = repo.Materialize(point->id, tmp.path() / "out", verify);
  ASSERT_TRUE(out.ok()) << out.status();
  std::ifstream in(tmp.path() / "out" / "vol", std::ios::binary);
  std::string got((std::istreambuf_iterator<char>(in)), {});
  EXPECT_TRUE(got == expected);
  // Without verification (the coalescing copy path) too.
  auto plain = repo.Materialize(point->id, tmp.path() / "plain", {});
  ASSERT_TRUE(plain.ok()) << plain.status();
  std::ifstream in2(tmp.path() / "plain" / "vol", std::ios::binary);
  std::string got2((std::istreambuf_iterator<char>(in2)), {});
  EXPECT_TRUE(got2 == expected);
}

}  // namespace
}  // namespace lifeboat::replication
