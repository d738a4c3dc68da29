#include "server/core/task_context.h"

#include <atomic>
#include <memory>
#include <thread>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace batchexec {

// Holds a task's internal lock, to stall Cancel and OnCancel at it.
class TaskContextTestPeer {
 public:
  static TinyMutex& mu(TaskContext& task) { return task.mu_; }
};

namespace {

class CountingOwner : public TaskContext::Owner {
 public:
  void OnTaskEnded(TaskContext&, absl::StatusOr<HandlerOutput>) override {
    ended.fetch_add(1);
  }
  std::atomic<int> ended{0};
};

class TaskContextTest : public ::testing::Test {
 protected:
  std::shared_ptr<TaskContext> NewTask() {
    return std::make_shared<TaskContext>(owner_, 0, spec_,
                                         absl::InfiniteFuture(), env_);
  }

  std::shared_ptr<CountingOwner> owner_ = std::make_shared<CountingOwner>();
  v1::Task spec_;
  TimerQueue timers_;
  WorkerPool pool_{1};
  TaskEnvironment env_{timers_, pool_};
};

TEST_F(TaskContextTest, CancelRunsACallbackRegisteredBefore) {
  auto task = NewTask();
  bool ran = false;
  task->OnCancel([&] { ran = true; });
  EXPECT_TRUE(task->Cancel(absl::CancelledError("stop")));
  EXPECT_TRUE(ran);
  EXPECT_EQ(owner_->ended.load(), 1);
}

TEST_F(TaskContextTest, OnCancelAfterCancelRunsAtOnce) {
  auto task = NewTask();
  EXPECT_TRUE(task->Cancel(absl::CancelledError("stop")));
  bool ran = false;
  task->OnCancel([&] { ran = true; });
  EXPECT_TRUE(ran);
}

TEST_F(TaskContextTest, OnCancelAfterFinishIsDropped) {
  auto task = NewTask();
  task->Finish(HandlerOutput{});
  bool ran = false;
  task->OnCancel([&] { ran = true; });
  EXPECT_FALSE(task->Cancel(absl::CancelledError("stop")));
  EXPECT_FALSE(ran);
  EXPECT_EQ(owner_->ended.load(), 1);
}

// A handler registering its cancel callback while Cancel is under way must
// see the callback run: dropped, it would leave e.g. a sleep's timer (and the
// batch it holds) pending for up to a day. Both calls are stalled at the
// task's lock, OnCancel first, so that OnCancel gets the lock first.
TEST_F(TaskContextTest, OnCancelRacingCancelStillRuns) {
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    auto task = NewTask();
    std::atomic<bool> ran{false};
    std::atomic<bool> cancelled{false};
    TinyMutex& mu = TaskContextTestPeer::mu(*task);
    mu.Lock();
    std::thread registerer([&] { task->OnCancel([&] { ran.store(true); }); });
    absl::SleepFor(absl::Milliseconds(5));  // let it block on the lock
    std::thread canceller(
        [&] { cancelled.store(task->Cancel(absl::CancelledError("stop"))); });
    absl::SleepFor(absl::Milliseconds(5));  // let Cancel get as far as it can
    mu.Unlock();
    registerer.join();
    canceller.join();
    ASSERT_TRUE(cancelled.load());
    ASSERT_TRUE(ran.load()) << "the cancel callback was dropped";
  }
}

}  // namespace
}  // namespace batchexec
