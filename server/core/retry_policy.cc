#include "server/core/retry_policy.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "common/proto_time.h"
#include "common/status_code_name.h"
#include "server/core/limits.h"

namespace batchexec {
namespace {

absl::Status FieldError(absl::string_view field, absl::string_view rule) {
  return absl::InvalidArgumentError(
      absl::StrCat("retry_policy.", field, " ", rule));
}

absl::Status CheckDuration(absl::string_view field,
                           const google::protobuf::Duration& d) {
  if (d.seconds() < 0 || d.nanos() < 0 || d.nanos() >= 1'000'000'000) {
    return FieldError(field, "must not be negative");
  }
  if (FromProtoDuration(d) > kMaxRetryBackoff) {
    return FieldError(
        field,
        absl::StrCat("must be at most ", absl::FormatDuration(kMaxRetryBackoff),
                     " (got ", d.seconds(), "s)"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateRetryPolicy(const v1::RetryPolicy& policy) {
  if (absl::Status s =
          CheckDuration("initial_backoff", policy.initial_backoff());
      !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckDuration("max_backoff", policy.max_backoff());
      !s.ok()) {
    return s;
  }
  const double m = policy.backoff_multiplier();
  // 0 is the field left unset (the default applies).
  if (m != 0 && !(m >= 1 && m <= kMaxBackoffMultiplier)) {
    return FieldError("backoff_multiplier",
                      absl::StrCat("must be between 1 and ",
                                   kMaxBackoffMultiplier, " (got ", m, ")"));
  }
  for (const std::string& name : policy.retryable_status_codes()) {
    std::optional<absl::StatusCode> code = ParseStatusCodeName(name);
    if (!code.has_value()) {
      return FieldError("retryable_status_codes",
                        absl::StrCat("has unknown code name '", name,
                                     "' (e.g. UNAVAILABLE)"));
    }
    if (*code == absl::StatusCode::kOk) {
      return FieldError("retryable_status_codes",
                        "must not list OK: a success is never retried");
    }
  }
  if (policy.max_attempts() > 1 && policy.retryable_status_codes().empty()) {
    return FieldError("retryable_status_codes",
                      "must name at least one code when max_attempts > 1");
  }
  return absl::OkStatus();
}

RetryPlan MakeRetryPlan(const v1::RetryPolicy& policy, int64_t cap) {
  RetryPlan plan;
  plan.max_attempts =
      std::clamp<int64_t>(policy.max_attempts(), 1, std::max<int64_t>(cap, 1));
  plan.initial_backoff = policy.has_initial_backoff()
                             ? FromProtoDuration(policy.initial_backoff())
                             : kDefaultInitialBackoff;
  plan.max_backoff = policy.has_max_backoff()
                         ? FromProtoDuration(policy.max_backoff())
                         : kDefaultMaxBackoff;
  plan.backoff_multiplier = policy.backoff_multiplier() == 0
                                ? kDefaultBackoffMultiplier
                                : policy.backoff_multiplier();
  for (const std::string& name : policy.retryable_status_codes()) {
    if (auto code = ParseStatusCodeName(name); code.has_value()) {
      plan.retryable_codes |= 1u << static_cast<int>(*code);
    }
  }
  return plan;
}

absl::Duration BackoffCeiling(const RetryPlan& plan, int64_t retry) {
  // In double seconds: multiplier^(retry-1) may overflow to inf, which the
  // cap then takes.
  const double seconds =
      absl::ToDoubleSeconds(plan.initial_backoff) *
      std::pow(plan.backoff_multiplier,
               static_cast<double>(std::max<int64_t>(retry, 1) - 1));
  const double cap = absl::ToDoubleSeconds(plan.max_backoff);
  return absl::Seconds(std::min(seconds, cap));
}

absl::Duration Backoff(const RetryPlan& plan, int64_t retry,
                       absl::FunctionRef<double()> uniform01) {
  const double u = std::clamp(uniform01(), 0.0, 1.0);
  return BackoffCeiling(plan, retry) * u;
}

}  // namespace batchexec
