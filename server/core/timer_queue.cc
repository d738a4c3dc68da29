#include "server/core/timer_queue.h"

#ifdef __linux__
#include <pthread.h>
#include <sys/prctl.h>
#endif

namespace batchexec {
namespace {

using SteadyClock = std::chrono::steady_clock;

// Farther than this counts as never; also keeps now + delay from overflowing.
constexpr absl::Duration kNever = absl::Hours(24 * 365 * 100);

SteadyClock::time_point SteadyAfter(absl::Duration delay) {
  const SteadyClock::time_point now = SteadyClock::now();
  if (delay <= absl::ZeroDuration()) return now;
  if (delay >= kNever) return SteadyClock::time_point::max();
  return now + std::chrono::duration_cast<SteadyClock::duration>(
                   absl::ToChronoNanoseconds(delay));
}

// Lets std::condition_variable_any release and retake our Mutex.
struct LockableMutex {
  Mutex* mu;
  void lock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu->Lock(); }
  void unlock() ABSL_NO_THREAD_SAFETY_ANALYSIS { mu->Unlock(); }
};

}  // namespace

TimerQueue::TimerQueue() : TimerQueue([] { return absl::Now(); }) {}

TimerQueue::TimerQueue(WallClock wall_clock)
    : wall_clock_(std::move(wall_clock)), thread_([this] { Run(); }) {}

TimerQueue::~TimerQueue() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  wake_.notify_all();
  thread_.join();
  // Closures may own task state whose destructors schedule or cancel timers;
  // destroy them outside the lock.
  absl::flat_hash_map<TimerId, absl::AnyInvocable<void()>> leftover;
  {
    MutexLock lock(&mu_);
    leftover.swap(callbacks_);
  }
}

TimerQueue::TimerId TimerQueue::Schedule(absl::Time when,
                                         absl::AnyInvocable<void()> fn) {
  return ScheduleAt(SteadyAfter(when - wall_clock_()), std::move(fn));
}

TimerQueue::TimerId TimerQueue::ScheduleAfter(absl::Duration delay,
                                              absl::AnyInvocable<void()> fn) {
  return ScheduleAt(SteadyAfter(delay), std::move(fn));
}

TimerQueue::TimerId TimerQueue::ScheduleAt(SteadyTime when,
                                           absl::AnyInvocable<void()> fn) {
  TimerId id;
  bool first;
  {
    MutexLock lock(&mu_);
    id = next_id_++;
    callbacks_.emplace(id, std::move(fn));
    heap_.push(Entry{when, id});
    first = heap_.top().id == id;
  }
  // Safe after unlocking: the thread releases mu_ only once it waits.
  if (first) wake_.notify_one();
  return id;
}

bool TimerQueue::Cancel(TimerId id) {
  absl::AnyInvocable<void()> dropped;  // destroyed after the lock is released
  MutexLock lock(&mu_);
  auto it = callbacks_.find(id);
  if (it == callbacks_.end()) return false;
  dropped = std::move(it->second);
  callbacks_.erase(it);
  if (heap_.size() > 1024 && heap_.size() > 2 * callbacks_.size()) {
    CompactLocked();
  }
  return true;
}

size_t TimerQueue::pending() const {
  MutexLock lock(&mu_);
  return callbacks_.size();
}

void TimerQueue::CompactLocked() {
  std::vector<Entry> live;
  live.reserve(callbacks_.size());
  while (!heap_.empty()) {
    if (callbacks_.contains(heap_.top().id)) live.push_back(heap_.top());
    heap_.pop();
  }
  heap_ = decltype(heap_)(std::greater<Entry>(), std::move(live));
}

void TimerQueue::Run() {
#ifdef __linux__
  // Wake on time: Linux's default 50 µs timer slack would make timers late
  // by up to that much, on every wave of a bounded batch.
  prctl(PR_SET_TIMERSLACK, 1UL, 0UL, 0UL, 0UL);
  pthread_setname_np(pthread_self(), "batchexec-timer");  // for top/perf
#endif
  std::vector<absl::AnyInvocable<void()>> due;
  LockableMutex lockable{&mu_};
  MutexLock lock(&mu_);
  while (!stopping_) {
    const SteadyTime now = SteadyClock::now();
    while (!heap_.empty() && heap_.top().when <= now) {
      auto it = callbacks_.find(heap_.top().id);
      heap_.pop();
      if (it == callbacks_.end()) continue;  // cancelled
      due.push_back(std::move(it->second));
      callbacks_.erase(it);
    }
    if (!due.empty()) {
      mu_.Unlock();
      for (auto& fn : due) {
        const SteadyTime start = std::chrono::steady_clock::now();
        fn();
        const int64_t took =
            std::chrono::duration_cast<std::chrono::nanoseconds>(
                std::chrono::steady_clock::now() - start)
                .count();
        if (took > longest_callback_ns_.load(std::memory_order_relaxed)) {
          longest_callback_ns_.store(took, std::memory_order_relaxed);
        }
      }
      due.clear();  // destroy closures outside the lock too
      mu_.Lock();
      continue;
    }
    // Woken early (or spuriously) the loop just looks again.
    if (heap_.empty() || heap_.top().when == SteadyTime::max()) {
      wake_.wait(lockable);
    } else {
      // A copy: wait_until reads its deadline after unlocking, when another
      // thread's Schedule may have moved the heap's storage.
      const SteadyTime first = heap_.top().when;
      wake_.wait_until(lockable, first);
    }
  }
}

}  // namespace batchexec
