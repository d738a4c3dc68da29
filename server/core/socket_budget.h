// The sockets network kinds may hold at once (--max_open_sockets), so that a
// batch of thousands of connections cannot take the descriptors gRPC's
// listener needs. A task that finds none free waits, without failing, in a
// queue shared fairly like task slots (it runs on a FairSemaphore): round
// robin between callers, then between a caller's batches, then first come
// first served within a batch. A waiting task holds no descriptor and no
// thread, and leaves the queue when it is cancelled.
//
// A granted socket is a Lease: it is given back, exactly once, when the
// Lease is destroyed or Release()d, which its holder does once the socket
// is closed.
#ifndef BATCHEXEC_SERVER_CORE_SOCKET_BUDGET_H_
#define BATCHEXEC_SERVER_CORE_SOCKET_BUDGET_H_

#include <cstdint>
#include <deque>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "common/mutex.h"
#include "server/core/fair_semaphore.h"

namespace batchexec {

class SocketBudget : public std::enable_shared_from_this<SocketBudget> {
 private:
  class Line;  // below

 public:
  // One socket held. Move-only; empty once moved from or released.
  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& other) noexcept : budget_(std::move(other.budget_)) {}
    Lease& operator=(Lease&& other) noexcept {
      if (this != &other) {
        Release();
        budget_ = std::move(other.budget_);
      }
      return *this;
    }
    ~Lease() { Release(); }
    // Gives the socket back (a no-op if empty). Another waiter may be
    // granted one on this thread before it returns, so call it with no lock
    // held.
    void Release();
    bool held() const { return budget_ != nullptr; }

   private:
    friend class SocketBudget;
    explicit Lease(std::shared_ptr<SocketBudget> budget)
        : budget_(std::move(budget)) {}
    // Shared: a socket closed after the server's executor is gone (a gRPC
    // call's last callback at shutdown) still has a budget to go back to.
    std::shared_ptr<SocketBudget> budget_;
  };

  // Where a waiter queues: its caller (any stable address naming it) and
  // the caller's weight (turns per round), and its batch.
  struct Turn {
    const void* caller = nullptr;
    int weight = 1;
    const void* batch = nullptr;
  };

  // A place in the queue, to cancel it by.
  class Ticket {
   private:
    friend class SocketBudget;
    // Read and written only through SocketBudget::StateOf (its mu_ held).
    struct State {
      bool waiting = true;
      absl::AnyInvocable<void(Lease)> granted;
    };
    State state_;
    // Its line: alive while the ticket waits (lines_ holds every line with
    // a live ticket).
    Line* line_ = nullptr;
  };

  // `limit` sockets, at least 1. Must be owned by a shared_ptr (leases
  // share it).
  explicit SocketBudget(int64_t limit);
  SocketBudget(const SocketBudget&) = delete;
  SocketBudget& operator=(const SocketBudget&) = delete;

  // Calls `granted` once with a lease: at once on this thread if a socket is
  // free and nobody waits, otherwise later on the thread that releases a
  // lease (Lease::Release, or a Cancel that frees one). `granted` must not
  // block. Never called if the ticket is cancelled first. Thread-safe.
  std::shared_ptr<Ticket> Acquire(const Turn& turn,
                                  absl::AnyInvocable<void(Lease)> granted);

  // Takes `ticket` out of the queue: true if it was waiting, and then its
  // `granted` is destroyed (on this thread) without being called. False if
  // it was granted already. Thread-safe.
  bool Cancel(Ticket& ticket);

  int64_t limit() const { return semaphore_.limit(); }
  // Leases held now.
  int64_t in_use() const { return semaphore_.in_use(); }
  // Tickets waiting now.
  int64_t waiting() const;

 private:
  // One batch's waiters: its FairSemaphore client. In lines_ (keyed by
  // batch) from its first ticket until it is offered a socket with no live
  // (uncancelled, ungranted) ticket, or its last live one is cancelled.
  class Line : public FairSemaphore::Client {
   public:
    Line(SocketBudget& budget, const Turn& turn)
        : budget_(budget),
          batch_(turn.batch),
          caller_(turn.caller),
          weight_(turn.weight) {
      SetCaller(turn.caller, turn.weight);
    }
    int64_t OnSlots(int64_t offered) override {
      return budget_.Grant(*this, offered);
    }

   private:
    friend class SocketBudget;
    // Read and written only through SocketBudget::QueueOf (its mu_ held).
    struct Queue {
      std::deque<std::shared_ptr<Ticket>> tickets;  // cancelled ones too
      int64_t live = 0;
    };
    SocketBudget& budget_;
    const void* const batch_;
    const void* const caller_;
    const int weight_;
    Queue queue_;
  };

  // Hands up to `offered` sockets to `line`'s first waiters; how many.
  int64_t Grant(Line& line, int64_t offered);
  // Forgets `line` (it has no live tickets); returns it to be withdrawn
  // from the semaphore outside mu_.
  std::shared_ptr<Line> DropLineLocked(Line& line)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Lines' and tickets' state is the budget's, guarded by its mu_.
  Line::Queue& QueueOf(Line& line) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return line.queue_;
  }
  Ticket::State& StateOf(Ticket& ticket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return ticket.state_;
  }

  FairSemaphore semaphore_;
  mutable Mutex mu_;
  absl::flat_hash_map<const void*, std::shared_ptr<Line>> lines_
      ABSL_GUARDED_BY(mu_);  // by batch, while it has waiters
  int64_t waiting_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_SOCKET_BUDGET_H_
