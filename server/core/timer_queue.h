// One thread serving every timer of the server: sleeps, per-task timeouts,
// call deadlines. A pending timer costs a heap entry and its closure, never a
// thread, so 100k sleeping tasks cost memory only.
//
// Timers wait on the monotonic clock: a wall-clock step (NTP, an operator)
// moves no sleep, timeout or deadline already scheduled.
#ifndef BATCHEXEC_SERVER_CORE_TIMER_QUEUE_H_
#define BATCHEXEC_SERVER_CORE_TIMER_QUEUE_H_

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace batchexec {

class TimerQueue {
 public:
  using TimerId = uint64_t;
  // Reads the wall clock, to place absolute deadlines; tests pass one that
  // jumps.
  using WallClock = std::function<absl::Time()>;

  TimerQueue();  // absl::Now
  explicit TimerQueue(WallClock wall_clock);
  // Stops the thread; timers still pending are destroyed without running.
  ~TimerQueue();

  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Runs `fn` on the timer thread once `when - now` has passed, `now` being
  // the wall clock at this call: the deadline is placed on the monotonic
  // clock once, here. For waits of a given length prefer ScheduleAfter.
  // Thread-safe. `fn` must not block: it delays every other timer.
  TimerId Schedule(absl::Time when, absl::AnyInvocable<void()> fn);
  // Runs `fn` on the timer thread after `delay` (monotonic). Thread-safe.
  TimerId ScheduleAfter(absl::Duration delay, absl::AnyInvocable<void()> fn);

  // Removes a pending timer. Returns true if it will not run; false if it
  // already ran, is running now, or was never scheduled.
  bool Cancel(TimerId id);

  // Timers scheduled and not yet run or cancelled.
  size_t pending() const;

  // The longest any one callback held the timer thread so far: every other
  // timer of the server was late by that much (a health figure, and what
  // tests check to keep heavy work off this thread).
  absl::Duration longest_callback() const {
    return absl::Nanoseconds(longest_callback_ns_.load());
  }
  // Starts longest_callback() over (tests measuring one stretch of work).
  void ResetLongestCallback() { longest_callback_ns_.store(0); }

 private:
  using SteadyTime = std::chrono::steady_clock::time_point;

  // A heap entry names its timer by slot and generation; `seq` keeps
  // timers of one deadline in the order they were scheduled.
  struct Entry {
    SteadyTime when;
    uint64_t seq;
    TimerId id;
    bool operator>(const Entry& other) const {
      return when != other.when ? when > other.when : seq > other.seq;
    }
  };
  // A timer's closure lives in a slot reused once it ran or was cancelled;
  // the generation (1 and up, so that no id is 0) tells a stale id or heap
  // entry from the slot's new timer. A deque: growing it moves no closure.
  struct Slot {
    absl::AnyInvocable<void()> fn;  // empty while the slot is free
    uint32_t generation = 1;
  };

  TimerId ScheduleAt(SteadyTime when, absl::AnyInvocable<void()> fn);
  void Run();
  // The slot of a pending timer `id`, or nullptr if it ran or was cancelled.
  Slot* LiveSlotLocked(TimerId id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Takes a pending timer's closure and frees its slot.
  absl::AnyInvocable<void()> TakeLocked(TimerId id, Slot& slot)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Drops heap entries of cancelled timers once they outnumber live ones.
  void CompactLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const WallClock wall_clock_;
  mutable Mutex mu_;
  // Wakes the thread when the first timer gets earlier, or on shutdown. A
  // condition variable, not Mutex::AwaitWithDeadline: Abseil's waits run on
  // the wall clock, and a backward step would stretch a wait already begun.
  std::condition_variable_any wake_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_
      ABSL_GUARDED_BY(mu_);
  std::deque<Slot> slots_ ABSL_GUARDED_BY(mu_);
  std::vector<uint32_t> free_slots_ ABSL_GUARDED_BY(mu_);
  size_t pending_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t next_seq_ ABSL_GUARDED_BY(mu_) = 0;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<int64_t> longest_callback_ns_{0};  // written by the thread only
  std::thread thread_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_TIMER_QUEUE_H_
