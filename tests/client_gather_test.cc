// Client::Gather and GatherAll against a real in-process server: ordering,
// both failure modes, time limits, call-level failures, large batches.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/test_util/local_server_test.h"
#include "tests/wait_until.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;

class ClientGatherTest : public LocalServerTest {
 protected:
  // True once the server runs no task and has no batch open.
  bool ServerIdle(absl::Duration timeout = absl::Seconds(3)) {
    return WaitUntil(
        [&] {
          v1::ServerStats stats = server_->Stats();
          return stats.inflight_tasks() == 0 && stats.open_batches() == 0;
        },
        timeout);
  }
};

TEST_F(ClientGatherTest, ReturnsOutputsInRequestOrderWhenTasksFinishReversed) {
  absl::StatusOr<std::vector<TaskOutput>> outputs = client_->Gather({
      Task::Sleep(absl::Milliseconds(300)).WithId("a"),
      Task::Sleep(absl::Milliseconds(200)).WithId("b"),
      Task::Sleep(absl::Milliseconds(100)).WithId("c"),
  });
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    EXPECT_EQ((*outputs)[i].index, i);
    EXPECT_EQ((*outputs)[i].id, std::string(1, static_cast<char>('a' + i)));
  }
  // They did finish in reverse order.
  EXPECT_LT((*outputs)[2].finished_after, (*outputs)[1].finished_after);
  EXPECT_LT((*outputs)[1].finished_after, (*outputs)[0].finished_after);
  EXPECT_DOUBLE_EQ((*outputs)[0].output.number_value(), 0.3);
}

TEST_F(ClientGatherTest, RunsTasksConcurrently) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<TaskOutput>> outputs = client_->Gather({
      Task::Sleep(absl::Milliseconds(500)),
      Task::Sleep(absl::Milliseconds(600)),
      Task::Sleep(absl::Milliseconds(400)),
  });
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  // Every task started before any ended.
  for (const TaskOutput& a : *outputs) {
    for (const TaskOutput& b : *outputs) {
      EXPECT_LT(a.started_after, b.finished_after);
    }
  }
  // 1.5 s one by one; concurrently a little over 0.6 s (generous for a
  // loaded machine).
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1400));
}

TEST_F(ClientGatherTest, EchoReturnsArgsAndPayload) {
  absl::StatusOr<std::vector<TaskOutput>> outputs =
      client_->Gather({Task::Echo({{"x", 1}, {"s", "hi"}})
                           .WithPayload(std::string("\0\xff", 2))});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  const auto& fields = (*outputs)[0].output.struct_value().fields();
  EXPECT_DOUBLE_EQ(fields.at("x").number_value(), 1);
  EXPECT_EQ(fields.at("s").string_value(), "hi");
  EXPECT_EQ((*outputs)[0].payload, std::string("\0\xff", 2));
}

TEST_F(ClientGatherTest, GatherFailsFastWithTheFailingIndex) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<TaskOutput>> outputs = client_->Gather({
      Task::Sleep(absl::Seconds(20)).WithId("a"),
      Task::Fail(absl::StatusCode::kNotFound, "no such thing").WithId("b"),
      Task::Sleep(absl::Seconds(20)).WithId("c"),
  });
  ASSERT_FALSE(outputs.ok());
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(outputs.status().message(), HasSubstr("task 1"));
  EXPECT_THAT(outputs.status().message(), HasSubstr("\"b\""));
  EXPECT_THAT(outputs.status().message(), HasSubstr("no such thing"));
  // The siblings were cancelled rather than waited for.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(ServerIdle());
}

TEST_F(ClientGatherTest, GatherAllReturnsEachTasksOutcome) {
  std::vector<absl::StatusOr<TaskOutput>> results = client_->GatherAll({
      Task::Echo({{"n", 1}}),
      Task::Fail(absl::StatusCode::kPermissionDenied, "nope"),
      Task::Sleep(absl::Milliseconds(100)),
  });
  ASSERT_EQ(results.size(), 3u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_DOUBLE_EQ(
      results[0]->output.struct_value().fields().at("n").number_value(), 1);
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(results[1].status().message(), "nope");
  // COLLECT_ALL: the failure cancelled nothing.
  EXPECT_TRUE(results[2].ok()) << results[2].status();
}

TEST_F(ClientGatherTest, GatherAllWithFailFastReportsCancelledSiblings) {
  GatherOptions options;
  options.failure_policy = FailurePolicy::kFailFast;
  options.max_concurrency = 1;  // the third task is still queued
  std::vector<absl::StatusOr<TaskOutput>> results = client_->GatherAll(
      {Task::Echo({}), Task::Fail(absl::StatusCode::kAborted, "stop"),
       Task::Sleep(absl::Seconds(20))},
      options);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok());
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kAborted);
  EXPECT_EQ(results[2].status().code(), absl::StatusCode::kCancelled);
}

TEST_F(ClientGatherTest, EmptyBatchSucceedsWithNoOutputs) {
  absl::StatusOr<std::vector<TaskOutput>> outputs = client_->Gather({});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_TRUE(outputs->empty());
  EXPECT_TRUE(client_->GatherAll({}).empty());
}

TEST_F(ClientGatherTest, CallTimeoutEndsTheCallAndTheServerSideTasks) {
  GatherOptions options;
  options.timeout = absl::Milliseconds(200);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<TaskOutput>> outputs = client_->Gather(
      {Task::Sleep(absl::Seconds(20)), Task::Sleep(absl::Seconds(20))},
      options);
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kDeadlineExceeded)
      << outputs.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(ServerIdle());
}

TEST_F(ClientGatherTest, AbsoluteDeadlineGivesUnfinishedTasksDeadlineExceeded) {
  GatherOptions options;
  options.deadline = absl::Now() + absl::Milliseconds(300);
  std::vector<absl::StatusOr<TaskOutput>> results = client_->GatherAll(
      {Task::Echo({}), Task::Sleep(absl::Seconds(20))}, options);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kDeadlineExceeded)
      << results[1].status();
  EXPECT_TRUE(ServerIdle());
}

TEST_F(ClientGatherTest, PerTaskTimeoutsEndOnlyTheSlowTasks) {
  GatherOptions options;
  options.task_timeout = absl::Milliseconds(100);
  std::vector<absl::StatusOr<TaskOutput>> results = client_->GatherAll(
      {Task::Sleep(absl::Seconds(20)),
       Task::Sleep(absl::Milliseconds(200)).WithTimeout(absl::Seconds(5)),
       Task::Echo({})},
      options);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_TRUE(results[1].ok()) << results[1].status();  // its own limit
  EXPECT_TRUE(results[2].ok()) << results[2].status();
}

TEST_F(ClientGatherTest, RejectedBatchGivesEveryTaskTheCallStatus) {
  std::vector<Task> tasks = {Task::Echo({}), Task::Of("no_such_kind")};
  absl::StatusOr<std::vector<TaskOutput>> outputs = client_->Gather(tasks);
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(outputs.status().message(), HasSubstr("no_such_kind"));

  std::vector<absl::StatusOr<TaskOutput>> results = client_->GatherAll(tasks);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  }
  EXPECT_EQ(server_->Stats().batches_started(), 0u);
}

TEST(ClientUnreachable, EveryTaskGetsUnavailable) {
  Client client(
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
  absl::StatusOr<std::vector<TaskOutput>> outputs =
      client.Gather({Task::Echo({})});
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kUnavailable);

  std::vector<absl::StatusOr<TaskOutput>> results =
      client.GatherAll({Task::Echo({}), Task::Echo({})});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kUnavailable);
  }
}

TEST(ClientWithoutChannels, FailsEveryTaskWithFailedPrecondition) {
  Client client(std::vector<std::shared_ptr<grpc::Channel>>{});
  EXPECT_EQ(client.Gather({Task::Echo({})}).status().code(),
            absl::StatusCode::kFailedPrecondition);
  std::vector<absl::StatusOr<TaskOutput>> results =
      client.GatherAll({Task::Echo({}), Task::Echo({})});
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_FALSE(client.ListTaskKinds().ok());
}

TEST_F(ClientGatherTest, StreamsBatchesWhoseResultsExceedOneMessage) {
  // ~2.4 MB of payload each way, far more results than one chunk holds.
  constexpr int kTasks = 20'000;
  const std::string payload(120, 'p');
  std::vector<Task> tasks;
  tasks.reserve(kTasks);
  for (int i = 0; i < kTasks; ++i) {
    tasks.push_back(Task::Echo({{"i", i}}).WithPayload(payload));
  }
  std::vector<absl::StatusOr<TaskOutput>> results =
      client_->GatherAll(std::move(tasks));
  ASSERT_EQ(results.size(), static_cast<size_t>(kTasks));
  for (int i = 0; i < kTasks; ++i) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    ASSERT_EQ(results[i]->index, static_cast<size_t>(i));
    ASSERT_DOUBLE_EQ(
        results[i]->output.struct_value().fields().at("i").number_value(), i);
    ASSERT_EQ(results[i]->payload.size(), payload.size());
  }
}

// README.md's SDK snippet ("The C++ SDK"), kept compiling and true.
TEST_F(ClientGatherTest, ReadmeSnippet) {
  batchexec::Client client(grpc::CreateChannel(
      server_->target(), grpc::InsecureChannelCredentials()));
  using batchexec::Task;
  std::vector<Task> tasks = {
      Task::Sleep(absl::Milliseconds(20)).WithId("a"),
      Task::Echo({{"x", 1}, {"name", "b"}}),
      Task::Of("primes", {{"n", 1000}}).WithTimeout(absl::Seconds(5))};

  auto outputs = client.Gather(tasks);
  auto each = client.GatherAll(tasks);
  std::atomic<int> results{0};
  batchexec::GatherOptions options;
  options.on_result = [&](size_t i, const auto& r) { ++results; };
  auto call = client.StartGather(tasks, options);
  const batchexec::GatherResult& r = call->Wait();

  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(outputs->size(), 3u);
  EXPECT_EQ(each.size(), 3u);
  EXPECT_TRUE(r.status.ok()) << r.status;
  EXPECT_EQ(results.load(), 3);
}

TEST_F(ClientGatherTest, ListsTheServersKinds) {
  absl::StatusOr<v1::ListTaskKindsResponse> kinds = client_->ListTaskKinds();
  ASSERT_TRUE(kinds.ok()) << kinds.status();
  std::vector<std::string> names;
  for (const auto& k : kinds->kinds()) names.push_back(k.name());
  EXPECT_THAT(names, ::testing::IsSupersetOf({"echo", "fail", "sleep"}));
}

TEST_F(ClientGatherTest, WithRetryRunsAFlakyTaskUntilItSucceeds) {
  RetryPolicy retry;
  retry.max_attempts = 3;
  retry.initial_backoff = absl::Milliseconds(1);
  retry.max_backoff = absl::Milliseconds(5);
  absl::StatusOr<std::vector<TaskOutput>> outputs = client_->Gather({
      Task::Of("fail", {{"code", 14}, {"times", 2}}).WithRetry(retry),
      Task::Echo({{"x", 1}}),
  });
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ((*outputs)[0].attempts, 3);
  EXPECT_EQ((*outputs)[1].attempts, 1);
}

TEST_F(ClientGatherTest, RetryOptionAppliesToEveryTaskAndFailuresSayAttempts) {
  GatherOptions options;
  options.retry.emplace();
  options.retry->max_attempts = 2;
  options.retry->initial_backoff = absl::Milliseconds(1);
  options.max_starts_per_second = 1000;
  std::vector<absl::StatusOr<TaskOutput>> results =
      client_->GatherAll({Task::Fail(absl::StatusCode::kUnavailable, "flaky"),
                          Task::Fail(absl::StatusCode::kNotFound, "gone")},
                         options);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(results[0].status().message(), HasSubstr("after 2 attempts: "));
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(results[1].status().message(), "gone");  // not retryable
}

}  // namespace
}  // namespace batchexec
