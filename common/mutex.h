// The project's locks: absl::Mutex with its happens-before edges made
// visible to ThreadSanitizer, and an annotated std::mutex (PlainMutex).
//
// Debian's Abseil is not built with -fsanitize=thread, so TSan cannot see the
// synchronization inside absl::Mutex and reports every access it guards as a
// race. Under TSan this wrapper tells TSan "acquire" after each lock and
// "release" before each unlock; otherwise it is absl::Mutex, at no cost.
#ifndef BATCHEXEC_COMMON_MUTEX_H_
#define BATCHEXEC_COMMON_MUTEX_H_

#include <mutex>

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

// std::mutex with the annotations clang's -Wthread-safety checks, for locks
// that exist by the hundred thousand (one per running task): Debian's
// Abseil has Mutex deadlock detection on, whose global graph slows every
// lock as live mutexes multiply. TSan sees it natively (pthread).
class ABSL_LOCKABLE PlainMutex {
 public:
  void Lock() ABSL_EXCLUSIVE_LOCK_FUNCTION() { mu_.lock(); }
  void Unlock() ABSL_UNLOCK_FUNCTION() { mu_.unlock(); }

 private:
  std::mutex mu_;
};

class ABSL_SCOPED_LOCKABLE PlainMutexLock {
 public:
  explicit PlainMutexLock(PlainMutex* mu) ABSL_EXCLUSIVE_LOCK_FUNCTION(mu)
      : mu_(mu) {
    mu_->Lock();
  }
  ~PlainMutexLock() ABSL_UNLOCK_FUNCTION() { mu_->Unlock(); }
  PlainMutexLock(const PlainMutexLock&) = delete;
  PlainMutexLock& operator=(const PlainMutexLock&) = delete;

 private:
  PlainMutex* const mu_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_MUTEX_H_
