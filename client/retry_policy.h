// How the server retries a failed task (gRPC's retryPolicy): for
// Task::WithRetry and GatherOptions::retry.
//
//   batchexec::RetryPolicy retry;
//   retry.max_attempts = 4;  // the first attempt and up to 3 retries
//   retry.retryable_codes = {absl::StatusCode::kUnavailable};
//   tasks.push_back(batchexec::Task::Of("tcp_probe", args).WithRetry(retry));
#ifndef BATCHEXEC_CLIENT_RETRY_POLICY_H_
#define BATCHEXEC_CLIENT_RETRY_POLICY_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"

namespace batchexec {

struct RetryPolicy {
  // Attempts in all, the first included; 1 means no retry. The server
  // lowers it to its --max_attempts (default 5).
  uint32_t max_attempts = 3;
  // The wait before retry n is random in [0, min(initial_backoff *
  // backoff_multiplier^(n-1), max_backoff)].
  absl::Duration initial_backoff = absl::Milliseconds(100);
  absl::Duration max_backoff = absl::Seconds(10);
  double backoff_multiplier = 2;
  // Failures retried; any other ends the task at once.
  std::vector<absl::StatusCode> retryable_codes = {
      absl::StatusCode::kUnavailable};

  // The wire form (codes by name).
  v1::RetryPolicy ToProto() const;
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_RETRY_POLICY_H_
