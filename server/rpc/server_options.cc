// ServerOptions::Validate: kept apart from server.cc so the checks read as
// one list of rules.
#include <cstdint>
#include <limits>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "server/rpc/server.h"

namespace batchexec {
namespace {

// gRPC takes these durations as int milliseconds.
constexpr absl::Duration kLongestChannelDuration =
    absl::Milliseconds(std::numeric_limits<int>::max());

absl::Status AtLeast(const char* name, int64_t value, int64_t least) {
  if (value >= least) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(name, " must be at least ", least, " (got ", value, ")"));
}

absl::Status InRange(const char* name, absl::Duration value, bool zero_ok) {
  if (value < absl::ZeroDuration() ||
      (!zero_ok && value == absl::ZeroDuration())) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be ", zero_ok ? "0 or more" : "positive",
                     " (got ", absl::FormatDuration(value), ")"));
  }
  if (value > kLongestChannelDuration) {
    return absl::InvalidArgumentError(
        absl::StrCat(name, " must be at most ",
                     absl::FormatDuration(kLongestChannelDuration), " (got ",
                     absl::FormatDuration(value), ")"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ServerOptions::Validate() const {
  // A limit of 0 would leave every batch waiting forever (or refuse all).
  for (absl::Status s : {
           AtLeast("max_task_concurrency", executor.max_task_concurrency, 1),
           AtLeast("max_inflight_tasks", executor.max_inflight_tasks, 1),
           AtLeast("max_queued_tasks", executor.max_queued_tasks, 1),
           AtLeast("max_open_batches", executor.max_open_batches, 1),
           AtLeast("max_open_batches_per_caller",
                   executor.max_open_batches_per_caller, 1),
           AtLeast("max_queued_tasks_per_caller",
                   executor.max_queued_tasks_per_caller, 1),
           AtLeast("max_batch_size", executor.max_batch_size, 1),
           AtLeast("max_request_memory", executor.max_request_memory, 1),
           AtLeast("max_request_memory_per_caller",  // 0: half of the above
                   executor.max_request_memory_per_caller, 0),
           AtLeast("cpu_workers", executor.cpu_workers, 0),  // 0: one per core
           AtLeast("max_attempts", executor.max_attempts, 1),  // 1: no retry
           AtLeast("max_receive_message_bytes", max_receive_message_bytes, 1),
           AtLeast("max_concurrent_streams", max_concurrent_streams, 1),
           InRange("keepalive_time", keepalive_time, /*zero_ok=*/false),
           InRange("keepalive_timeout", keepalive_timeout, /*zero_ok=*/false),
           InRange("min_client_ping_interval", min_client_ping_interval,
                   /*zero_ok=*/true),
       }) {
    if (!s.ok()) return s;
  }
  if (metrics_port < 0 || metrics_port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_port must be 0..65535 (got ", metrics_port, ")"));
  }
  return absl::OkStatus();
}

}  // namespace batchexec
