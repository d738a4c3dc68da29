// How the CLI prints a task's result: one line of proto3 JSON of a
// v1::TaskResult, every scalar field present, byte for byte what protobuf
// 3.21's MessageToJsonString (always_print_primitive_fields) prints, with
// '<' and '>' left plain, e.g.
//   {"index":0,"id":"a","status":{"code":0,"message":""},"output":{"x":1},
//    "payload":"","attempts":1,"startedAfter":"0.000012s",
//    "finishedAfter":"0.000020s"}
// (protobuf prints an output that is not an object, and the durations,
// after "attempts"; so does this).
#ifndef BATCHEXEC_CLI_RESULT_JSON_H_
#define BATCHEXEC_CLI_RESULT_JSON_H_

#include <cstddef>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "batchexec/v1/batch.pb.h"
#include "client/task_output.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/struct.pb.h"

namespace batchexec {

// When a failed task ran, as the server sent it (the SDK attaches it to
// the task's status: FailedTaskDetails).
struct TaskTimes {
  google::protobuf::Duration started_after;
  google::protobuf::Duration finished_after;
  uint32_t attempts = 0;  // TaskResult.attempts
};

// The fields of a TaskResult, borrowed: what the CLI prints without copying
// a result's output into a message first.
struct TaskResultView {
  uint32_t index = 0;
  absl::string_view id;
  bool has_status = false;
  int32_t code = 0;
  absl::string_view message;
  const google::protobuf::Value* output = nullptr;  // null: not set
  absl::string_view payload;
  std::optional<google::protobuf::Duration> started_after;
  std::optional<google::protobuf::Duration> finished_after;
  uint32_t attempts = 0;
};

// `result`'s fields; valid while `result` is.
TaskResultView ViewOf(const v1::TaskResult& result);

// Appends the JSON of `result` (no newline). A duration outside Duration's
// range, which protobuf refuses to print, is left out.
void AppendTaskResultJson(const TaskResultView& result, std::string* out);

// The wire form of task `index`'s result. `id` is the task's id from the
// request (a failed result carries none of its own). `times`, if given,
// fills in the timing of a failed result.
v1::TaskResult ToTaskResult(size_t index, absl::string_view id,
                            const absl::StatusOr<TaskOutput>& result,
                            const TaskTimes* times = nullptr);

// ToTaskResult's JSON appended to `out`, without the newline, and without
// building the message.
void AppendResultJsonLine(size_t index, absl::string_view id,
                          const absl::StatusOr<TaskOutput>& result,
                          const TaskTimes* times, std::string* out);

// The same as a string.
std::string ResultJsonLine(size_t index, absl::string_view id,
                           const absl::StatusOr<TaskOutput>& result,
                           const TaskTimes* times = nullptr);

// `json` (from protobuf's printer) with its HTML-safe escapes \u003c and
// \u003e turned back into < and >: a terminal is no HTML page, and grpcurl
// prints them plainly too.
std::string UnescapeAngleBrackets(absl::string_view json);

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_RESULT_JSON_H_
