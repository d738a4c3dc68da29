#include "client/task_output.h"

#include <string>
#include <utility>

#include "absl/strings/cord.h"
#include "common/proto_status.h"
#include "common/proto_time.h"

namespace batchexec {
namespace {

void SetTimes(const v1::TaskResult& result, TaskOutput& out) {
  out.started_after = FromProtoDuration(result.started_after());
  out.finished_after = FromProtoDuration(result.finished_after());
  out.attempts = static_cast<int>(result.attempts());
}

}  // namespace

absl::StatusOr<TaskOutput> ToTaskOutput(v1::TaskResult&& result, size_t index) {
  absl::Status status = FromProtoStatus(result.status());
  if (!status.ok()) {
    v1::TaskResult details;
    details.set_index(static_cast<uint32_t>(index));
    details.set_id(std::move(*result.mutable_id()));
    if (result.has_started_after()) {
      *details.mutable_started_after() = result.started_after();
    }
    if (result.has_finished_after()) {
      *details.mutable_finished_after() = result.finished_after();
    }
    details.set_attempts(result.attempts());
    status.SetPayload(kTaskDetailsTypeUrl,
                      absl::Cord(details.SerializeAsString()));
    return status;
  }
  TaskOutput out;
  out.index = index;
  out.id = std::move(*result.mutable_id());
  out.output = std::move(*result.mutable_output());
  out.payload = std::move(*result.mutable_payload());
  SetTimes(result, out);
  return out;
}

std::optional<TaskOutput> FailedTaskDetails(const absl::Status& status) {
  if (status.ok()) return std::nullopt;
  const auto payload =
      status.GetPayload(kTaskDetailsTypeUrl);  // absl::optional
  if (!payload.has_value()) return std::nullopt;
  v1::TaskResult details;
  if (!details.ParseFromString(std::string(*payload))) return std::nullopt;
  TaskOutput out;
  out.index = details.index();
  out.id = std::move(*details.mutable_id());
  SetTimes(details, out);
  return out;
}

}  // namespace batchexec
