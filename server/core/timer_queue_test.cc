#include "server/core/timer_queue.h"

#include <algorithm>
#include <atomic>
#include <chrono>
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

// Deadlines that mostly grow (a batch of equal sleeps, started in turn)
// with earlier ones mixed in: they run in deadline order.
TEST(TimerQueue, MixedOrderDeadlinesRunInOrder) {
  TimerQueue timers;
  Mutex mu;
  std::vector<int> order;
  absl::Notification done;
  // Deadline offsets in 0.1 ms, all different (each Schedule places its
  // deadline on the monotonic clock with a fresh clock read).
  std::vector<int> offsets;
  for (int i = 0; i < 300; ++i) {
    // Every tenth is earlier than the last one: the heap. Odd, so unique.
    offsets.push_back(i % 10 == 3 ? 2 * (i / 2) + 1 : 2 * i);
  }
  const absl::Time base = absl::Now() + absl::Milliseconds(50);
  for (int i = 0; i < static_cast<int>(offsets.size()); ++i) {
    timers.Schedule(base + absl::Microseconds(100 * offsets[i]), [&, i] {
      MutexLock lock(&mu);
      order.push_back(i);
      if (order.size() == offsets.size()) done.Notify();
    });
  }
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  std::vector<int> expected(offsets.size());
  for (int i = 0; i < static_cast<int>(expected.size()); ++i) expected[i] = i;
  std::sort(expected.begin(), expected.end(),
            [&](int a, int b) { return offsets[a] < offsets[b]; });
  MutexLock lock(&mu);
  EXPECT_EQ(order, expected);
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

// A wall clock that the test can step, as NTP or an operator would.
class SteppableClock {
 public:
  absl::Time Now() const {
    return absl::Now() + absl::Nanoseconds(offset_ns_.load());
  }
  void Step(absl::Duration by) {
    offset_ns_.fetch_add(absl::ToInt64Nanoseconds(by));
  }
  TimerQueue::WallClock AsWallClock() {
    return [this] { return Now(); };
  }

 private:
  std::atomic<int64_t> offset_ns_{0};
};

// Schedules a 50 ms timer, steps the wall clock by `step`, wakes the timer
// thread, and returns how long the timer took to fire (or a minute if it
// did not within 10 s). `absolute` schedules it by wall-clock deadline.
absl::Duration FiftyMsTimerAcrossAClockStep(absl::Duration step,
                                            bool absolute) {
  SteppableClock clock;
  TimerQueue timers(clock.AsWallClock());
  absl::Notification fired;
  std::atomic<int64_t> took_ns{0};
  const auto start = std::chrono::steady_clock::now();
  auto fn = [&] {
    took_ns = std::chrono::nanoseconds(std::chrono::steady_clock::now() - start)
                  .count();
    fired.Notify();
  };
  if (absolute) {
    timers.Schedule(clock.Now() + absl::Milliseconds(50), fn);
  } else {
    timers.ScheduleAfter(absl::Milliseconds(50), fn);
  }
  clock.Step(step);
  // A timer due now makes the timer thread look at the clock again.
  timers.ScheduleAfter(absl::ZeroDuration(), [] {});
  if (!fired.WaitForNotificationWithTimeout(absl::Seconds(10))) {
    return absl::Minutes(1);
  }
  return absl::Nanoseconds(took_ns.load());
}

TEST(TimerQueue, RelativeTimerIgnoresTheWallClockJumpingForward) {
  const absl::Duration took =
      FiftyMsTimerAcrossAClockStep(absl::Hours(1), /*absolute=*/false);
  EXPECT_GE(took, absl::Milliseconds(50)) << "fired early";
  EXPECT_LT(took, absl::Seconds(10)) << "never fired";
}

TEST(TimerQueue, RelativeTimerIgnoresTheWallClockJumpingBack) {
  const absl::Duration took =
      FiftyMsTimerAcrossAClockStep(-absl::Hours(1), /*absolute=*/false);
  EXPECT_GE(took, absl::Milliseconds(50)) << "fired early";
  EXPECT_LT(took, absl::Seconds(10)) << "never fired";
}

TEST(TimerQueue, AbsoluteDeadlineIsPlacedOnceWhenScheduled) {
  for (absl::Duration step : {absl::Hours(1), -absl::Hours(1)}) {
    SCOPED_TRACE(absl::FormatDuration(step));
    const absl::Duration took =
        FiftyMsTimerAcrossAClockStep(step, /*absolute=*/true);
    // Placed against the wall clock of Schedule's time, less what passed.
    EXPECT_GE(took, absl::Milliseconds(40)) << "fired early";
    EXPECT_LT(took, absl::Seconds(10)) << "never fired";
  }
}

TEST(TimerQueue, ScheduleAfterZeroRunsAtOnce) {
  TimerQueue timers;
  absl::Notification fired;
  timers.ScheduleAfter(absl::ZeroDuration(), [&] { fired.Notify(); });
  EXPECT_TRUE(fired.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

// Slots are reused: an id that ran or was cancelled must never reach the
// timer now in its slot.
TEST(TimerQueue, AStaleIdDoesNotCancelTheTimerReusingItsSlot) {
  TimerQueue timers;
  const absl::Time far = absl::Now() + absl::Hours(1);
  const TimerQueue::TimerId first = timers.Schedule(far, [] {});
  ASSERT_TRUE(timers.Cancel(first));
  absl::Notification fired;
  const TimerQueue::TimerId second =
      timers.ScheduleAfter(absl::Milliseconds(20), [&] { fired.Notify(); });
  EXPECT_NE(second, first);
  EXPECT_NE(second, 0u);
  EXPECT_FALSE(timers.Cancel(first));
  EXPECT_EQ(timers.pending(), 1u);
  ASSERT_TRUE(fired.WaitForNotificationWithTimeout(absl::Seconds(10)));
  // It ran: its id is stale too, and the slot serves a third timer.
  EXPECT_FALSE(timers.Cancel(second));
  const TimerQueue::TimerId third = timers.Schedule(far, [] {});
  EXPECT_FALSE(timers.Cancel(second));
  EXPECT_TRUE(timers.Cancel(third));
  EXPECT_EQ(timers.pending(), 0u);
}

// Thousands of timers cancelled and scheduled again, out of order: each
// live one runs once, no cancelled one runs (slots and the heap's
// compaction stay in step).
TEST(TimerQueue, ReusedSlotsRunEachLiveTimerOnce) {
  TimerQueue timers;
  constexpr int kTimers = 5000;
  std::vector<std::atomic<int>> runs(2 * kTimers);
  std::vector<TimerQueue::TimerId> ids(kTimers);
  const absl::Time far = absl::Now() + absl::Hours(1);
  for (int i = 0; i < kTimers; ++i) {
    ids[i] = timers.Schedule(far, [&runs, i] { runs[i].fetch_add(1); });
  }
  // Three in four: enough for the heap to drop their entries on the way.
  for (int i = kTimers - 1; i >= 0; --i) {
    if (i % 4 != 0) {
      ASSERT_TRUE(timers.Cancel(ids[i]));
    }
  }
  std::atomic<int> left{kTimers};
  absl::Notification done;
  for (int i = kTimers; i < 2 * kTimers; ++i) {
    timers.ScheduleAfter(absl::Milliseconds(i % 7), [&, i] {
      runs[i].fetch_add(1);
      if (left.fetch_sub(1) == 1) done.Notify();
    });
  }
  ASSERT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(30)));
  EXPECT_EQ(timers.pending(), static_cast<size_t>(kTimers / 4));
  for (int i = 0; i < 2 * kTimers; ++i) {
    EXPECT_EQ(runs[i].load(), i >= kTimers ? 1 : 0) << "timer " << i;
  }
}

}  // namespace
}  // namespace batchexec
