// How the CLI prints a task's result: one line of proto3 JSON of a
// v1::TaskResult, every field present, e.g.
//   {"index":0,"id":"a","status":{"code":0,"message":""},
//    "output":1,"payload":"","startedAfter":"0.000012s",
//    "finishedAfter":"1.000341s"}
#ifndef BATCHEXEC_CLIENT_RESULT_JSON_H_
#define BATCHEXEC_CLIENT_RESULT_JSON_H_

#include <cstddef>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "batchexec/v1/batch.pb.h"
#include "client/task_output.h"
#include "google/protobuf/duration.pb.h"

namespace batchexec {
inline namespace sdk {

// When a task ran, as the server sent it. The SDK hands a failed task out
// as a bare status, so the CLI keeps these from the stream for it.
struct TaskTimes {
  google::protobuf::Duration started_after;
  google::protobuf::Duration finished_after;
  uint32_t attempts = 0;  // TaskResult.attempts
};

// The wire form of task `index`'s result. `id` is the task's id from the
// request (a failed result carries none of its own). `times`, if given,
// fills in the timing of a failed result.
v1::TaskResult ToTaskResult(size_t index, absl::string_view id,
                            const absl::StatusOr<TaskOutput>& result,
                            const TaskTimes* times = nullptr);

// ToTaskResult as one line of JSON, without the newline.
std::string ResultJsonLine(size_t index, absl::string_view id,
                           const absl::StatusOr<TaskOutput>& result,
                           const TaskTimes* times = nullptr);

// `json` (from protobuf's printer) with its HTML-safe escapes \u003c and
// \u003e turned back into < and >: a terminal is no HTML page, and grpcurl
// prints them plainly too.
std::string UnescapeAngleBrackets(absl::string_view json);

}  // namespace sdk
}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_RESULT_JSON_H_
