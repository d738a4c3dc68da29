// The asynchronous form: StartGather returns at once, callbacks report each
// result exactly once and progress as it happens, Cancel and the handle's
// destructor reach the server.
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "client/client.h"
#include "common/mutex.h"
#include "common/process_memory.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/test_util/local_server_test.h"
#include "tests/wait_until.h"

namespace batchexec {
namespace {

using ::testing::ElementsAre;

class GatherCallTest : public LocalServerTest {
 protected:
  uint64_t Inflight() { return server_->Stats().inflight_tasks(); }
};

// A one-shot signal ThreadSanitizer can see through (absl::Notification's
// library half is not instrumented).
class Signal {
 public:
  void Notify() {
    MutexLock lock(&mu_);
    set_ = true;
  }
  void Wait() {
    MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&set_));
  }
  bool WaitFor(absl::Duration timeout) {
    MutexLock lock(&mu_);
    return mu_.AwaitWithTimeout(absl::Condition(&set_), timeout);
  }

 private:
  Mutex mu_;
  bool set_ ABSL_GUARDED_BY(mu_) = false;
};

// What the callbacks saw.
struct Recorder {
  Mutex mu;
  std::vector<size_t> result_order ABSL_GUARDED_BY(mu);
  std::vector<int> times_seen ABSL_GUARDED_BY(mu);
  std::vector<Progress> progress ABSL_GUARDED_BY(mu);
  int done_calls ABSL_GUARDED_BY(mu) = 0;
  bool result_after_done ABSL_GUARDED_BY(mu) = false;

  explicit Recorder(size_t n) : times_seen(n, 0) {}

  void Attach(GatherOptions& options) {
    options.on_result = [this](size_t index,
                               const absl::StatusOr<TaskOutput>& result) {
      MutexLock lock(&mu);
      if (done_calls > 0) result_after_done = true;
      result_order.push_back(index);
      ++times_seen.at(index);
    };
    options.on_progress = [this](const Progress& p) {
      MutexLock lock(&mu);
      progress.push_back(p);
    };
    options.on_done = [this](const GatherResult&) {
      MutexLock lock(&mu);
      ++done_calls;
    };
  }
};

TEST_F(GatherCallTest, ReturnsAtOnceAndReportsResultsAsTheyComplete) {
  Recorder recorder(3);
  GatherOptions options;
  recorder.Attach(options);
  std::unique_ptr<GatherCall> call =
      client_->StartGather({Task::Sleep(absl::Milliseconds(300)),
                            Task::Sleep(absl::Milliseconds(200)),
                            Task::Sleep(absl::Milliseconds(100))},
                           options);
  EXPECT_FALSE(call->done());  // nothing blocked on the batch

  const GatherResult& result = call->Wait();
  EXPECT_TRUE(call->done());
  ASSERT_TRUE(result.status.ok()) << result.status;
  ASSERT_EQ(result.results.size(), 3u);
  for (size_t i = 0; i < 3; ++i) {
    ASSERT_TRUE(result.results[i].ok());
    EXPECT_EQ(result.results[i]->index, i);
  }
  EXPECT_EQ(result.progress.completed, 3u);
  EXPECT_EQ(result.progress.running, 0u);

  MutexLock lock(&recorder.mu);
  EXPECT_THAT(recorder.result_order, ElementsAre(2, 1, 0));  // as completed
  EXPECT_THAT(recorder.times_seen, ElementsAre(1, 1, 1));
  EXPECT_EQ(recorder.done_calls, 1);
  EXPECT_FALSE(recorder.result_after_done);
}

TEST_F(GatherCallTest, ProgressCountsRunningQueuedAndCompleted) {
  Recorder recorder(4);
  GatherOptions options;
  options.max_concurrency = 1;
  options.failure_policy = FailurePolicy::kCollectAll;
  recorder.Attach(options);
  std::unique_ptr<GatherCall> call =
      client_->StartGather({Task::Sleep(absl::Milliseconds(30)),
                            Task::Fail(absl::StatusCode::kInternal, "x"),
                            Task::Sleep(absl::Milliseconds(30)),
                            Task::Sleep(absl::Milliseconds(30))},
                           options);
  call->Wait();

  MutexLock lock(&recorder.mu);
  ASSERT_FALSE(recorder.progress.empty());
  bool saw_queued_behind_one_running = false;
  size_t completed = 0;
  for (const Progress& p : recorder.progress) {
    EXPECT_EQ(p.total, 4u);
    EXPECT_GE(p.completed, completed);  // never goes back
    completed = p.completed;
    EXPECT_LE(p.running, 1u);  // max_concurrency
    EXPECT_LE(p.completed + p.running + p.queued, p.total);
    if (p.running == 1 && p.queued > 0) saw_queued_behind_one_running = true;
  }
  EXPECT_TRUE(saw_queued_behind_one_running);
  const Progress& last = recorder.progress.back();
  EXPECT_EQ(last.completed, 4u);
  EXPECT_EQ(last.failed, 1u);
  EXPECT_EQ(last.running + last.queued, 0u);
}

TEST_F(GatherCallTest, CancelMidBatchStopsTheServersTasks) {
  Recorder recorder(5);
  GatherOptions options;
  recorder.Attach(options);
  std::vector<Task> tasks;
  for (int i = 0; i < 5; ++i) tasks.push_back(Task::Sleep(absl::Seconds(30)));
  std::unique_ptr<GatherCall> call =
      client_->StartGather(std::move(tasks), options);
  ASSERT_TRUE(WaitUntil([&] { return Inflight() == 5; }));

  const absl::Time start = absl::Now();
  call->Cancel();
  const GatherResult& result = call->Wait();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(result.status.code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(result.status.message(), "cancelled by the caller");
  for (const auto& r : result.results) {
    EXPECT_EQ(r.status().code(), absl::StatusCode::kCancelled);
  }
  EXPECT_TRUE(WaitUntil([&] { return Inflight() == 0; }));

  MutexLock lock(&recorder.mu);
  EXPECT_THAT(recorder.times_seen, ElementsAre(1, 1, 1, 1, 1));
  EXPECT_EQ(recorder.done_calls, 1);
}

TEST_F(GatherCallTest, ASentBatchIsNotHeldWhileItRuns) {
#if defined(__SANITIZE_ADDRESS__) || defined(BATCHEXEC_TSAN)
  GTEST_SKIP() << "mallinfo2 sees not the sanitizer's allocator";
#endif
  // 1000 tasks of 16 KiB: the client's copy is 16 MiB. The in-process
  // server keeps the request's bytes (16 MiB) while the sleeps run; the
  // client must have freed its own copy by then.
  constexpr int kTasks = 1000;
  std::vector<Task> tasks;
  for (int i = 0; i < kTasks; ++i) {
    tasks.push_back(
        Task::Sleep(absl::Seconds(30)).WithPayload(std::string(16 << 10, 'x')));
  }
  const int64_t before = HeapInUseBytes();  // the tasks included
  std::unique_ptr<GatherCall> call = client_->StartGather(std::move(tasks));
  ASSERT_TRUE(WaitUntil([&] { return Inflight() == kTasks; }));
  // Server 16 MiB, client 0: well under 16 + 16. Holding it would never
  // get here.
  EXPECT_TRUE(WaitUntil([&] { return HeapInUseBytes() - before < (8 << 20); },
                        absl::Seconds(10)))
      << "heap grew by " << (HeapInUseBytes() - before) << " bytes";
  call->Cancel();
  EXPECT_EQ(call->Wait().status.code(), absl::StatusCode::kCancelled);
}

TEST_F(GatherCallTest, DestroyingTheHandleCancelsAndWaits) {
  Recorder recorder(2);
  GatherOptions options;
  recorder.Attach(options);
  std::unique_ptr<GatherCall> call = client_->StartGather(
      {Task::Sleep(absl::Seconds(30)), Task::Sleep(absl::Seconds(30))},
      options);
  ASSERT_TRUE(WaitUntil([&] { return Inflight() == 2; }));
  const absl::Time start = absl::Now();
  call.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  {
    // Every callback ran before the destructor returned.
    MutexLock lock(&recorder.mu);
    EXPECT_EQ(recorder.done_calls, 1);
    EXPECT_THAT(recorder.times_seen, ElementsAre(1, 1));
  }
  EXPECT_TRUE(WaitUntil([&] { return Inflight() == 0; }));
}

TEST_F(GatherCallTest, OnDoneMayWaitForAndDestroyTheCall) {
  Signal assigned, destroyed;
  std::unique_ptr<GatherCall> call;
  GatherOptions options;
  size_t results_seen = 0;
  options.on_done = [&](const GatherResult& result) {
    assigned.Wait();
    results_seen = call->Wait().results.size();  // returns at once here
    call.reset();
    destroyed.Notify();
  };
  call = client_->StartGather({Task::Echo({}), Task::Echo({})}, options);
  assigned.Notify();
  ASSERT_TRUE(destroyed.WaitFor(absl::Seconds(5)));
  EXPECT_EQ(results_seen, 2u);
}

TEST_F(GatherCallTest, CallbacksMayCancel) {
  Signal assigned;
  std::unique_ptr<GatherCall> call;
  GatherOptions options;
  options.failure_policy = FailurePolicy::kCollectAll;
  options.on_result = [&](size_t index, const absl::StatusOr<TaskOutput>&) {
    assigned.Wait();
    if (index == 0) call->Cancel();
  };
  call = client_->StartGather({Task::Echo({}), Task::Sleep(absl::Seconds(30))},
                              options);
  assigned.Notify();
  ASSERT_TRUE(call->WaitFor(absl::Seconds(5)));
  const GatherResult& result = call->Wait();
  EXPECT_TRUE(result.results[0].ok());
  EXPECT_EQ(result.results[1].status().code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(WaitUntil([&] { return Inflight() == 0; }));
}

TEST_F(GatherCallTest, TakeResultMovesTheResultOut) {
  std::unique_ptr<GatherCall> call =
      client_->StartGather({Task::Echo({{"x", 1}})});
  GatherResult result = call->TakeResult();
  ASSERT_EQ(result.results.size(), 1u);
  EXPECT_TRUE(result.results[0].ok());
  EXPECT_GE(result.elapsed, absl::ZeroDuration());
}

TEST_F(GatherCallTest, EveryIndexIsReportedOnceInABigMixedBatch) {
  constexpr int kTasks = 3000;
  Recorder recorder(kTasks);
  GatherOptions options;
  options.failure_policy = FailurePolicy::kCollectAll;
  options.max_concurrency = 64;
  recorder.Attach(options);
  std::vector<Task> tasks;
  for (int i = 0; i < kTasks; ++i) {
    if (i % 7 == 0) {
      tasks.push_back(Task::Fail(absl::StatusCode::kUnavailable, "flaky"));
    } else {
      tasks.push_back(Task::Sleep(absl::Milliseconds(i % 5)));
    }
  }
  GatherResult result =
      client_->StartGather(std::move(tasks), options)->TakeResult();
  ASSERT_EQ(result.results.size(), static_cast<size_t>(kTasks));
  size_t failed = 0;
  for (int i = 0; i < kTasks; ++i) {
    EXPECT_EQ(result.results[i].ok(), i % 7 != 0) << i;
    failed += !result.results[i].ok();
  }
  EXPECT_EQ(result.progress.failed, failed);
  EXPECT_EQ(result.status.code(), absl::StatusCode::kUnavailable);
  MutexLock lock(&recorder.mu);
  EXPECT_EQ(recorder.result_order.size(), static_cast<size_t>(kTasks));
  for (int seen : recorder.times_seen) ASSERT_EQ(seen, 1);
}

}  // namespace
}  // namespace batchexec
