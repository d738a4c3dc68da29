// What one task produced, as the SDK hands it out, and its conversion from
// the wire's TaskResult.
#ifndef BATCHEXEC_CLIENT_TASK_OUTPUT_H_
#define BATCHEXEC_CLIENT_TASK_OUTPUT_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "google/protobuf/struct.pb.h"

namespace batchexec {

// The result of a task that succeeded.
struct TaskOutput {
  size_t index = 0;                // position in the request
  std::string id;                  // the task's id, echoed back
  google::protobuf::Value output;  // kind-specific JSON value
  std::string payload;             // binary output, if the kind makes one
  // When the task started and ended, measured from its batch's start on the
  // server that ran it.
  absl::Duration started_after = absl::ZeroDuration();
  absl::Duration finished_after = absl::ZeroDuration();
  // Runs the task took, retries included (a failed task's status message
  // says "after N attempts: " when it took more than one).
  int attempts = 0;

  absl::Duration run_time() const { return finished_after - started_after; }
};

// A failed task's result as the server sent it, without output: its
// index, id, timings and attempts. The SDK hands a failed task out as the
// status inside its StatusOr<TaskOutput> (on_result, GatherAll,
// GatherResult::results) and attaches these to that status as a payload,
// under kTaskDetailsTypeUrl, as gRPC's rich error model attaches details.
// Why a payload and not a result struct in place of StatusOr: every form
// (Gather, GatherAll, on_result) and every caller already speaks
// StatusOr<TaskOutput>, the folly-Try shape of gather, and keeps compiling;
// a failure no server reported (a call that failed as a whole) simply has
// none; and it costs nothing on success.
//
//   if (!r.ok()) {
//     if (std::optional<TaskOutput> d = FailedTaskDetails(r.status())) {
//       ... d->id, d->attempts, d->run_time() ...
//     }
//   }
//
// Null if `status` carries none: OK, or a failure the server did not send
// as the task's result (call failed, server unreachable, cancelled before
// it answered). The returned output and payload are empty.
std::optional<TaskOutput> FailedTaskDetails(const absl::Status& status);

// The payload's type URL: the bytes are a batchexec.v1.TaskResult holding
// index (the task's position in the caller's batch), id, started_after,
// finished_after and attempts.
inline constexpr char kTaskDetailsTypeUrl[] =
    "type.googleapis.com/batchexec.v1.TaskResult";

// A wire result as the SDK reports it: the output if its status is OK, else
// that status (code and the server's message) with the result's details
// attached (FailedTaskDetails). `index` is the task's position in the
// caller's batch, which differs from result.index() when a batch was split
// across servers. Moves out of `result`; its output is copied instead when
// `result` lives on an arena (the SDK parses each stream message onto one:
// cheaper than a heap message per result).
absl::StatusOr<TaskOutput> ToTaskOutput(v1::TaskResult&& result, size_t index);

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_TASK_OUTPUT_H_
