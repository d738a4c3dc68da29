#include "server/timer_queue.h"

#ifdef __linux__
#include <pthread.h>
#include <sys/prctl.h>
#endif

namespace batchexec {

TimerQueue::TimerQueue() : thread_([this] { Run(); }) {}

TimerQueue::~TimerQueue() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
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
  MutexLock lock(&mu_);
  TimerId id = next_id_++;
  callbacks_.emplace(id, std::move(fn));
  heap_.push(Entry{when, id});
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
  MutexLock lock(&mu_);
  while (!stopping_) {
    absl::Time now = absl::Now();
    while (!heap_.empty() && heap_.top().when <= now) {
      auto it = callbacks_.find(heap_.top().id);
      heap_.pop();
      if (it == callbacks_.end()) continue;  // cancelled
      due.push_back(std::move(it->second));
      callbacks_.erase(it);
    }
    if (!due.empty()) {
      mu_.Unlock();
      for (auto& fn : due) fn();
      due.clear();  // destroy closures outside the lock too
      mu_.Lock();
      continue;
    }
    absl::Time wake = heap_.empty() ? absl::InfiniteFuture() : heap_.top().when;
    // Wakes early when a sooner timer is scheduled or on shutdown.
    absl::Time first = wake;
    auto changed = [this, first] {
      return stopping_ || (!heap_.empty() && heap_.top().when < first);
    };
    mu_.AwaitWithDeadline(absl::Condition(&changed), wake);
  }
}

}  // namespace batchexec
