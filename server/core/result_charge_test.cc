#include "server/core/result_charge.h"

#include <string>

#include "gtest/gtest.h"
#include "server/core/limits.h"

namespace batchexec {
namespace {

TEST(ResultCharge, SmallResultsFitInTheirTasksReserve) {
  MemoryBudget budget(1 << 30, 1 << 20);
  ResultCharge charge(*budget.TryReserve("a", 0));
  int64_t charged = -1;
  ASSERT_TRUE(charge.Hold(kReservedBytesPerTask, &charged).ok());
  EXPECT_EQ(charged, 0);
  EXPECT_EQ(budget.in_use(), 0);
}

TEST(ResultCharge, ChargesInStepsAndGivesBackOnRelease) {
  MemoryBudget budget(int64_t{1} << 30, int64_t{1} << 30);
  ResultCharge charge(*budget.TryReserve("a", 0));
  int64_t first, second;
  ASSERT_TRUE(charge.Hold(kReservedBytesPerTask + 1000, &first).ok());
  EXPECT_EQ(first, 1000);
  EXPECT_EQ(budget.in_use("a"), kResultChargeStep);  // a step ahead
  ASSERT_TRUE(charge.Hold(kReservedBytesPerTask + 2000, &second).ok());
  EXPECT_EQ(budget.in_use("a"), kResultChargeStep);  // within the step
  EXPECT_EQ(charge.held(), 3000);
  // A large one takes what it needs; its release gives back all but a step.
  int64_t large;
  ASSERT_TRUE(charge.Hold(10 * kResultChargeStep, &large).ok());
  EXPECT_GE(budget.in_use("a"), 10 * kResultChargeStep);
  charge.Release(large);
  EXPECT_LE(budget.in_use("a"), 2 * kResultChargeStep);
  charge.Release(first);
  charge.Release(second);
  EXPECT_EQ(charge.held(), 0);
}

TEST(ResultCharge, RefusesWhatGoesPastTheCallersShareNamingIt) {
  MemoryBudget budget(int64_t{1} << 30, 3 << 20);
  ResultCharge charge(*budget.TryReserve("team-a", 0));
  int64_t charged;
  ASSERT_TRUE(charge.Hold(2 << 20, &charged).ok());
  absl::Status refused = charge.Hold(2 << 20, &charged);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(charged, 0);
  EXPECT_NE(refused.message().find("caller 'team-a'"), std::string::npos)
      << refused.message();
  EXPECT_NE(refused.message().find("(--max_request_memory_per_caller)"),
            std::string::npos)
      << refused.message();
  // What fits beside it still does, to the last byte of the share.
  const int64_t room = (3 << 20) - charge.held();
  EXPECT_TRUE(charge.Hold(kReservedBytesPerTask + room, &charged).ok());
  EXPECT_EQ(budget.in_use("team-a"), 3 << 20);
}

TEST(ResultCharge, RefusesWhatGoesPastTheServersBudgetNamingIt) {
  MemoryBudget budget(4 << 20, 4 << 20);
  auto other = budget.TryReserve("b", 3 << 20);
  ResultCharge charge(*budget.TryReserve("a", 0));
  int64_t charged;
  absl::Status refused = charge.Hold(2 << 20, &charged);
  EXPECT_EQ(refused.code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.message().find("(--max_request_memory)"), std::string::npos)
      << refused.message();
}

TEST(ResultCharge, WithoutABudgetEverythingFits) {
  ResultCharge charge;
  int64_t charged;
  EXPECT_TRUE(charge.Hold(size_t{1} << 40, &charged).ok());
  EXPECT_EQ(charged, 0);
}

}  // namespace
}  // namespace batchexec
