// A failed task's id, attempts and timings reach the caller through the SDK
// (FailedTaskDetails on its status), in on_result and GatherAll alike.
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/mutex.h"
#include "gtest/gtest.h"
#include "tests/test_util/local_server_test.h"

namespace batchexec {
namespace {

class FailedTaskDetailsTest : public LocalServerTest {};

void ExpectDetails(const absl::StatusOr<TaskOutput>& r, size_t index) {
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  std::optional<TaskOutput> d = FailedTaskDetails(r.status());
  ASSERT_TRUE(d.has_value()) << r.status();
  EXPECT_EQ(d->index, index);
  EXPECT_EQ(d->id, "flaky");
  EXPECT_EQ(d->attempts, 3);
  // The last attempt started after two backoffs of at least 1 ms each.
  EXPECT_GT(d->started_after, absl::ZeroDuration());
  EXPECT_GE(d->finished_after, d->started_after);
}

TEST_F(FailedTaskDetailsTest, ReachOnResultAndGatherAll) {
  RetryPolicy retry;
  retry.max_attempts = 3;
  retry.initial_backoff = absl::Milliseconds(1);
  retry.retryable_codes = {absl::StatusCode::kUnavailable};
  Mutex mu;
  std::optional<absl::StatusOr<TaskOutput>> seen;
  GatherOptions options;
  options.retry = retry;
  options.on_result = [&](size_t index, const absl::StatusOr<TaskOutput>& r) {
    MutexLock lock(&mu);
    if (index == 1) seen = r;
  };
  std::vector<absl::StatusOr<TaskOutput>> results = client_->GatherAll(
      {Task::Echo({}),
       Task::Fail(absl::StatusCode::kUnavailable, "down").WithId("flaky")},
      options);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_FALSE(FailedTaskDetails(results[0].status()).has_value());
  ExpectDetails(results[1], 1);
  MutexLock lock(&mu);
  ASSERT_TRUE(seen.has_value());
  ExpectDetails(*seen, 1);
}

TEST(FailedTaskDetails, AFailureNoServerSentHasNone) {
  Client client(std::vector<std::shared_ptr<grpc::Channel>>{});
  std::vector<absl::StatusOr<TaskOutput>> results =
      client.GatherAll({Task::Echo({})});
  ASSERT_EQ(results.size(), 1u);
  EXPECT_FALSE(FailedTaskDetails(results[0].status()).has_value());
}

}  // namespace
}  // namespace batchexec
