// One thread serving every timer of the server: sleeps, per-task timeouts,
// call deadlines. A pending timer costs a heap entry and its closure, never a
// thread, so 100k sleeping tasks cost memory only.
#ifndef BATCHEXEC_SERVER_TIMER_QUEUE_H_
#define BATCHEXEC_SERVER_TIMER_QUEUE_H_

#include <cstdint>
#include <queue>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace batchexec {

class TimerQueue {
 public:
  using TimerId = uint64_t;

  TimerQueue();
  // Stops the thread; timers still pending are destroyed without running.
  ~TimerQueue();

  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  // Runs `fn` on the timer thread at or after `when`. Thread-safe. `fn` must
  // not block: it delays every other timer.
  TimerId Schedule(absl::Time when, absl::AnyInvocable<void()> fn);

  // Removes a pending timer. Returns true if it will not run; false if it
  // already ran, is running now, or was never scheduled.
  bool Cancel(TimerId id);

  // Timers scheduled and not yet run or cancelled.
  size_t pending() const;

 private:
  struct Entry {
    absl::Time when;
    TimerId id;
    bool operator>(const Entry& other) const {
      return when != other.when ? when > other.when : id > other.id;
    }
  };

  void Run();
  // Drops heap entries of cancelled timers once they outnumber live ones.
  void CompactLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  std::priority_queue<Entry, std::vector<Entry>, std::greater<Entry>> heap_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<TimerId, absl::AnyInvocable<void()>> callbacks_
      ABSL_GUARDED_BY(mu_);
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TIMER_QUEUE_H_
