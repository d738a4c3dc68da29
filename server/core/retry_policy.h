// Retry policies as the server applies them (gRPC's retryPolicy, A6): the
// wire RetryPolicy checked and resolved into a RetryPlan, and the backoff
// before each retry. No gRPC and no clock here, so the math is unit-tested
// with a fixed random source.
#ifndef BATCHEXEC_SERVER_CORE_RETRY_POLICY_H_
#define BATCHEXEC_SERVER_CORE_RETRY_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"

namespace batchexec {

// A checked policy with its defaults filled in.
struct RetryPlan {
  int64_t max_attempts = 1;  // first attempt included; 1 = no retry
  absl::Duration initial_backoff = absl::ZeroDuration();
  absl::Duration max_backoff = absl::ZeroDuration();
  double backoff_multiplier = 1;
  uint32_t retryable_codes = 0;  // bit c set: absl::StatusCode c is retried

  bool Retries(absl::StatusCode code) const {
    const int c = static_cast<int>(code);
    return c > 0 && c < 32 && (retryable_codes >> c & 1u) != 0;
  }
};

// INVALID_ARGUMENT naming the field (prefixed with "retry_policy.") and the
// rule when `policy` asks for something the server cannot do: negative,
// NaN or huge values, a multiplier below 1, unknown code names, retrying
// OK, or retries without any retryable code.
absl::Status ValidateRetryPolicy(const v1::RetryPolicy& policy);

// The plan of a validated policy, with max_attempts lowered to `cap`.
RetryPlan MakeRetryPlan(const v1::RetryPolicy& policy, int64_t cap);

// Longest wait before retry `retry` (1 for the first retry):
// min(initial_backoff * multiplier^(retry-1), max_backoff).
absl::Duration BackoffCeiling(const RetryPlan& plan, int64_t retry);

// The wait before retry `retry`: full jitter, uniform in [0, ceiling].
// `uniform01` returns a number in [0, 1).
absl::Duration Backoff(const RetryPlan& plan, int64_t retry,
                       absl::FunctionRef<double()> uniform01);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_RETRY_POLICY_H_
