// One v1::Task from one JSON object in the proto3 JSON mapping, parsed with
// RapidJSON: protobuf 3.21's JsonStringToMessage spends ~35 µs a line
// (its converter rebuilds type information per call; a cached TypeResolver
// is no faster), which made reading 100k tasks take seconds.
//
// Accepts what protobuf's parser accepts for a Task written as strict JSON
// (RFC 8259): field names as json_name or proto name, null for "not set",
// 64-bit-safe numbers as JSON numbers or decimal strings, durations like
// "1.5s", bytes as standard or URL-safe base64, NaN/Infinity only as
// strings of a double field. Protobuf's non-JSON leniencies (single quotes,
// bare keys, trailing commas) are errors here.
#ifndef BATCHEXEC_CLI_TASK_JSON_H_
#define BATCHEXEC_CLI_TASK_JSON_H_

#include <memory>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "batchexec/v1/batch.pb.h"

namespace batchexec {

// Reuses its parse buffers from one call to the next, so one parser per
// input is cheapest. Not thread-safe; no global state.
class TaskJsonParser {
 public:
  TaskJsonParser();
  ~TaskJsonParser();
  TaskJsonParser(const TaskJsonParser&) = delete;
  TaskJsonParser& operator=(const TaskJsonParser&) = delete;

  // Fills `task` (cleared first) from `json`, one JSON object, or returns
  // INVALID_ARGUMENT saying what is wrong and where ("args.x: ...").
  absl::Status Parse(absl::string_view json, v1::Task* task);

 private:
  struct Buffers;
  std::unique_ptr<Buffers> buffers_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_TASK_JSON_H_
