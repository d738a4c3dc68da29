#include "cli/task_reader.h"

#include <algorithm>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "cli/task_json.h"

namespace batchexec {
namespace {

constexpr absl::string_view kByteOrderMark = "\xEF\xBB\xBF";

absl::Status LineError(size_t line, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("line ", line, ": ", what));
}

}  // namespace

std::string TidyJsonError(absl::string_view message) {
  const size_t end = message.find('\n');
  if (end == absl::string_view::npos) return std::string(message);
  absl::string_view context = message.substr(end + 1);
  context = context.substr(0, context.find('\n'));
  if (absl::StripAsciiWhitespace(context).empty()) {
    return std::string(message.substr(0, end));
  }
  return std::string(message);
}

absl::StatusOr<std::vector<v1::Task>> ParseTasksJsonl(absl::string_view text) {
  if (absl::StartsWith(text, kByteOrderMark)) {
    text.remove_prefix(kByteOrderMark.size());
  }
  TaskJsonParser parser;  // unknown fields are errors: a typo must not vanish
  std::vector<v1::Task> tasks;
  tasks.reserve(std::count(text.begin(), text.end(), '\n') + 1);
  size_t line_number = 0;
  while (!text.empty()) {
    ++line_number;
    const size_t end = text.find('\n');
    absl::string_view line = text.substr(0, end);
    text.remove_prefix(end == absl::string_view::npos ? text.size() : end + 1);
    line = absl::StripAsciiWhitespace(line);  // also a CR before the LF
    if (line.empty()) continue;
    if (line.front() != '{') {
      return LineError(line_number,
                       "expected a JSON object like {\"kind\": \"sleep\", "
                       "\"args\": {\"seconds\": 1}}");
    }
    v1::Task task;
    if (absl::Status status = parser.Parse(line, &task); !status.ok()) {
      return LineError(line_number,
                       absl::StrCat("not a valid task: ", status.message()));
    }
    if (task.kind().empty()) {
      return LineError(line_number, "\"kind\" is missing or empty");
    }
    tasks.push_back(std::move(task));
  }
  return tasks;
}

}  // namespace batchexec
