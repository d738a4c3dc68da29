#include "server/core/task_context.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

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
  std::shared_ptr<SocketBudget> budget_ = std::make_shared<SocketBudget>(4);
  SocketBudget& sockets_ = *budget_;
  TaskEnvironment env_{timers_, pool_, sockets_};
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

TEST_F(TaskContextTest, WithSocketRunsAtOnceWhileASocketIsFree) {
  auto task = NewTask();
  SocketBudget::Lease held;
  TaskContext::WithSocket(
      task, [&](SocketBudget::Lease lease) { held = std::move(lease); });
  EXPECT_TRUE(held.held());
  EXPECT_EQ(sockets_.in_use(), 1);
  held.Release();
  EXPECT_EQ(sockets_.in_use(), 0);
}

TEST_F(TaskContextTest, ATaskCancelledWhileWaitingForASocketNeverGetsOne) {
  std::vector<SocketBudget::Lease> full;
  for (int i = 0; i < 4; ++i) {
    TaskContext::WithSocket(NewTask(), [&](SocketBudget::Lease lease) {
      full.push_back(std::move(lease));
    });
  }
  ASSERT_EQ(sockets_.in_use(), 4);
  auto waiting = NewTask();
  auto after = NewTask();
  bool waiting_ran = false;
  SocketBudget::Lease after_lease;
  TaskContext::WithSocket(waiting,
                          [&](SocketBudget::Lease) { waiting_ran = true; });
  TaskContext::WithSocket(after, [&](SocketBudget::Lease lease) {
    after_lease = std::move(lease);
  });
  EXPECT_EQ(sockets_.waiting(), 2);
  EXPECT_TRUE(waiting->Cancel(absl::DeadlineExceededError("timeout")));
  EXPECT_EQ(sockets_.waiting(), 1);
  full.pop_back();  // frees one: the task behind gets it, not the cancelled
  EXPECT_FALSE(waiting_ran);
  EXPECT_TRUE(after_lease.held());
  EXPECT_EQ(sockets_.waiting(), 0);
  full.clear();
  after_lease.Release();
  EXPECT_EQ(sockets_.in_use(), 0);
}

TEST_F(TaskContextTest, WithSocketOnAnEndedTaskDoesNothing) {
  auto task = NewTask();
  task->Cancel(absl::CancelledError("gone"));
  bool ran = false;
  TaskContext::WithSocket(task, [&](SocketBudget::Lease) { ran = true; });
  EXPECT_FALSE(ran);
  EXPECT_EQ(sockets_.in_use(), 0);
  EXPECT_EQ(sockets_.waiting(), 0);
}

}  // namespace
}  // namespace batchexec
