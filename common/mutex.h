// The project's locks: absl::Mutex with its happens-before edges made
// visible to ThreadSanitizer, and a one-byte lock (TinyMutex).
//
// Debian's Abseil is not built with -fsanitize=thread, so TSan cannot see the
// synchronization inside absl::Mutex and reports every access it guards as a
// race. Under TSan this wrapper tells TSan "acquire" after each lock and
// "release" before each unlock; otherwise it is absl::Mutex, at no cost.
#ifndef BATCHEXEC_COMMON_MUTEX_H_
#define BATCHEXEC_COMMON_MUTEX_H_

#include <atomic>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

// Set by `--config=tsan` (.bazelrc), which also hides __SANITIZE_THREAD__
// so that protobuf's and Abseil's headers match their uninstrumented
// libraries.
#ifdef BATCHEXEC_TSAN
extern "C" void __tsan_acquire(void* addr);
extern "C" void __tsan_release(void* addr);
#endif

namespace batchexec {

class ABSL_LOCKABLE Mutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    mu_.Lock();
    Acquired();
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    Releasing();
    mu_.Unlock();
  }
  // Takes the lock if it is free; true if it did.
  bool TryLock() ABSL_EXCLUSIVE_TRYLOCK_FUNCTION(true) {
    if (!mu_.TryLock()) return false;
    Acquired();
    return true;
  }
  // Waits (releasing the lock meanwhile) until `condition` holds.
  void Await(const absl::Condition& condition) {
    AnnotatedCondition annotated{this, &condition};
    Releasing();
    mu_.Await(annotated.condition());
    Acquired();
  }
  bool AwaitWithDeadline(const absl::Condition& condition,
                         absl::Time deadline) {
    AnnotatedCondition annotated{this, &condition};
    Releasing();
    bool met = mu_.AwaitWithDeadline(annotated.condition(), deadline);
    Acquired();
    return met;
  }
  bool AwaitWithTimeout(const absl::Condition& condition,
                        absl::Duration timeout) {
    return AwaitWithDeadline(condition, absl::Now() + timeout);
  }
  void AssertHeld() const ABSL_ASSERT_EXCLUSIVE_LOCK() { mu_.AssertHeld(); }

 private:
#ifdef BATCHEXEC_TSAN
  void Acquired() { __tsan_acquire(this); }
  void Releasing() { __tsan_release(this); }
  // absl evaluates a waiter's condition under the lock, possibly on the
  // thread that unlocks: annotate each evaluation as a critical section.
  struct AnnotatedCondition {
    Mutex* mu;
    const absl::Condition* inner;
    bool operator()() const {
      mu->Acquired();
      const bool met = inner->Eval();
      mu->Releasing();
      return met;
    }
    absl::Condition condition() const { return absl::Condition(this); }
  };
#else
  void Acquired() {}
  void Releasing() {}
  struct AnnotatedCondition {
    Mutex* mu;
    const absl::Condition* inner;
    const absl::Condition& condition() const { return *inner; }
  };
#endif
  absl::Mutex mu_;
};

class ABSL_SCOPED_LOCKABLE MutexLock {
 public:
  explicit MutexLock(Mutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu) : mu_(mu) {
    mu_->Lock();
  }
  ~MutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  MutexLock(const MutexLock&) = delete;
  MutexLock& operator=(const MutexLock&) = delete;

 private:
  Mutex* const mu_;
};

// A one-byte lock, annotated for clang's -Wthread-safety, for locks that
// exist by the hundred thousand (one per running task) and are held for a
// few instructions: a std::mutex is 40 bytes, and Debian's Abseil Mutex has
// deadlock detection on, whose global graph slows every lock as live
// mutexes multiply. A waiter yields its core; TSan sees the atomics.
class ABSL_LOCKABLE TinyMutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() {
    while (locked_.exchange(true, std::memory_order_acquire)) {
      while (locked_.load(std::memory_order_relaxed)) std::this_thread::yield();
    }
  }
  void Unlock() ABSL_UNLOCK_FUNCTION() {
    locked_.store(false, std::memory_order_release);
  }

 private:
  std::atomic<bool> locked_{false};
};

class ABSL_SCOPED_LOCKABLE TinyMutexLock {
 public:
  explicit TinyMutexLock(TinyMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_->Lock();
  }
  ~TinyMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  TinyMutexLock(const TinyMutexLock&) = delete;
  TinyMutexLock& operator=(const TinyMutexLock&) = delete;

 private:
  TinyMutex* const mu_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_MUTEX_H_
