#include "server/core/fair_semaphore.h"

#include <algorithm>
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "common/mutex.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

// A client that takes up to `want` slots and records them; slots are given
// back by the test.
class CountingClient : public FairSemaphore::Client {
 public:
  CountingClient(int want, std::vector<int>* log, int tag, Mutex* mu)
      : want_(want), log_(log), tag_(tag), mu_(mu) {}
  bool OnSlot() override {
    MutexLock lock(mu_);
    if (taken_ >= want_) return false;
    ++taken_;
    log_->push_back(tag_);
    return true;
  }
  int taken() {
    MutexLock lock(mu_);
    return taken_;
  }

 private:
  const int want_;
  std::vector<int>* log_;
  const int tag_;
  Mutex* mu_;
  int taken_ = 0;
};

TEST(FairSemaphore, GrantsUpToTheLimitAndNoMore) {
  FairSemaphore sem(3);
  Mutex mu;
  std::vector<int> log;
  auto client = std::make_shared<CountingClient>(10, &log, 1, &mu);
  sem.Request(client);
  EXPECT_EQ(client->taken(), 3);
  EXPECT_EQ(sem.in_use(), 3);
  sem.Release();
  EXPECT_EQ(client->taken(), 4);
  EXPECT_EQ(sem.in_use(), 3);
}

TEST(FairSemaphore, LateSmallClientIsServedBeforeTheBigOneFinishes) {
  FairSemaphore sem(2);
  Mutex mu;
  std::vector<int> log;
  auto big = std::make_shared<CountingClient>(1000, &log, 1, &mu);
  auto small = std::make_shared<CountingClient>(3, &log, 2, &mu);
  sem.Request(big);    // takes both slots
  sem.Request(small);  // waits in line
  for (int i = 0; i < 6; ++i) sem.Release();
  // Freed slots alternate between the two: the small client is done after
  // at most 2x its size in releases, not after the big one's 1000.
  EXPECT_EQ(small->taken(), 3);
  EXPECT_LT(big->taken(), 10);
}

TEST(FairSemaphore, DecliningClientLeavesAndComesBackOnRequest) {
  FairSemaphore sem(5);
  Mutex mu;
  std::vector<int> log;
  auto c = std::make_shared<CountingClient>(1, &log, 1, &mu);
  sem.Request(c);
  EXPECT_EQ(sem.in_use(), 1);
  EXPECT_EQ(sem.waiting_clients(), 0u);  // declined the second slot
}

// A client that takes slots in groups and records each offer's size.
class GroupClient : public FairSemaphore::Client {
 public:
  explicit GroupClient(int64_t want) : want_(want) {}
  int64_t OnSlots(int64_t offered) override {
    offers.push_back(offered);
    const int64_t taken = std::min(offered, want_ - taken_);
    taken_ += taken;
    return taken;
  }
  std::vector<int64_t> offers;

 private:
  const int64_t want_;
  int64_t taken_ = 0;
};

TEST(FairSemaphore, OffersSlotsInTurnsOfAtMostSlotsPerTurn) {
  FairSemaphore sem(10, nullptr, 1 << 30, /*slots_per_turn=*/4);
  auto a = std::make_shared<GroupClient>(100);
  auto b = std::make_shared<GroupClient>(3);
  sem.Request(a);
  EXPECT_EQ(a->offers, (std::vector<int64_t>{4, 4, 2}));
  EXPECT_EQ(sem.in_use(), 10);
  sem.Request(b);  // in line behind a
  sem.Release(5);  // a's turn (4 slots), then b's with what is left
  EXPECT_EQ(a->offers, (std::vector<int64_t>{4, 4, 2, 4}));
  EXPECT_EQ(b->offers, (std::vector<int64_t>{1}));
  EXPECT_EQ(sem.in_use(), 10);
  for (int i = 0; i < 4; ++i) sem.Release();  // one at a time: turns alternate
  EXPECT_EQ(b->offers, (std::vector<int64_t>{1, 1, 1}));
  EXPECT_EQ(sem.in_use(), 10);
}

// A client whose OnSlot runs "tasks" that end at once on the same thread:
// the semaphore must not recurse (stack) and must count exactly.
class InstantClient : public FairSemaphore::Client {
 public:
  InstantClient(FairSemaphore* sem, int tasks) : sem_(sem), left_(tasks) {}
  bool OnSlot() override {
    if (left_.load() == 0) return false;
    --left_;
    ++done_;
    sem_->Release();  // the task ended inline
    return true;
  }
  FairSemaphore* sem_;
  std::atomic<int> left_;
  std::atomic<int> done_{0};
};

TEST(FairSemaphore, InlineCompletionsDoNotRecurse) {
  FairSemaphore sem(4);
  auto c = std::make_shared<InstantClient>(&sem, 1'000'000);
  sem.Request(c);
  EXPECT_EQ(c->done_.load(), 1'000'000);
  EXPECT_EQ(sem.in_use(), 0);
}

// Clients on several threads take and give back slots at random; the count
// in use never passes the limit and returns to zero.
class ConcurrentClient : public FairSemaphore::Client {
 public:
  ConcurrentClient(std::atomic<int>* in_use, std::atomic<int>* peak,
                   std::atomic<int>* granted)
      : in_use_(in_use), peak_(peak), granted_(granted) {}
  bool OnSlot() override {
    if (remaining_.fetch_sub(1) <= 0) {
      remaining_.fetch_add(1);
      return false;
    }
    int now = in_use_->fetch_add(1) + 1;
    int p = peak_->load();
    while (now > p && !peak_->compare_exchange_weak(p, now)) {
    }
    granted_->fetch_add(1);
    return true;
  }
  std::atomic<int> remaining_{2000};
  std::atomic<int>* in_use_;
  std::atomic<int>* peak_;
  std::atomic<int>* granted_;
};

TEST(FairSemaphore, LimitHoldsUnderConcurrentRequestAndRelease) {
  constexpr int kLimit = 7;
  FairSemaphore sem(kLimit);
  std::atomic<int> in_use{0}, peak{0}, granted{0}, released{0};
  std::vector<std::shared_ptr<ConcurrentClient>> clients;
  for (int i = 0; i < 4; ++i) {
    clients.push_back(
        std::make_shared<ConcurrentClient>(&in_use, &peak, &granted));
  }
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      sem.Request(clients[t]);
      while (released.load() < 8000) {
        if (in_use.load() > 0) {
          // Give one back, as a finished task would.
          int cur = in_use.load();
          if (cur > 0 && in_use.compare_exchange_weak(cur, cur - 1)) {
            released.fetch_add(1);
            sem.Release();
          }
        } else {
          sem.Request(clients[t]);
          std::this_thread::yield();
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(peak.load(), kLimit);
  EXPECT_EQ(granted.load(), 8000);
  EXPECT_EQ(sem.in_use(), 0);
}

TEST(FairSemaphore, WithdrawnClientLeavesTheLineAndIsReleased) {
  FairSemaphore sem(1);
  Mutex mu;
  std::vector<int> log;
  auto holder = std::make_shared<CountingClient>(1, &log, 1, &mu);
  sem.Request(holder);  // takes the only slot
  auto waiting = std::make_shared<CountingClient>(5, &log, 2, &mu);
  std::weak_ptr<CountingClient> weak = waiting;
  sem.Request(waiting);
  const size_t in_line = sem.waiting_clients();  // the holder may wait too
  sem.Withdraw(*waiting);
  EXPECT_EQ(sem.waiting_clients(), in_line - 1);
  waiting.reset();
  EXPECT_TRUE(weak.expired());  // the ring no longer keeps it alive
  sem.Release();
  EXPECT_EQ(sem.in_use(), 0);
}

// A client of a named caller that takes one slot per offer and logs it.
class CallerClient : public FairSemaphore::Client {
 public:
  CallerClient(const void* caller, int weight, char tag, std::string* log,
               Mutex* mu)
      : tag_(tag), log_(log), mu_(mu) {
    SetCaller(caller, weight);
  }
  int64_t OnSlots(int64_t offered) override {
    MutexLock lock(mu_);
    for (int64_t i = 0; i < offered; ++i) log_->push_back(tag_);
    return offered;  // always wants more
  }

 private:
  const char tag_;
  std::string* log_;
  Mutex* mu_;
};

TEST(FairSemaphore, CallersTakeTurnsWhateverTheirNumberOfBatches) {
  FairSemaphore sem(1, nullptr, 1 << 30, /*slots_per_turn=*/1);
  Mutex mu;
  std::string log;
  int caller_a = 0, caller_b = 0;
  auto holder = std::make_shared<GroupClient>(1);
  sem.Request(holder);  // holds the only slot while the line forms
  std::vector<std::shared_ptr<CallerClient>> a;
  for (char tag : std::string("abcde")) {
    a.push_back(std::make_shared<CallerClient>(&caller_a, 1, tag, &log, &mu));
    sem.Request(a.back());
  }
  auto b = std::make_shared<CallerClient>(&caller_b, 1, 'B', &log, &mu);
  sem.Request(b);
  // The holder waits too (it took all it was offered).
  EXPECT_EQ(sem.waiting_callers(), 3u);
  EXPECT_EQ(sem.waiting_clients(), 7u);
  for (int i = 0; i < 10; ++i) sem.Release();
  // Callers alternate; within caller A its five batches take turns.
  MutexLock lock(&mu);
  EXPECT_EQ(log, "aBbBcBdBeB");
}

TEST(FairSemaphore, AWeightedCallerGetsThatManySlotsPerTurn) {
  FairSemaphore sem(4, nullptr, 1 << 30, /*slots_per_turn=*/1);
  Mutex mu;
  std::string log;
  int heavy = 0, light = 0;
  auto holder = std::make_shared<GroupClient>(4);
  sem.Request(holder);  // holds every slot while the line forms
  auto h = std::make_shared<CallerClient>(&heavy, 3, 'H', &log, &mu);
  auto l = std::make_shared<CallerClient>(&light, 1, 'l', &log, &mu);
  sem.Request(h);
  sem.Request(l);
  sem.Release(4);
  sem.Release(4);
  MutexLock lock(&mu);
  EXPECT_EQ(log, "HHHlHHHl");
}

TEST(FairSemaphore, ACallerLeavingAndComingBackRejoinsAtTheBack) {
  FairSemaphore sem(1, nullptr, 1 << 30, /*slots_per_turn=*/1);
  Mutex mu;
  std::string log;
  int caller_a = 0, caller_b = 0;
  auto holder = std::make_shared<GroupClient>(1);
  sem.Request(holder);
  auto a = std::make_shared<CallerClient>(&caller_a, 1, 'a', &log, &mu);
  auto b = std::make_shared<CallerClient>(&caller_b, 1, 'b', &log, &mu);
  sem.Request(a);
  sem.Request(b);
  sem.Withdraw(*a);                      // its batch ended
  EXPECT_EQ(sem.waiting_callers(), 2u);  // the holder's and b's
  sem.Request(a);                        // a new batch of the same caller
  sem.Release();
  sem.Release();
  sem.Release();
  MutexLock lock(&mu);
  EXPECT_EQ(log, "bab");
}

}  // namespace
}  // namespace batchexec
