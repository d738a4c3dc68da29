#include "server/timer_queue.h"

#include <atomic>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

TEST(TimerQueue, RunsTimersInDeadlineOrder) {
  TimerQueue timers;
  Mutex mu;
  std::vector<int> order;
  absl::Notification done;
  const absl::Time now = absl::Now();
  for (int i : {3, 1, 2}) {
    timers.Schedule(now + absl::Milliseconds(20 * i), [&, i] {
      MutexLock lock(&mu);
      order.push_back(i);
      if (order.size() == 3) done.Notify();
    });
  }
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  MutexLock lock(&mu);
  EXPECT_EQ(order, (std::vector<int>{1, 2, 3}));
}

TEST(TimerQueue, CancelledTimerNeverRuns) {
  TimerQueue timers;
  std::atomic<bool> ran{false};
  auto id = timers.Schedule(absl::Now() + absl::Milliseconds(50),
                            [&] { ran = true; });
  EXPECT_TRUE(timers.Cancel(id));
  EXPECT_FALSE(timers.Cancel(id));
  absl::SleepFor(absl::Milliseconds(100));
  EXPECT_FALSE(ran.load());
  EXPECT_EQ(timers.pending(), 0u);
}

TEST(TimerQueue, EarlierTimerScheduledLaterWakesTheThread) {
  TimerQueue timers;
  absl::Notification fired;
  timers.Schedule(absl::Now() + absl::Hours(1), [] {});
  const absl::Time start = absl::Now();
  timers.Schedule(absl::Now() + absl::Milliseconds(10),
                  [&] { fired.Notify(); });
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST(TimerQueue, HundredThousandTimersOnOneThread) {
  TimerQueue timers;
  std::atomic<int> count{0};
  absl::Notification done;
  const absl::Time when = absl::Now() + absl::Milliseconds(100);
  constexpr int kTimers = 100'000;
  for (int i = 0; i < kTimers; ++i) {
    timers.Schedule(when, [&] {
      if (count.fetch_add(1) + 1 == kTimers) done.Notify();
    });
  }
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(60)));
  EXPECT_EQ(count.load(), kTimers);
}

TEST(TimerQueue, DestructionDropsPendingTimers) {
  std::atomic<bool> ran{false};
  {
    TimerQueue timers;
    timers.Schedule(absl::Now() + absl::Hours(1), [&] { ran = true; });
  }
  EXPECT_FALSE(ran.load());
}

}  // namespace
}  // namespace batchexec
