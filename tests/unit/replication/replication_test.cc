// Replication end to end in one process: a real receiver (HTTPS on 127.0.0.1:0, real files under
// a temp root) and the real sender, over real TLS.
#include <gtest/gtest.h>

#include <atomic>
#include <fstream>
#include <random>

#include "common/clock.h"
#include "engines/replication/receiver.h"
#include "engines/replication/sender.h"
#include "engines/replication/store.h"
#include "tests/support/temp_dir.h"
#include "tests/unit/replication/tree_util.h"

namespace lifeboat::replication {
namespace {
namespace fs = std::filesystem;
using lifeboat::testing::TempDir;
using testing::AllocatedBytes;
using testing::CompareTrees;
using testing::CopyTree;
using testing::MakeSparseImage;
using testing::RandomBytes;
using testing::WriteAt;

constexpr uint64_t kImageSize = 8 << 20;
constexpr char kToken[] = "s3cret-token";

std::string Text(std::mt19937_64& rng, size_t size) {
  static const char* kWords[] = {"status", "replica",  "block", "chunk", "site",
                                 "policy", "return",   "if",    "for",   "const",
                                 "auto",   "lifeboat", "\n"};
  std::string out;
  while (out.size() < size) {
    out += kWords[rng() % 13];
    out += ' ';
  }
  out.resize(size);
  return out;
}

void WriteFile(const fs::path& p, const std::string& data) {
  fs::create_directories(p.parent_path());
  std::ofstream(p, std::ios::binary) << data;
}

class ReplicationTest : public ::testing::Test {
 protected:
  void SetUp() override {
    source_ = tmp_ / "source" / "vol";
    fs::create_directories(source_ / "src" / "deep");
    MakeSparseImage(source_ / "disk.img", kImageSize, rng_);
    for (int i = 0; i < 40; ++i) {
      WriteFile(source_ / "src" / ("f" + std::to_string(i) + ".txt"),
                Text(rng_, 1000 + (rng_() % 20000)));
    }
    WriteFile(source_ / "src" / "deep" / "empty", "");
    WriteFile(source_ / "media.bin", RandomBytes(rng_, 2 << 20));
    fs::create_symlink("media.bin", source_ / "link");
    fs::permissions(source_ / "src" / "f1.txt", fs::perms::owner_read | fs::perms::owner_write);
    StartTarget();
  }

  void StartTarget(const Clock* clock = nullptr) {
    ReceiverOptions o;
    o.root = tmp_ / "target";
    o.token = kToken;
    o.repo.gc_grace = std::chrono::seconds(0);
    o.clock = clock;
    auto r = StartReceiver(o);
    ASSERT_TRUE(r.ok()) << r.status();
    receiver_ = std::move(*r);
    endpoint_.endpoint = receiver_->endpoint();
    endpoint_.ca_pem = receiver_->ca_pem();
    endpoint_.token = kToken;
    endpoint_.io_timeout = std::chrono::seconds(20);
  }

  ReplicateOptions Options() {
    ReplicateOptions o;
    o.site = "site-a";
    o.ns = "prod";
    o.policy = "db";
    o.state_dir = tmp_ / "state";
    return o;
  }

  StatusOr<ReplicateResult> Run(const ReplicateOptions& o) {
    return Replicate({{"", source_}}, endpoint_, o);
  }

  PointRef Ref() { return {tmp_ / "target", "site-a", "prod", "db"}; }

  void ExpectMaterializesTo(const std::string& point, const fs::path& expected_parent) {
    fs::path out = tmp_ / ("restore-" + point);
    auto stats = Materialize(Ref(), point, out);
    ASSERT_TRUE(stats.ok()) << stats.status();
    EXPECT_EQ(CompareTrees(expected_parent, out), "");
    // Holes stay holes: the image's allocation is about its data, not its size.
    if (fs::exists(out / "vol" / "disk.img")) {
      EXPECT_LT(AllocatedBytes(out / "vol" / "disk.img"), kImageSize / 2);
    }
  }

  TempDir tmp_;
  std::mt19937_64 rng_{42};
  fs::path source_;
  std::unique_ptr<Receiver> receiver_;
  TargetEndpoint endpoint_;
};

TEST_F(ReplicationTest, InitialThenDeltaSendsAboutTheChangedBytesAndEveryPointMaterializes) {
  auto first = Run(Options());
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_TRUE(first->full);
  EXPECT_EQ(first->files_changed, first->files);
  // Holes are never sent: the image's data is a quarter of its size.
  EXPECT_LT(first->data_bytes_sent, kImageSize / 4 + (3 << 20));
  fs::create_directories(tmp_ / "before");
  CopyTree(source_, tmp_ / "before" / "vol");

  // A day of change: three image extents rewritten, one zeroed, an insertion in the middle of
  // the media file, an append, a deletion and a new file.
  uint64_t changed = 0;
  for (uint64_t off : {uint64_t{1} << 20, uint64_t{3} << 20, uint64_t{5} << 20}) {
    WriteAt(source_ / "disk.img", off, RandomBytes(rng_, 16 << 10));
    changed += 16 << 10;
  }
  WriteAt(source_ / "disk.img", 256 << 10, std::string(64 << 10, '\0'));
  {
    std::ifstream in(source_ / "media.bin", std::ios::binary);
    std::string media((std::istreambuf_iterator<char>(in)), {});
    media.insert(media.size() / 2, RandomBytes(rng_, 100));
    WriteFile(source_ / "media.bin.new", media);
    fs::rename(source_ / "media.bin.new", source_ / "media.bin");
    changed += 100;
  }
  std::ofstream(source_ / "src" / "f2.txt", std::ios::app) << "appended line\n";
  fs::remove(source_ / "src" / "f3.txt");
  WriteFile(source_ / "src" / "new.txt", Text(rng_, 5000));
  changed += 5000 + 14;

  auto second = Run(Options());
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(second->full);
  EXPECT_LE(second->files_changed, 5u);
  // About the bytes changed: each rewritten or inserted range costs at most a chunk or so more.
  EXPECT_GE(second->data_bytes_sent, changed - 5000);
  EXPECT_LT(second->data_bytes_sent, changed + 4 * (64 << 10) + 40'000);
  EXPECT_LT(second->bytes_sent, first->bytes_sent / 5);

  auto points = ListPoints(Ref());
  ASSERT_TRUE(points.ok()) << points.status();
  ASSERT_EQ(points->size(), 2u);
  EXPECT_EQ((*points)[0].id, first->point.id);
  EXPECT_EQ((*points)[1].id, second->point.id);
  ExpectMaterializesTo(first->point.id, tmp_ / "before");
  ExpectMaterializesTo(second->point.id, tmp_ / "source");

  // Nothing changed: a cycle reads nothing and sends only the small delta manifest.
  auto third = Run(Options());
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_EQ(third->files_changed, 0u);
  EXPECT_EQ(third->data_bytes_sent, 0u);
  EXPECT_LT(third->bytes_sent, 20'000u);
}

TEST_F(ReplicationTest, WrongTokenIsUnauthenticatedAndNamesTheEndpoint) {
  endpoint_.token = "wrong";
  auto r = Run(Options());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find(endpoint_.endpoint), std::string::npos) << r.status();
  auto ping = Ping(endpoint_);
  ASSERT_FALSE(ping.ok());
  EXPECT_EQ(ping.status().code(), StatusCode::kUnauthenticated);
}

TEST_F(ReplicationTest, UntrustedCertificateFailsVerification) {
  fs::path cert = tmp_ / "other.crt", key = tmp_ / "other.key";
  ASSERT_TRUE(GenerateSelfSignedCertificate(cert, key, "someone-else").ok());
  std::ifstream in(cert);
  endpoint_.ca_pem.assign(std::istreambuf_iterator<char>(in), {});
  auto r = Ping(endpoint_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnauthenticated);
  EXPECT_NE(r.status().message().find("certificate verify failed"), std::string::npos)
      << r.status();
  EXPECT_NE(r.status().message().find(endpoint_.endpoint), std::string::npos);
}

TEST_F(ReplicationTest, MutualTlsRequiresATrustedClientCertificate) {
  fs::path client_cert = tmp_ / "client.crt", client_key = tmp_ / "client.key";
  ASSERT_TRUE(GenerateSelfSignedCertificate(client_cert, client_key, "site-a").ok());
  ReceiverOptions o;
  o.root = tmp_ / "mtls";
  o.tls.client_ca = client_cert;
  auto r = StartReceiver(o);
  ASSERT_TRUE(r.ok()) << r.status();
  TargetEndpoint t;
  t.endpoint = (*r)->endpoint();
  t.ca_pem = (*r)->ca_pem();
  auto without = Ping(t);
  ASSERT_FALSE(without.ok());
  EXPECT_EQ(without.status().code(), StatusCode::kUnauthenticated) << without.status();
  t.client_cert = client_cert;
  t.client_key = client_key;
  auto with = Ping(t);
  ASSERT_TRUE(with.ok()) << with.status();
  EXPECT_EQ(with->version, "lifeboat-replication/1");
}

TEST_F(ReplicationTest, UnreachableEndpointFailsFastWithUnavailable) {
  int port = receiver_->port();
  receiver_->Stop();
  endpoint_.endpoint = "https://127.0.0.1:" + std::to_string(port);
  auto start = std::chrono::steady_clock::now();
  auto r = Run(Options());
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kUnavailable);
  EXPECT_NE(r.status().message().find(endpoint_.endpoint), std::string::npos);
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(6));
}

TEST_F(ReplicationTest, ACycleCutOffMidTransferLeavesTheJournalAndResumes) {
  std::atomic<bool> cancel{false};
  ReplicateOptions o = Options();
  o.cancel = &cancel;
  o.progress = [&](const ReplicationProgress& p) {
    if (p.bytes_sent > (1 << 20)) {
      cancel = true;
    }
  };
  auto cut = Run(o);
  ASSERT_FALSE(cut.ok());
  EXPECT_EQ(cut.status().code(), StatusCode::kCancelled) << cut.status();
  auto points = ListPoints(Ref());
  ASSERT_TRUE(points.ok()) << points.status();
  EXPECT_TRUE(points->empty());

  // A fresh receiver on the same root (the target restarted) still has the batches that arrived.
  receiver_.reset();
  StartTarget();
  auto resumed = Run(Options());
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  TempDir other;
  ReplicateOptions fresh = Options();
  fresh.policy = "db-copy";
  fresh.state_dir = other.path();
  auto full = Run(fresh);
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_LT(resumed->data_bytes_sent + (1 << 20) / 2, full->data_bytes_sent);
  ExpectMaterializesTo(resumed->point.id, tmp_ / "source");
}

TEST_F(ReplicationTest, RetentionExpiresOldPointsKeepsTheLatestAndCollectsGarbage) {
  FakeClock clock(std::chrono::system_clock::now());
  receiver_.reset();
  StartTarget(&clock);
  ReplicateOptions o = Options();
  o.clock = &clock;
  o.retention = std::chrono::hours(1);
  fs::remove_all(source_);
  fs::create_directories(source_);
  WriteFile(source_ / "notes.txt", Text(rng_, 3000));  // shares the first pack, then repacked
  std::vector<std::string> ids;
  for (int cycle = 0; cycle < 3; ++cycle) {
    WriteFile(source_ / "media.bin", RandomBytes(rng_, 1 << 20));  // all new data each time
    auto r = Run(o);
    ASSERT_TRUE(r.ok()) << r.status();
    ids.push_back(r->point.id);
    clock.Advance(std::chrono::minutes(40));
  }
  // Points 0 (80 min old at the third commit) expired; 1 (40 min) and 2 remain.
  auto points = ListPoints(Ref());
  ASSERT_TRUE(points.ok()) << points.status();
  ASSERT_EQ(points->size(), 2u);
  EXPECT_EQ((*points)[0].id, ids[1]);
  auto repo = receiver_->repos().Get("site-a", "prod", "db");
  ASSERT_TRUE(repo.ok());
  auto lost = (*repo)->Materialize(ids[0], tmp_ / "gone", {});
  EXPECT_EQ(lost.status().code(), StatusCode::kNotFound) << lost.status();
  // The first media file's data was collected: what remains is two media files and the notes.
  EXPECT_LT((*repo)->stored_bytes(), (2 << 20) + (64 << 10));
  ExpectMaterializesTo(ids[2], tmp_ / "source");
  clock.Advance(std::chrono::hours(5));
  auto gc = (*repo)->ApplyRetention(std::chrono::hours(1));
  ASSERT_TRUE(gc.ok()) << gc.status();
  EXPECT_EQ(gc->points_deleted, 1u);  // the latest is kept however old
  auto verified = (*repo)->Materialize(ids[2], tmp_ / "verified", {.verify = true});
  ASSERT_TRUE(verified.ok()) << verified.status();
  EXPECT_EQ(CompareTrees(tmp_ / "source", tmp_ / "verified"), "");
}

TEST_F(ReplicationTest, BandwidthLimitIsHonoured) {
  fs::remove_all(source_);
  fs::create_directories(source_);
  WriteFile(source_ / "data.bin", RandomBytes(rng_, 1 << 20));
  ReplicateOptions o = Options();
  o.bandwidth_limit = 2 << 20;  // 1 MiB at 2 MiB/s: at least ~0.5 s
  auto r = Run(o);
  ASSERT_TRUE(r.ok()) << r.status();
  double seconds = static_cast<double>(r->duration.count()) / 1000.0;
  EXPECT_GE(seconds, 0.45);
  EXPECT_LE(static_cast<double>(r->bytes_sent) / seconds, 2.2 * (1 << 20));
}

TEST_F(ReplicationTest, DeletedPointAndBadNamesGiveClearErrors) {
  auto r = Run(Options());
  ASSERT_TRUE(r.ok()) << r.status();
  ReplicateOptions bad = Options();
  bad.policy = "../escape";
  auto rejected = Run(bad);
  ASSERT_FALSE(rejected.ok());
  EXPECT_EQ(rejected.status().code(), StatusCode::kInvalidArgument);
  EXPECT_NE(rejected.status().message().find("policy"), std::string::npos);
  auto remote = ListRemotePoints(endpoint_, "site-a", "prod", "db");
  ASSERT_TRUE(remote.ok()) << remote.status();
  ASSERT_EQ(remote->points.size(), 1u);
  ASSERT_TRUE(DeleteRemotePoint(endpoint_, "site-a", "prod", "db", r->point.id).ok());
  auto gone = DeleteRemotePoint(endpoint_, "site-a", "prod", "db", r->point.id);
  EXPECT_EQ(gone.code(), StatusCode::kNotFound) << gone;
  auto missing = Materialize(Ref(), r->point.id, tmp_ / "x");
  EXPECT_EQ(missing.status().code(), StatusCode::kNotFound);
  // The sender's state points at a deleted base: the next cycle falls back to a full exchange.
  auto again = Run(Options());
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(again->full);
  ExpectMaterializesTo(again->point.id, tmp_ / "source");
}

}  // namespace
}  // namespace lifeboat::replication
