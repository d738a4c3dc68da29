#include "client/retry_policy.h"

#include <string>

#include "common/proto_time.h"

namespace batchexec {

v1::RetryPolicy RetryPolicy::ToProto() const {
  v1::RetryPolicy p;
  p.set_max_attempts(max_attempts);
  *p.mutable_initial_backoff() = ToProtoDuration(initial_backoff);
  *p.mutable_max_backoff() = ToProtoDuration(max_backoff);
  p.set_backoff_multiplier(backoff_multiplier);
  for (absl::StatusCode code : retryable_codes) {
    p.add_retryable_status_codes(absl::StatusCodeToString(code));
  }
  return p;
}

}  // namespace batchexec
