#include "client/task_output.h"

#include <utility>

#include "common/proto_status.h"
#include "common/proto_time.h"

namespace batchexec {

absl::StatusOr<TaskOutput> ToTaskOutput(v1::TaskResult&& result, size_t index) {
  absl::Status status = FromProtoStatus(result.status());
  if (!status.ok()) return status;
  TaskOutput out;
  out.index = index;
  out.id = std::move(*result.mutable_id());
  out.output = std::move(*result.mutable_output());
  out.payload = std::move(*result.mutable_payload());
  out.started_after = FromProtoDuration(result.started_after());
  out.attempts = static_cast<int>(result.attempts());
  out.finished_after = FromProtoDuration(result.finished_after());
  return out;
}

}  // namespace batchexec
