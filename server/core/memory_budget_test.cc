#include "server/core/memory_budget.h"

#include <string>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace batchexec {
namespace {

TEST(MemoryBudget, RefusesWhatDoesNotFitAndFreesOnDestruction) {
  MemoryBudget budget(100);
  auto a = budget.TryReserve(60);
  ASSERT_TRUE(a.has_value());
  EXPECT_FALSE(budget.TryReserve(41).has_value());
  auto b = budget.TryReserve(40);
  ASSERT_TRUE(b.has_value());
  EXPECT_EQ(budget.in_use(), 100);
  a.reset();
  EXPECT_EQ(budget.in_use(), 40);
  MemoryBudget::Reservation moved = std::move(*b);
  b.reset();  // the moved-from one holds nothing
  EXPECT_EQ(budget.in_use(), 40);
  EXPECT_EQ(moved.bytes(), 40);
}

TEST(MemoryBudget, NeverOvercommitsUnderConcurrentReservations) {
  MemoryBudget budget(1000);
  std::atomic<int64_t> peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 20000; ++i) {
        auto r = budget.TryReserve(7);
        int64_t now = budget.in_use();
        int64_t seen = peak.load();
        while (now > seen && !peak.compare_exchange_weak(seen, now)) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(peak.load(), 1000);
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(MemoryBudget, ACallerIsRefusedPastItsShareWhileAnotherStillFits) {
  MemoryBudget budget(100, 50);
  MemoryBudget::Full full = MemoryBudget::Full::kNone;
  auto a1 = budget.TryReserve("a", 40);
  ASSERT_TRUE(a1.has_value());
  EXPECT_FALSE(budget.TryReserve("a", 11, &full).has_value());
  EXPECT_EQ(full, MemoryBudget::Full::kCaller);
  EXPECT_EQ(budget.in_use("a"), 40);  // the refusal took nothing
  auto b1 = budget.TryReserve("b", 50);
  ASSERT_TRUE(b1.has_value());
  EXPECT_EQ(budget.in_use(), 90);
  // "c" is within its share; the server is what is full.
  EXPECT_FALSE(budget.TryReserve("c", 20, &full).has_value());
  EXPECT_EQ(full, MemoryBudget::Full::kServer);
  EXPECT_EQ(budget.in_use("c"), 0);
  EXPECT_EQ(budget.in_use(), 90);
  EXPECT_NE(budget.Describe(MemoryBudget::Full::kCaller, "a")
                .find("caller 'a' holds 40 bytes of its 50 bytes share of "
                      "request memory (--max_request_memory_per_caller)"),
            std::string::npos)
      << budget.Describe(MemoryBudget::Full::kCaller, "a");
  EXPECT_NE(budget.Describe(MemoryBudget::Full::kServer, "c")
                .find("90 bytes of its 100 bytes"),
            std::string::npos);
  EXPECT_NE(budget.Describe(MemoryBudget::Full::kServer, "c")
                .find("(--max_request_memory)"),
            std::string::npos);
  a1.reset();
  b1.reset();
  EXPECT_EQ(budget.in_use(), 0);
  EXPECT_EQ(budget.in_use("a"), 0);
}

TEST(MemoryBudget, AReservationGrowsWithinBothBudgetsAndShrinks) {
  MemoryBudget budget(100, 60);
  auto r = budget.TryReserve("a", 0);
  ASSERT_TRUE(r.has_value());
  EXPECT_TRUE(r->TryGrow(50));
  MemoryBudget::Full full = MemoryBudget::Full::kNone;
  EXPECT_FALSE(r->TryGrow(11, &full));
  EXPECT_EQ(full, MemoryBudget::Full::kCaller);
  EXPECT_EQ(r->bytes(), 50);
  r->Shrink(30);
  EXPECT_EQ(budget.in_use("a"), 20);
  EXPECT_EQ(budget.in_use(), 20);
  r.reset();
  EXPECT_EQ(budget.in_use(), 0);
}

// Callers come and go: an account lives while a reservation holds it, and a
// caller whose reservations all ended starts afresh.
TEST(MemoryBudget, CallersAccountsComeAndGoUnderConcurrentUse) {
  MemoryBudget budget(1000, 300);
  std::atomic<int64_t> caller_peak{0};
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      const std::string caller = t % 2 == 0 ? "even" : "odd";
      for (int i = 0; i < 5000; ++i) {
        auto r = budget.TryReserve(caller, 7);
        if (r && r->TryGrow(100)) r->Shrink(50);
        int64_t now = budget.in_use(caller);
        int64_t seen = caller_peak.load();
        while (now > seen && !caller_peak.compare_exchange_weak(seen, now)) {
        }
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_LE(caller_peak.load(), 300);
  EXPECT_EQ(budget.in_use(), 0);
  EXPECT_EQ(budget.in_use("even"), 0);
  EXPECT_EQ(budget.in_use("odd"), 0);
}

}  // namespace
}  // namespace batchexec
