#include "cli/task_reader.h"

#include <algorithm>
#include <string>
#include <thread>
#include <utility>
#include <vector>

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

// Appends the tasks of `text`, whole lines, the first numbered `first_line`.
absl::Status ParseLines(absl::string_view text, size_t first_line,
                        std::vector<v1::Task>& tasks) {
  TaskJsonParser parser;  // unknown fields are errors: a typo must not vanish
  tasks.reserve(tasks.size() + std::count(text.begin(), text.end(), '\n') + 1);
  for (size_t line_number = first_line; !text.empty(); ++line_number) {
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
  return absl::OkStatus();
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

absl::StatusOr<std::vector<v1::Task>> ParseTasksJsonl(absl::string_view text,
                                                      size_t parallel_bytes) {
  if (absl::StartsWith(text, kByteOrderMark)) {
    text.remove_prefix(kByteOrderMark.size());
  }
  std::vector<v1::Task> tasks;
  // The cut ends the line holding the middle byte.
  const size_t cut = text.size() >= parallel_bytes
                         ? text.find('\n', text.size() / 2)
                         : absl::string_view::npos;
  if (cut == absl::string_view::npos) {
    absl::Status status = ParseLines(text, 1, tasks);
    if (!status.ok()) return status;
    return tasks;
  }
  const absl::string_view first = text.substr(0, cut + 1);
  const absl::string_view second = text.substr(cut + 1);
  const size_t second_line = 1 + std::count(first.begin(), first.end(), '\n');
  std::vector<v1::Task> later;
  absl::Status later_status;
  std::thread helper(
      [&] { later_status = ParseLines(second, second_line, later); });
  absl::Status status = ParseLines(first, 1, tasks);
  helper.join();
  if (!status.ok()) return status;  // the earlier line's error
  if (!later_status.ok()) return later_status;
  tasks.reserve(tasks.size() + later.size());
  for (v1::Task& task : later) tasks.push_back(std::move(task));
  return tasks;
}

}  // namespace batchexec
