#include "server/core/retry_policy.h"

#include <cmath>
#include <string>

#include "gtest/gtest.h"

namespace batchexec {
namespace {

v1::RetryPolicy Policy(uint32_t attempts, double initial_s, double max_s,
                       double multiplier) {
  v1::RetryPolicy p;
  p.set_max_attempts(attempts);
  p.mutable_initial_backoff()->set_seconds(static_cast<int64_t>(initial_s));
  p.mutable_initial_backoff()->set_nanos(static_cast<int32_t>(
      (initial_s - static_cast<int64_t>(initial_s)) * 1e9));
  p.mutable_max_backoff()->set_seconds(static_cast<int64_t>(max_s));
  p.set_backoff_multiplier(multiplier);
  p.add_retryable_status_codes("UNAVAILABLE");
  return p;
}

TEST(RetryPolicyTest, CeilingGrowsByTheMultiplierUntilTheCap) {
  RetryPlan plan = MakeRetryPlan(Policy(5, 0.5, 3, 2), 5);
  EXPECT_EQ(BackoffCeiling(plan, 1), absl::Milliseconds(500));
  EXPECT_EQ(BackoffCeiling(plan, 2), absl::Seconds(1));
  EXPECT_EQ(BackoffCeiling(plan, 3), absl::Seconds(2));
  EXPECT_EQ(BackoffCeiling(plan, 4), absl::Seconds(3));   // capped
  EXPECT_EQ(BackoffCeiling(plan, 60), absl::Seconds(3));  // no overflow
}

TEST(RetryPolicyTest, BackoffIsFullJitterBetweenZeroAndTheCeiling) {
  RetryPlan plan = MakeRetryPlan(Policy(5, 1, 10, 2), 5);
  EXPECT_EQ(Backoff(plan, 1, [] { return 0.0; }), absl::ZeroDuration());
  EXPECT_EQ(Backoff(plan, 1, [] { return 0.25; }), absl::Milliseconds(250));
  EXPECT_EQ(Backoff(plan, 3, [] { return 0.5; }), absl::Seconds(2));
  EXPECT_EQ(Backoff(plan, 9, [] { return 0.5; }), absl::Seconds(5));  // cap
  // A random source out of range cannot push the wait past the ceiling.
  EXPECT_EQ(Backoff(plan, 1, [] { return 7.0; }), absl::Seconds(1));
  EXPECT_EQ(Backoff(plan, 1, [] { return -1.0; }), absl::ZeroDuration());
}

TEST(RetryPolicyTest, MaxAttemptsIsLoweredToTheCapAndZeroMeansOnce) {
  EXPECT_EQ(MakeRetryPlan(Policy(10, 1, 1, 2), 5).max_attempts, 5);
  EXPECT_EQ(MakeRetryPlan(Policy(3, 1, 1, 2), 5).max_attempts, 3);
  EXPECT_EQ(MakeRetryPlan(Policy(0, 1, 1, 2), 5).max_attempts, 1);
}

TEST(RetryPolicyTest, UnsetFieldsTakeTheDefaults) {
  v1::RetryPolicy p;
  p.set_max_attempts(3);
  p.add_retryable_status_codes("unavailable");  // any case
  ASSERT_TRUE(ValidateRetryPolicy(p).ok());
  RetryPlan plan = MakeRetryPlan(p, 5);
  EXPECT_EQ(plan.initial_backoff, absl::Milliseconds(100));
  EXPECT_EQ(plan.max_backoff, absl::Seconds(10));
  EXPECT_EQ(plan.backoff_multiplier, 2);
  EXPECT_TRUE(plan.Retries(absl::StatusCode::kUnavailable));
  EXPECT_FALSE(plan.Retries(absl::StatusCode::kNotFound));
  EXPECT_FALSE(plan.Retries(absl::StatusCode::kOk));
}

TEST(RetryPolicyTest, ValidationNamesTheFieldAndTheRule) {
  auto message = [](const v1::RetryPolicy& p) {
    return std::string(ValidateRetryPolicy(p).message());
  };
  v1::RetryPolicy p = Policy(3, 1, 1, 0.5);
  EXPECT_EQ(ValidateRetryPolicy(p).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(message(p).find("retry_policy.backoff_multiplier"),
            std::string::npos);
  p = Policy(3, 1, 1, std::nan(""));
  EXPECT_NE(message(p).find("backoff_multiplier"), std::string::npos);
  p = Policy(3, 1, 1, 1e9);
  EXPECT_NE(message(p).find("backoff_multiplier"), std::string::npos);
  p = Policy(3, 1, 1, 2);
  p.mutable_initial_backoff()->set_seconds(-1);
  EXPECT_NE(
      message(p).find("retry_policy.initial_backoff must not be negative"),
      std::string::npos);
  p = Policy(3, 1, 1, 2);
  p.mutable_max_backoff()->set_seconds(int64_t{1} << 40);
  EXPECT_NE(message(p).find("retry_policy.max_backoff must be at most"),
            std::string::npos);
  p = Policy(3, 1, 1, 2);
  p.add_retryable_status_codes("SOMETIMES");
  EXPECT_NE(message(p).find("unknown code name 'SOMETIMES'"),
            std::string::npos);
  p = Policy(3, 1, 1, 2);
  p.add_retryable_status_codes("OK");
  EXPECT_NE(message(p).find("must not list OK"), std::string::npos);
  p = Policy(3, 1, 1, 2);
  p.clear_retryable_status_codes();
  EXPECT_NE(message(p).find("must name at least one code"), std::string::npos);
  EXPECT_TRUE(ValidateRetryPolicy(Policy(3, 1, 1, 2)).ok());
  EXPECT_TRUE(ValidateRetryPolicy(v1::RetryPolicy()).ok());  // no retries
}

}  // namespace
}  // namespace batchexec
