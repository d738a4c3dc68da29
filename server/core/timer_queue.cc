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

// A timer id: the slot's generation above its index, so that 0 is never an
// id (generations start at 1).
uint64_t MakeId(uint32_t slot, uint32_t generation) {
  return (static_cast<uint64_t>(generation) << 32) | slot;
}
uint32_t SlotOf(uint64_t id) { return static_cast<uint32_t>(id); }
uint32_t GenerationOf(uint64_t id) { return static_cast<uint32_t>(id >> 32); }

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
  std::deque<Slot> leftover;
  {
    MutexLock lock(&mu_);
    leftover.swap(slots_);
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
    uint32_t index;
    if (!free_slots_.empty()) {
      index = free_slots_.back();
      free_slots_.pop_back();
    } else {
      index = static_cast<uint32_t>(slots_.size());
      slots_.emplace_back();
    }
    Slot& slot = slots_[index];
    slot.fn = std::move(fn);
    id = MakeId(index, slot.generation);
    ++pending_;
    heap_.push(Entry{when, next_seq_++, id});
    first = heap_.top().id == id;
  }
  // Safe after unlocking: the thread releases mu_ only once it waits.
  if (first) wake_.notify_one();
  return id;
}

TimerQueue::Slot* TimerQueue::LiveSlotLocked(TimerId id) {
  const uint32_t index = SlotOf(id);
  if (index >= slots_.size()) return nullptr;
  Slot& slot = slots_[index];
  return slot.generation == GenerationOf(id) && slot.fn != nullptr ? &slot
                                                                   : nullptr;
}

absl::AnyInvocable<void()> TimerQueue::TakeLocked(TimerId id, Slot& slot) {
  absl::AnyInvocable<void()> fn = std::move(slot.fn);
  slot.fn = nullptr;
  --pending_;
  // A generation is never used twice: a slot whose generations ran out
  // (4 billion timers) is retired, 40 bytes, so that no stale id or heap
  // entry can ever name a later timer.
  if (++slot.generation != 0) free_slots_.push_back(SlotOf(id));
  return fn;
}

bool TimerQueue::Cancel(TimerId id) {
  absl::AnyInvocable<void()> dropped;  // destroyed after the lock is released
  MutexLock lock(&mu_);
  Slot* slot = LiveSlotLocked(id);
  if (slot == nullptr) return false;
  dropped = TakeLocked(id, *slot);
  if (heap_.size() > 1024 && heap_.size() > 2 * pending_) CompactLocked();
  return true;
}

size_t TimerQueue::pending() const {
  MutexLock lock(&mu_);
  return pending_;
}

void TimerQueue::CompactLocked() {
  std::vector<Entry> live;
  live.reserve(pending_);
  while (!heap_.empty()) {
    if (LiveSlotLocked(heap_.top().id) != nullptr) live.push_back(heap_.top());
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
      const TimerId id = heap_.top().id;
      heap_.pop();
      Slot* slot = LiveSlotLocked(id);
      if (slot == nullptr) continue;  // cancelled
      due.push_back(TakeLocked(id, *slot));
    }
    if (!due.empty()) {
      mu_.Unlock();
      // One clock read per callback: each one's end is the next one's start.
      SteadyTime start = SteadyClock::now();
      for (auto& fn : due) {
        fn();
        const SteadyTime end = SteadyClock::now();
        const int64_t took =
            std::chrono::duration_cast<std::chrono::nanoseconds>(end - start)
                .count();
        start = end;
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
