#include "cli/result_json.h"

#include "absl/strings/str_cat.h"
#include "cli/proto_json_writer.h"
#include "common/proto_status.h"
#include "common/proto_time.h"

namespace batchexec {

TaskResultView ViewOf(const v1::TaskResult& result) {
  TaskResultView view;
  view.index = result.index();
  view.id = result.id();
  view.has_status = result.has_status();
  view.code = result.status().code();
  view.message = result.status().message();
  if (result.has_output()) view.output = &result.output();
  view.payload = result.payload();
  if (result.has_started_after()) view.started_after = result.started_after();
  if (result.has_finished_after()) {
    view.finished_after = result.finished_after();
  }
  view.attempts = result.attempts();
  return view;
}

void AppendTaskResultJson(const TaskResultView& r, std::string* out) {
  absl::StrAppend(out, "{\"index\":", r.index, ",\"id\":");
  AppendJsonString(r.id, out);
  if (r.has_status) {
    absl::StrAppend(out, ",\"status\":{\"code\":", r.code, ",\"message\":");
    AppendJsonString(r.message, out);
    out->push_back('}');
  }
  // protobuf 3.21 prints the fields it pre-fills with defaults in field
  // order, and the rest after them as they come: an object output sits in
  // its place, any other output and the durations follow "attempts".
  using google::protobuf::Value;
  const bool has_output =
      r.output != nullptr && r.output->kind_case() != Value::KIND_NOT_SET;
  const bool object_output =
      has_output && r.output->kind_case() == Value::kStructValue;
  if (object_output) {
    out->append(",\"output\":");
    AppendJsonValue(*r.output, out);
  }
  out->append(",\"payload\":");
  AppendJsonBytes(r.payload, out);
  absl::StrAppend(out, ",\"attempts\":", r.attempts);
  if (has_output && !object_output) {
    out->append(",\"output\":");
    AppendJsonValue(*r.output, out);
  }
  for (const auto& [name, duration] :
       {std::pair{",\"startedAfter\":", &r.started_after},
        std::pair{",\"finishedAfter\":", &r.finished_after}}) {
    if (!duration->has_value()) continue;
    const size_t size = out->size();
    out->append(name);
    if (!AppendJsonDuration(**duration, out)) out->resize(size);
  }
  out->push_back('}');
}

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

void AppendResultJsonLine(size_t index, absl::string_view id,
                          const absl::StatusOr<TaskOutput>& result,
                          const TaskTimes* times, std::string* out) {
  // ToTaskResult's fields, borrowed.
  TaskResultView view;
  view.index = static_cast<uint32_t>(index);
  view.id = id;
  view.has_status = true;
  view.code = static_cast<int32_t>(result.status().code());
  view.message = result.status().message();
  if (result.ok()) {
    view.output = &result->output;
    view.payload = result->payload;
    view.started_after = ToProtoDuration(result->started_after);
    view.finished_after = ToProtoDuration(result->finished_after);
    view.attempts = static_cast<uint32_t>(result->attempts);
  } else if (times != nullptr) {
    view.started_after = times->started_after;
    view.finished_after = times->finished_after;
    view.attempts = times->attempts;
  }
  AppendTaskResultJson(view, out);
}

std::string ResultJsonLine(size_t index, absl::string_view id,
                           const absl::StatusOr<TaskOutput>& result,
                           const TaskTimes* times) {
  std::string line;
  AppendResultJsonLine(index, id, result, times, &line);
  return line;
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

}  // namespace batchexec
