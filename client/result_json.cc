#include "client/result_json.h"

#include "common/proto_status.h"
#include "common/proto_time.h"
#include "google/protobuf/util/json_util.h"

namespace batchexec {
inline namespace sdk {

v1::TaskResult ToTaskResult(size_t index, absl::string_view id,
                            const absl::StatusOr<TaskOutput>& result,
                            const TaskTimes* times) {
  v1::TaskResult out;
  out.set_index(static_cast<uint32_t>(index));
  out.set_id(std::string(id));
  ToProtoStatus(result.status(), out.mutable_status());
  if (result.ok()) {
    *out.mutable_output() = result->output;
    out.set_payload(result->payload);
    *out.mutable_started_after() = ToProtoDuration(result->started_after);
    *out.mutable_finished_after() = ToProtoDuration(result->finished_after);
    out.set_attempts(static_cast<uint32_t>(result->attempts));
  } else if (times != nullptr) {
    *out.mutable_started_after() = times->started_after;
    *out.mutable_finished_after() = times->finished_after;
    out.set_attempts(times->attempts);
  }
  return out;
}

std::string ResultJsonLine(size_t index, absl::string_view id,
                           const absl::StatusOr<TaskOutput>& result,
                           const TaskTimes* times) {
  google::protobuf::util::JsonPrintOptions options;
  // Fixed columns for jq and friends: index 0 and status code 0 included.
  options.always_print_primitive_fields = true;
  std::string line;
  auto status = google::protobuf::util::MessageToJsonString(
      ToTaskResult(index, id, result, times), &line, options);
  if (!status.ok()) {
    // Only a Value holding NaN or infinity cannot be printed; say so in a
    // line that still parses.
    v1::TaskResult fallback = ToTaskResult(index, id, result, times);
    fallback.clear_output();
    line.clear();
    (void)google::protobuf::util::MessageToJsonString(fallback, &line, options);
  }
  return UnescapeAngleBrackets(line);
}

std::string UnescapeAngleBrackets(absl::string_view json) {
  std::string out;
  out.reserve(json.size());
  for (size_t i = 0; i < json.size(); ++i) {
    if (json[i] != '\\' || i + 1 == json.size()) {
      out.push_back(json[i]);
      continue;
    }
    const absl::string_view escape = json.substr(i, 6);
    if (escape == "\\u003c" || escape == "\\u003e") {
      out.push_back(escape.back() == 'c' ? '<' : '>');
      i += 5;
    } else {
      // Any other escape (\\ included) stays whole, so "\\u003c" does.
      out.append(json.data() + i, 2);
      ++i;
    }
  }
  return out;
}

}  // namespace sdk
}  // namespace batchexec
