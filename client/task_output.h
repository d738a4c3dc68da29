// What one task produced, as the SDK hands it out, and its conversion from
// the wire's TaskResult.
#ifndef BATCHEXEC_CLIENT_TASK_OUTPUT_H_
#define BATCHEXEC_CLIENT_TASK_OUTPUT_H_

#include <cstddef>
#include <string>

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

// A wire result as the SDK reports it: the output if its status is OK, else
// that status (code and the server's message). `index` is the task's
// position in the caller's batch, which differs from result.index() when a
// batch was split across servers. Moves out of `result`; its output is
// copied instead when `result` lives on an arena (the SDK parses each
// stream message onto one: cheaper than a heap message per result).
absl::StatusOr<TaskOutput> ToTaskOutput(v1::TaskResult&& result, size_t index);

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_TASK_OUTPUT_H_
