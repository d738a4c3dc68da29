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

namespace batchexec {
inline namespace sdk {

// The wire form of task `index`'s result. `id` is the task's id from the
// request (a failed result carries none of its own).
v1::TaskResult ToTaskResult(size_t index, absl::string_view id,
                            const absl::StatusOr<TaskOutput>& result);

// ToTaskResult as one line of JSON, without the newline.
std::string ResultJsonLine(size_t index, absl::string_view id,
                           const absl::StatusOr<TaskOutput>& result);

}  // namespace sdk
}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_RESULT_JSON_H_
