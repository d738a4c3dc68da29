#include "server/core/access_log.h"

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/status_code_name.h"

namespace batchexec {
namespace {

std::string Timestamp(absl::Time t) {
  return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone());
}

// A plain value: bare when it is a simple word, else quoted, with quotes and
// backslashes escaped, so a caller name with spaces cannot fake another field.
std::string PlainValue(absl::string_view v) {
  bool bare = !v.empty();
  for (char c : v) {
    if (c <= ' ' || c == '"' || c == '\\' || c == '=' || c == 0x7f) {
      bare = false;
      break;
    }
  }
  if (bare) return std::string(v);
  std::string out = "\"";
  for (char c : v) {
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) {
      absl::StrAppend(&out, absl::StrFormat("\\x%02x", c));
    } else {
      out += c;
    }
  }
  out += '"';
  return out;
}

std::string JsonString(absl::string_view v) {
  std::string out = "\"";
  for (char c : v) {
    switch (c) {
      case '"':
        out += "\\\"";
        break;
      case '\\':
        out += "\\\\";
        break;
      case '\n':
        out += "\\n";
        break;
      case '\r':
        out += "\\r";
        break;
      case '\t':
        out += "\\t";
        break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          absl::StrAppend(&out, absl::StrFormat("\\u%04x", c));
        } else {
          out += c;
        }
    }
  }
  out += '"';
  return out;
}

std::string Seconds(absl::Duration d) {
  return absl::StrFormat("%.6f", absl::ToDoubleSeconds(d));
}

}  // namespace

void AccessRecord::SetRequest(const v1::ExecuteRequest& request,
                              int64_t batch_tasks) {
  tasks = batch_tasks;
  policy =
      request.failure_policy() == v1::COLLECT_ALL ? "COLLECT_ALL" : "FAIL_FAST";
}

void AccessRecord::SetSummary(const v1::Summary& summary) {
  outcome = StatusCodeName(summary.outcome().code());
  failed = summary.progress().failed();
  wall = absl::Seconds(summary.wall_time().seconds()) +
         absl::Nanoseconds(summary.wall_time().nanos());
}

absl::StatusOr<std::unique_ptr<AccessLog>> AccessLog::Open(
    const std::string& where, Format format) {
  if (where == "none" || where.empty()) return nullptr;
  if (where == "stderr") {
    return std::unique_ptr<AccessLog>(new AccessLog(stderr, false, format));
  }
  std::FILE* file = std::fopen(where.c_str(), "a");
  if (file == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("cannot open ", where, ": ", std::strerror(errno)));
  }
  return std::unique_ptr<AccessLog>(new AccessLog(file, true, format));
}

absl::StatusOr<AccessLog::Format> AccessLog::ParseFormat(
    absl::string_view name) {
  if (name == "plain") return Format::kPlain;
  if (name == "json") return Format::kJson;
  return absl::InvalidArgumentError(
      absl::StrCat("must be plain or json (got '", name, "')"));
}

AccessLog::~AccessLog() {
  MutexLock lock(&mu_);
  if (owned_) std::fclose(file_);
}

std::string AccessLog::FormatPlain(const AccessRecord& r) {
  return absl::StrCat(
      Timestamp(r.time), " access method=", PlainValue(r.method),
      " batch=", PlainValue(r.batch_id), " caller=", PlainValue(r.caller),
      " peer=", PlainValue(r.peer), " tasks=", r.tasks,
      " policy=", PlainValue(r.policy), " outcome=", PlainValue(r.outcome),
      " failed=", r.failed, " wall=", Seconds(r.wall), "s",
      " bytes_in=", r.bytes_in, " bytes_out=", r.bytes_out, "\n");
}

std::string AccessLog::FormatJson(const AccessRecord& r) {
  return absl::StrCat(
      "{\"time\":", JsonString(Timestamp(r.time)),
      ",\"method\":", JsonString(r.method),
      ",\"batch\":", JsonString(r.batch_id),
      ",\"caller\":", JsonString(r.caller), ",\"peer\":", JsonString(r.peer),
      ",\"tasks\":", r.tasks, ",\"policy\":", JsonString(r.policy),
      ",\"outcome\":", JsonString(r.outcome), ",\"failed\":", r.failed,
      ",\"wall_seconds\":", Seconds(r.wall), ",\"bytes_in\":", r.bytes_in,
      ",\"bytes_out\":", r.bytes_out, "}\n");
}

void AccessLog::Write(const AccessRecord& record) {
  const std::string line =
      format_ == Format::kJson ? FormatJson(record) : FormatPlain(record);
  MutexLock lock(&mu_);
  std::fwrite(line.data(), 1, line.size(), file_);
  std::fflush(file_);
}

}  // namespace batchexec
