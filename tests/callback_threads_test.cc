// Where the SDK's callbacks run: never on the thread inside StartGather,
// and Wait() from inside a callback fails fast instead of deadlocking.
#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/mutex.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/test_util/local_server_test.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;

// Every thread a callback of the call ran on.
struct Threads {
  Mutex mu;
  std::vector<std::thread::id> seen ABSL_GUARDED_BY(mu);
  void Add() {
    MutexLock lock(&mu);
    seen.push_back(std::this_thread::get_id());
  }
  GatherOptions Recording() {
    GatherOptions options;
    options.on_accepted = [this] { Add(); };
    options.on_progress = [this](const Progress&) { Add(); };
    options.on_result = [this](size_t, const absl::StatusOr<TaskOutput>&) {
      Add();
    };
    options.on_done = [this](const GatherResult&) { Add(); };
    return options;
  }
};

void ExpectNoneOn(Threads& threads, std::thread::id caller) {
  MutexLock lock(&threads.mu);
  EXPECT_FALSE(threads.seen.empty());
  for (std::thread::id id : threads.seen) EXPECT_NE(id, caller);
}

class CallbackThreadsTest : public LocalServerTest {};

TEST_F(CallbackThreadsTest, NoCallbackRunsOnTheStartingThread) {
  Threads threads;
  std::unique_ptr<GatherCall> call = client_->StartGather(
      {Task::Echo({{"x", 1}}), Task::Sleep(absl::Milliseconds(50))},
      threads.Recording());
  EXPECT_TRUE(call->Wait().status.ok()) << call->Wait().status;
  ExpectNoneOn(threads, std::this_thread::get_id());
}

TEST(CallbackThreads, WithoutAChannelOnDoneRunsOnAnotherThread) {
  Client client(std::vector<std::shared_ptr<grpc::Channel>>{});
  Threads threads;
  std::unique_ptr<GatherCall> call =
      client.StartGather({Task::Echo({})}, threads.Recording());
  EXPECT_EQ(call->Wait().status.code(), absl::StatusCode::kFailedPrecondition);
  ExpectNoneOn(threads, std::this_thread::get_id());
}

TEST(CallbackThreads, AServerThatIsNotThereFailsOnAnotherThread) {
  // Nothing listens on port 1: the call fails at once, maybe inline.
  Client client(
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials()));
  for (int i = 0; i < 5; ++i) {  // the second call meets a failed channel
    Threads threads;
    std::unique_ptr<GatherCall> call =
        client.StartGather({Task::Echo({})}, threads.Recording());
    EXPECT_EQ(call->Wait().status.code(), absl::StatusCode::kUnavailable);
    ExpectNoneOn(threads, std::this_thread::get_id());
  }
}

TEST_F(CallbackThreadsTest, WaitInsideOnResultFailsFast) {
  std::atomic<GatherCall*> self{nullptr};
  absl::Notification ready;
  Mutex mu;
  absl::Status from_wait, from_gather;
  GatherOptions options;
  options.on_result = [&](size_t, const absl::StatusOr<TaskOutput>&) {
    ready.WaitForNotification();  // the handle is published
    MutexLock lock(&mu);
    from_wait = self.load()->Wait().status;
    // A synchronous Gather from a callback: the same misuse.
    from_gather = client_->Gather({Task::Echo({})}).status();
  };
  std::unique_ptr<GatherCall> call =
      client_->StartGather({Task::Echo({})}, options);
  self = call.get();
  ready.Notify();
  EXPECT_TRUE(call->WaitFor(absl::Seconds(30)));  // no deadlock
  MutexLock lock(&mu);
  EXPECT_EQ(from_wait.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(from_wait.message(), HasSubstr("inside an SDK callback"));
  EXPECT_EQ(from_gather.code(), absl::StatusCode::kFailedPrecondition);
}

TEST_F(CallbackThreadsTest, WaitInsideOnDoneReturnsTheResult) {
  std::atomic<GatherCall*> self{nullptr};
  absl::Notification ready;
  absl::Status from_wait = absl::UnknownError("not run");
  GatherOptions options;
  options.on_done = [&](const GatherResult&) {
    ready.WaitForNotification();
    from_wait = self.load()->Wait().status;
  };
  std::unique_ptr<GatherCall> call =
      client_->StartGather({Task::Echo({})}, options);
  self = call.get();
  ready.Notify();
  EXPECT_TRUE(call->Wait().status.ok());
  EXPECT_TRUE(from_wait.ok()) << from_wait;
}

}  // namespace
}  // namespace batchexec
