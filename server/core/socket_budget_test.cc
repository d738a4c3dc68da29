#include "server/core/socket_budget.h"

#include <atomic>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

using Lease = SocketBudget::Lease;

// Leases granted so far, in grant order, tagged by who asked.
class Holder {
 public:
  // Gives every lease back, in order; waiters left are granted (into this
  // holder) and given back in turn.
  ~Holder() {
    while (held() > 0) ReleaseOldest();
  }
  absl::AnyInvocable<void(Lease)> Take(std::string tag) {
    return [this, tag = std::move(tag)](Lease lease) {
      MutexLock lock(&mu_);
      order_.push_back(tag);
      leases_.push_back(std::move(lease));
    };
  }
  // Gives back the oldest lease held (on this thread: the next waiter is
  // granted here).
  void ReleaseOldest() {
    Lease lease;
    {
      MutexLock lock(&mu_);
      lease = std::move(leases_.front());
      leases_.erase(leases_.begin());
    }
    lease.Release();
  }
  std::vector<std::string> order() {
    MutexLock lock(&mu_);
    return order_;
  }
  size_t held() {
    MutexLock lock(&mu_);
    return leases_.size();
  }

 private:
  Mutex mu_;
  std::vector<std::string> order_ ABSL_GUARDED_BY(mu_);
  std::vector<Lease> leases_ ABSL_GUARDED_BY(mu_);
};

int kAlice, kBob;  // callers' keys
int kBatch1, kBatch2, kBatch3;

TEST(SocketBudget, GrantsAtOnceWhileFreeThenMakesTheRestWait) {
  auto budget_ptr = std::make_shared<SocketBudget>(2);
  SocketBudget& budget = *budget_ptr;
  Holder h;
  budget.Acquire({&kAlice, 1, &kBatch1}, h.Take("a"));
  budget.Acquire({&kAlice, 1, &kBatch1}, h.Take("b"));
  budget.Acquire({&kAlice, 1, &kBatch1}, h.Take("c"));
  EXPECT_EQ(h.order(), (std::vector<std::string>{"a", "b"}));
  EXPECT_EQ(budget.in_use(), 2);
  EXPECT_EQ(budget.waiting(), 1);
  h.ReleaseOldest();  // "c" gets it, on this thread
  EXPECT_EQ(h.order(), (std::vector<std::string>{"a", "b", "c"}));
  EXPECT_EQ(budget.in_use(), 2);
  EXPECT_EQ(budget.waiting(), 0);
  h.ReleaseOldest();
  h.ReleaseOldest();
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(SocketBudget, WaitersOfTwoCallersTakeTurns) {
  auto budget_ptr = std::make_shared<SocketBudget>(1);
  SocketBudget& budget = *budget_ptr;
  Holder h;
  budget.Acquire({&kAlice, 1, &kBatch1}, h.Take("first"));
  // Alice's big batch queues first; Bob's small one still gets every other
  // socket.
  for (int i = 0; i < 6; ++i) {
    budget.Acquire({&kAlice, 1, &kBatch1}, h.Take("alice"));
  }
  for (int i = 0; i < 3; ++i) {
    budget.Acquire({&kBob, 1, &kBatch2}, h.Take("bob"));
  }
  EXPECT_EQ(budget.waiting(), 9);
  for (int i = 0; i < 9; ++i) h.ReleaseOldest();
  EXPECT_EQ(h.order(), (std::vector<std::string>{"first", "alice", "bob",
                                                 "alice", "bob", "alice", "bob",
                                                 "alice", "alice", "alice"}));
}

TEST(SocketBudget, BatchesOfOneCallerTakeTurnsWithinItsShare) {
  auto budget_ptr = std::make_shared<SocketBudget>(1);
  SocketBudget& budget = *budget_ptr;
  Holder h;
  budget.Acquire({&kAlice, 1, &kBatch1}, h.Take("first"));
  for (int i = 0; i < 4; ++i) {
    budget.Acquire({&kAlice, 1, &kBatch1}, h.Take("a1"));
  }
  for (int i = 0; i < 4; ++i) {
    budget.Acquire({&kAlice, 1, &kBatch2}, h.Take("a2"));
  }
  for (int i = 0; i < 4; ++i) {
    budget.Acquire({&kBob, 1, &kBatch3}, h.Take("b"));
  }
  for (int i = 0; i < 8; ++i) h.ReleaseOldest();
  // Callers alternate; Alice's turns alternate between her batches, so her
  // two batches together get no more than Bob's one.
  EXPECT_EQ(h.order(), (std::vector<std::string>{"first", "a1", "b", "a2", "b",
                                                 "a1", "b", "a2", "b"}));
}

TEST(SocketBudget, ACancelledWaiterLeavesTheQueueAndIsNeverGranted) {
  auto budget_ptr = std::make_shared<SocketBudget>(1);
  SocketBudget& budget = *budget_ptr;
  Holder h;
  budget.Acquire({&kAlice, 1, &kBatch1}, h.Take("first"));
  auto witness = std::make_shared<int>(0);
  bool called = false;
  auto ticket = budget.Acquire({&kAlice, 1, &kBatch1},
                               [witness, &called](Lease) { called = true; });
  budget.Acquire({&kBob, 1, &kBatch2}, h.Take("bob"));
  EXPECT_EQ(budget.waiting(), 2);
  EXPECT_EQ(witness.use_count(), 2);
  EXPECT_TRUE(budget.Cancel(*ticket));
  EXPECT_EQ(witness.use_count(), 1);  // its callback is gone at once
  EXPECT_EQ(budget.waiting(), 1);
  EXPECT_FALSE(budget.Cancel(*ticket));  // once
  h.ReleaseOldest();
  EXPECT_FALSE(called);
  EXPECT_EQ(h.order(), (std::vector<std::string>{"first", "bob"}));
  h.ReleaseOldest();
  EXPECT_EQ(budget.in_use(), 0);
  EXPECT_EQ(budget.waiting(), 0);
}

TEST(SocketBudget, CancellingEveryWaiterOfABatchLetsTheNextBatchIn) {
  auto budget_ptr = std::make_shared<SocketBudget>(1);
  SocketBudget& budget = *budget_ptr;
  Holder h;
  budget.Acquire({&kAlice, 1, &kBatch1}, h.Take("first"));
  std::vector<std::shared_ptr<SocketBudget::Ticket>> tickets;
  for (int i = 0; i < 100; ++i) {
    tickets.push_back(budget.Acquire({&kAlice, 1, &kBatch1}, h.Take("gone")));
  }
  budget.Acquire({&kAlice, 1, &kBatch2}, h.Take("next"));
  for (auto& t : tickets) EXPECT_TRUE(budget.Cancel(*t));
  h.ReleaseOldest();
  EXPECT_EQ(h.order(), (std::vector<std::string>{"first", "next"}));
  EXPECT_EQ(budget.waiting(), 0);
}

TEST(SocketBudget, CancelAfterGrantKeepsTheLease) {
  auto budget_ptr = std::make_shared<SocketBudget>(1);
  SocketBudget& budget = *budget_ptr;
  Holder h;
  auto ticket = budget.Acquire({&kAlice, 1, &kBatch1}, h.Take("a"));
  EXPECT_FALSE(budget.Cancel(*ticket));
  EXPECT_EQ(budget.in_use(), 1);
  h.ReleaseOldest();
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(SocketBudget, ALeaseIsReleasedExactlyOnce) {
  auto budget_ptr = std::make_shared<SocketBudget>(2);
  SocketBudget& budget = *budget_ptr;
  Lease kept;
  budget.Acquire({&kAlice, 1, &kBatch1},
                 [&](Lease lease) { kept = std::move(lease); });
  EXPECT_TRUE(kept.held());
  EXPECT_EQ(budget.in_use(), 1);
  Lease moved = std::move(kept);
  EXPECT_FALSE(kept.held());
  kept.Release();  // empty: no effect
  EXPECT_EQ(budget.in_use(), 1);
  moved.Release();
  moved.Release();
  EXPECT_EQ(budget.in_use(), 0);
  {
    Lease scoped;
    budget.Acquire({&kAlice, 1, &kBatch1},
                   [&](Lease lease) { scoped = std::move(lease); });
    Lease other;
    budget.Acquire({&kAlice, 1, &kBatch1},
                   [&](Lease lease) { other = std::move(lease); });
    EXPECT_EQ(budget.in_use(), 2);
    scoped = std::move(other);  // releases scoped's own first
    EXPECT_EQ(budget.in_use(), 1);
  }
  EXPECT_EQ(budget.in_use(), 0);
  // A callback that drops its lease gives it back at once.
  budget.Acquire({&kAlice, 1, &kBatch1}, [](Lease) {});
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(SocketBudget, ManyThreadsNeverHoldMoreThanTheLimit) {
  constexpr int kLimit = 4;
  constexpr int kThreads = 8;
  constexpr int kPerThread = 2000;
  auto budget_ptr = std::make_shared<SocketBudget>(kLimit);
  SocketBudget& budget = *budget_ptr;
  std::atomic<int> holding{0};
  std::atomic<int> most{0};
  std::atomic<int> granted{0};
  std::atomic<int> cancelled{0};
  Mutex mu;
  std::vector<Lease> pool ABSL_GUARDED_BY(mu);
  int keys[kThreads];
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937 rng(t);
      for (int i = 0; i < kPerThread; ++i) {
        auto ticket = budget.Acquire(
            {&keys[t % 3], 1 + t % 2, &keys[t]}, [&](Lease lease) {
              int now = holding.fetch_add(1) + 1;
              int seen = most.load();
              while (now > seen && !most.compare_exchange_weak(seen, now)) {
              }
              granted.fetch_add(1);
              MutexLock lock(&mu);
              pool.push_back(std::move(lease));
            });
        if (rng() % 4 == 0 && budget.Cancel(*ticket)) cancelled.fetch_add(1);
        // Give back one held lease, maybe granting a waiter on this thread.
        Lease back;
        {
          MutexLock lock(&mu);
          if (!pool.empty()) {
            back = std::move(pool.back());
            pool.pop_back();
            holding.fetch_sub(1);
          }
        }
        back.Release();
      }
    });
  }
  for (auto& t : threads) t.join();
  // Drain: whatever still waits is granted as the rest are given back.
  for (;;) {
    Lease back;
    {
      MutexLock lock(&mu);
      if (pool.empty()) break;
      back = std::move(pool.back());
      pool.pop_back();
      holding.fetch_sub(1);
    }
    back.Release();
  }
  EXPECT_LE(most.load(), kLimit);
  EXPECT_EQ(granted.load() + cancelled.load(), kThreads * kPerThread);
  EXPECT_EQ(budget.in_use(), 0);
  EXPECT_EQ(budget.waiting(), 0);
}

}  // namespace
}  // namespace batchexec
