// The server-wide limit on running tasks: a counting semaphore that never
// blocks and shares its slots fairly in two levels: round-robin between the
// callers waiting for one, then round-robin between that caller's batches.
// A 1M-task batch and a 3-task batch that arrives after it take turns, and a
// caller with 50 batches open gets no more turns than a caller with one.
//
// A waiting batch costs one ring entry, not one per task: a Client asks for
// slots with Request() and is offered them a few at a time (at most
// `slots_per_turn` times its caller's weight, so turns stay short) through
// OnSlots() until it takes fewer than offered.
#ifndef BATCHEXEC_SERVER_CORE_FAIR_SEMAPHORE_H_
#define BATCHEXEC_SERVER_CORE_FAIR_SEMAPHORE_H_

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/node_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "common/mutex.h"

namespace batchexec {

class FairSemaphore {
 public:
  class Client {
   public:
    virtual ~Client() = default;
    // Offered `offered` slots, outside the semaphore's lock, on the thread
    // that freed or requested them. Returns how many it took (and will
    // Release() later, each exactly once); taking fewer gives the rest back
    // and leaves the queue until the next Request(). The default takes them
    // one at a time through OnSlot().
    virtual int64_t OnSlots(int64_t offered) {
      int64_t taken = 0;
      while (taken < offered && OnSlot()) ++taken;
      return taken;
    }
    // One slot: true if taken. Only called by the default OnSlots.
    virtual bool OnSlot() { return false; }

   protected:
    // The caller this client belongs to (any stable address naming it) and
    // its weight (turns per round, at least 1). Set before the first
    // Request(); clients of no caller share one.
    void SetCaller(const void* caller, int weight) {
      caller_ = caller;
      weight_ = weight < 1 ? 1 : weight;
    }

   private:
    friend class FairSemaphore;
    enum class State { kIdle, kQueued, kOffered };
    const void* caller_ = nullptr;
    int weight_ = 1;
    State state_ = State::kIdle;    // guarded by the semaphore's mu_
    bool requested_again_ = false;  // Request() while being offered a slot
  };

  // Runs a continuation of a long offering loop on another thread.
  using Defer = std::function<void(absl::AnyInvocable<void()>)>;

  // `defer` (optional) takes over after `inline_budget` slots handed out in
  // one loop, so one caller's thread is never held for a whole huge batch.
  FairSemaphore(int64_t limit, Defer defer = nullptr,
                int inline_budget = 1 << 30, int64_t slots_per_turn = 64);

  FairSemaphore(const FairSemaphore&) = delete;
  FairSemaphore& operator=(const FairSemaphore&) = delete;

  // Puts `client` in line for slots (no-op if it already is). Thread-safe;
  // may call OnSlot of any client before returning.
  void Request(std::shared_ptr<Client> client);

  // Frees `n` slots taken through OnSlots. Thread-safe; may call OnSlots.
  void Release(int64_t n = 1);

  // Takes `client` out of line (it ended and wants no more slots), so a
  // finished batch is not kept alive by the ring while the server is full.
  // Thread-safe; no-op if it is not waiting.
  void Withdraw(const Client& client);

  int64_t limit() const { return limit_; }
  int64_t in_use() const;
  size_t waiting_clients() const;
  size_t waiting_callers() const;

 private:
  // A caller's clients in line, and its place in the callers' ring.
  struct Caller {
    std::deque<std::shared_ptr<Client>> clients;
    int weight = 1;
    bool in_ring = false;
    int64_t members = 0;  // clients queued or being offered
  };

  // Puts `client` at the back of its caller's line, and the caller in the
  // ring if it was not.
  void EnqueueLocked(std::shared_ptr<Client> client)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // One client fewer for `caller`; forgets the caller once it has none.
  void LeaveLocked(const void* key) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Offers free slots to queued clients until either runs out. Only one
  // thread offers at a time; others leave a note for it and return.
  void Dispatch();
  void DispatchLoop();

  const int64_t limit_;
  const Defer defer_;
  const int inline_budget_;
  const int64_t slots_per_turn_;

  mutable Mutex mu_;
  int64_t in_use_ ABSL_GUARDED_BY(mu_) = 0;
  // Callers with clients waiting, each once, in turn; node-based so that a
  // Caller stays put while one of its clients is offered slots.
  absl::node_hash_map<const void*, Caller> callers_ ABSL_GUARDED_BY(mu_);
  std::deque<const void*> ring_ ABSL_GUARDED_BY(mu_);
  size_t queued_clients_ ABSL_GUARDED_BY(mu_) = 0;
  bool dispatching_ ABSL_GUARDED_BY(mu_) = false;
  bool dispatch_again_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_FAIR_SEMAPHORE_H_
