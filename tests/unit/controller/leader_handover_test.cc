// Leader hand-over between two `lifeboat controller` processes against the embedded API server:
// kill -9 the leader, the other acquires the Lease within the lease duration and reconciles;
// SIGTERM stops gracefully and releases the Lease; losing the Lease exits non-zero.
#include <gtest/gtest.h>

#include "controller/leader_election.h"
#include "reconcilers/conditions.h"
#include "tests/unit/controller/api_server_fixture.h"
#include "tests/unit/controller/subprocess.h"

namespace lifeboat::controller {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;
using testing::ApiServerFixture;
using testing::BackupPolicy;
using testing::kBackupPolicies;
using testing::Subprocess;
using testing::WaitFor;

constexpr seconds kLeaseDuration{4};
constexpr milliseconds kRetryPeriod{500};

class LeaderHandoverTest : public ApiServerFixture {
 protected:
  void SetUp() override {
    ApiServerFixture::SetUp();
    if (HasFatalFailure()) {
      return;
    }
    client_ = NewClient();
    ASSERT_NE(client_, nullptr);
    CreateNamespace(*client_, "prod");
  }

  std::unique_ptr<Subprocess> StartController(const std::string& identity) {
    // This build's binary (LIFEBOAT_TEST_BINARY, set by CMake), not whatever LIFEBOAT_BINARY
    // points at.
    std::vector<std::string> argv = {LIFEBOAT_TEST_BINARY,
                                     "controller",
                                     "--kubeconfig",
                                     server_->kubeconfig_path().string(),
                                     "--leader-elect",
                                     "--identity",
                                     identity,
                                     "--lease-namespace",
                                     "prod",
                                     "--lease-duration",
                                     "4s",
                                     "--renew-deadline",
                                     "3s",
                                     "--retry-period",
                                     "500ms",
                                     "--workers",
                                     "1",
                                     "--metrics-bind-address",
                                     "127.0.0.1:0"};
    return std::make_unique<Subprocess>(argv, dir_ / ("controller-" + identity + ".log"));
  }

  std::string Holder() {
    auto lease = client_->Get(LeaseResource(), {"prod", "lifeboat-controller"});
    if (!lease.ok()) {
      return "<" + lease.status().ToString() + ">";
    }
    return (*lease)["spec"].value("holderIdentity", "");
  }

  bool ObservedGeneration(const std::string& name, int64_t generation) {
    return WaitFor(
        [&] {
          auto object = client_->Get(kBackupPolicies, {"prod", name});
          return object.ok() && object->contains("status") &&
                 (*object)["status"].value("observedGeneration", int64_t{0}) == generation;
        },
        seconds(15));
  }

  std::unique_ptr<KubeClient> client_;
};

TEST_F(LeaderHandoverTest, KilledLeaderIsReplacedWithinTheLeaseDuration) {
  auto a = StartController("a");
  ASSERT_TRUE(WaitFor([&] { return Holder() == "a"; }, seconds(15))) << a->Log();
  auto b = StartController("b");
  ASSERT_TRUE(
      WaitFor([&] { return b->Log().find("Observed leader identity=a") != std::string::npos; },
              seconds(15)))
      << b->Log();
  ASSERT_TRUE(client_->Create(kBackupPolicies, BackupPolicy("prod", "db")).ok());
  ASSERT_TRUE(ObservedGeneration("db", 1)) << a->Log();
  EXPECT_EQ(b->Log().find("Acquired Lease"), std::string::npos) << "b must only stand by";

  auto killed_at = std::chrono::steady_clock::now();
  a->Signal(SIGKILL);
  ASSERT_TRUE(WaitFor([&] { return Holder() == "b"; }, kLeaseDuration + seconds(5))) << b->Log();
  auto takeover = std::chrono::steady_clock::now() - killed_at;
  std::cout << "lease takeover after kill -9: "
            << std::chrono::duration_cast<milliseconds>(takeover).count() << " ms\n";
  // At most a lease duration after the last renewal b saw, plus b's retry period.
  EXPECT_LE(takeover, kLeaseDuration + 2 * kRetryPeriod + milliseconds(500));
  EXPECT_TRUE(WaitFor([&] {
    return b->Log().find("Acquired Lease ns=prod name=lifeboat-controller identity=b") !=
           std::string::npos;
  })) << b->Log();
  EXPECT_EQ(a->Wait(seconds(5)), 128 + SIGKILL);

  // The new leader reconciles.
  // A merge patch: the controllers write the policy's status meanwhile, so a read-modify-update
  // could meet a 409.
  ASSERT_TRUE(client_
                  ->Patch(kBackupPolicies, {"prod", "db"}, PatchType::kMerge,
                          Json{{"spec", {{"rpo", "5h"}}}})
                  .ok());
  EXPECT_TRUE(ObservedGeneration("db", 2)) << b->Log();

  // SIGTERM: graceful stop, exit 0, Lease released.
  b->Signal(SIGTERM);
  EXPECT_EQ(b->Wait(seconds(10)), 0) << b->Log();
  EXPECT_EQ(Holder(), "");
}

TEST_F(LeaderHandoverTest, LeaderThatCannotRenewExitsNonZero) {
  auto c = StartController("c");
  ASSERT_TRUE(WaitFor(
      [&] { return Holder() == "c" && c->Log().find("Started workers") != std::string::npos; },
      seconds(15)))
      << c->Log();
  StopServer();
  std::optional<int> code = c->Wait(seconds(15));
  ASSERT_TRUE(code.has_value()) << "the leader kept running without its Lease\n" << c->Log();
  EXPECT_EQ(*code, 1);
  EXPECT_NE(c->Log().find("Lost Lease"), std::string::npos) << c->Log();
}

}  // namespace
}  // namespace lifeboat::controller
