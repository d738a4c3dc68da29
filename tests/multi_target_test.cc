// One batch split over several servers: contiguous parts run in parallel and
// merge back in request order; a server that is down fails exactly its part.
// Also gRPC's round_robin channel, the scale-out path for many callers.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/mutex.h"
#include "examples/local_server.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/wait_until.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;

class MultiTargetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (int i = 0; i < 3; ++i) {
      auto server = LocalServer::Start();
      ASSERT_TRUE(server.ok()) << server.status();
      targets_.push_back((*server)->target());
      servers_.push_back(*std::move(server));
    }
  }

  bool AllIdle() {
    return WaitUntil([&] {
      for (const auto& s : servers_) {
        if (s->Stats().inflight_tasks() != 0) return false;
      }
      return true;
    });
  }

  std::vector<std::unique_ptr<LocalServer>> servers_;
  std::vector<std::string> targets_;
};

TEST_F(MultiTargetTest, SplitsContiguouslyAndMergesInRequestOrder) {
  Client client = Client::ForTargets(targets_);
  ASSERT_EQ(client.channel_count(), 3u);
  std::vector<Task> tasks;
  for (int i = 0; i < 9; ++i) {
    // Later tasks finish first, across and within parts.
    tasks.push_back(Task::Sleep(absl::Milliseconds(10 * (9 - i)))
                        .WithId(absl::StrCat("t", i)));
  }
  Mutex mu;
  std::vector<int> seen(9, 0);
  Progress last;
  GatherOptions options;
  options.on_result = [&](size_t index, const absl::StatusOr<TaskOutput>&) {
    MutexLock lock(&mu);
    ++seen.at(index);
  };
  options.on_progress = [&](const Progress& p) {
    MutexLock lock(&mu);
    last = p;
  };
  absl::StatusOr<std::vector<TaskOutput>> outputs =
      client.Gather(std::move(tasks), options);
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), 9u);
  for (size_t i = 0; i < 9; ++i) {
    EXPECT_EQ((*outputs)[i].index, i);
    EXPECT_EQ((*outputs)[i].id, absl::StrCat("t", i));
  }
  // Each server ran one part of three tasks.
  for (const auto& s : servers_) {
    EXPECT_EQ(s->Stats().batches_started(), 1u);
    EXPECT_TRUE(WaitUntil([&] { return s->Stats().tasks_completed() == 3; }));
  }
  MutexLock lock(&mu);
  EXPECT_THAT(seen, ::testing::Each(1));
  EXPECT_EQ(last.total, 9u);
  EXPECT_EQ(last.completed, 9u);
}

TEST_F(MultiTargetTest, ADownServerFailsExactlyItsPartInGatherAll) {
  servers_[1]->Shutdown();
  Client client = Client::ForTargets(targets_);
  std::vector<Task> tasks;
  for (int i = 0; i < 6; ++i) tasks.push_back(Task::Echo({{"i", i}}));
  std::vector<absl::StatusOr<TaskOutput>> results =
      client.GatherAll(std::move(tasks));
  ASSERT_EQ(results.size(), 6u);
  for (size_t i = 0; i < 6; ++i) {
    if (i == 2 || i == 3) {
      EXPECT_EQ(results[i].status().code(), absl::StatusCode::kUnavailable)
          << i << ": " << results[i].status();
      EXPECT_THAT(results[i].status().message(),
                  HasSubstr(absl::StrCat("tasks 2..3 on ", targets_[1])));
    } else {
      EXPECT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    }
  }
}

TEST_F(MultiTargetTest, ADownServerFailsGather) {
  servers_[2]->Shutdown();
  Client client = Client::ForTargets(targets_);
  absl::StatusOr<std::vector<TaskOutput>> outputs =
      client.Gather({Task::Sleep(absl::Seconds(20)),
                     Task::Sleep(absl::Seconds(20)), Task::Echo({})});
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_THAT(outputs.status().message(), HasSubstr(targets_[2]));
  // Fail-fast reached the other servers too.
  EXPECT_TRUE(AllIdle());
}

TEST_F(MultiTargetTest, FailFastCancelsTheOtherParts) {
  Client client = Client::ForTargets(targets_);
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<TaskOutput>> outputs = client.Gather({
      Task::Sleep(absl::Seconds(20)),
      Task::Sleep(absl::Seconds(20)),
      Task::Sleep(absl::Seconds(20)),
      Task::Fail(absl::StatusCode::kFailedPrecondition, "broken"),
      Task::Sleep(absl::Seconds(20)),
      Task::Sleep(absl::Seconds(20)),
  });
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kFailedPrecondition);
  // The index is the task's place in the whole batch, not in its part.
  EXPECT_THAT(outputs.status().message(), HasSubstr("task 3 failed: broken"));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(AllIdle());
}

TEST_F(MultiTargetTest, RoundRobinChannelSpreadsCallsOverServers) {
  std::shared_ptr<grpc::Channel> channel = CreateRoundRobinChannel(
      absl::StrCat("ipv4:", absl::StrJoin(targets_, ",")));
  Client client(channel);
  // Subchannels connect one by one; keep calling until every server has
  // answered one call.
  EXPECT_TRUE(WaitUntil(
      [&] {
        EXPECT_TRUE(client.Gather({Task::Echo({})}).ok());
        for (const auto& s : servers_) {
          if (s->Stats().batches_started() == 0) return false;
        }
        return true;
      },
      absl::Seconds(10)));
  // Given the channel three times, a client splits one batch over it.
  Client split({channel, channel, channel});
  std::vector<absl::StatusOr<TaskOutput>> results =
      split.GatherAll({Task::Echo({}), Task::Echo({}), Task::Echo({})});
  for (const auto& r : results) EXPECT_TRUE(r.ok()) << r.status();
}

}  // namespace
}  // namespace batchexec
