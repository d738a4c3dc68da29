#include "server/core/memory_budget.h"

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

}  // namespace
}  // namespace batchexec
