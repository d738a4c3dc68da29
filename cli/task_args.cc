#include "cli/task_args.h"

#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"

namespace batchexec {
namespace {

// The kinds whose one main argument a bare number sets.
absl::string_view NumberArgOf(absl::string_view kind) {
  if (kind == "sleep") return "seconds";
  if (kind == "primes") return "n";
  return "";
}

// The kinds whose one required argument is the text after the colon, as
// in http:https://example.com or grpc_health:127.0.0.1:50051.
absl::string_view TextArgOf(absl::string_view kind) {
  if (kind == "http") return "url";
  if (kind == "grpc_health") return "target";
  if (kind == "dns") return "name";
  return "";
}

bool IsKindChar(char c) { return absl::ascii_isalnum(c) || c == '_'; }

template <typename Message>
absl::Status FromJson(absl::string_view json, Message* message) {
  auto status = google::protobuf::util::JsonStringToMessage(
      google::protobuf::StringPiece(json.data(), json.size()), message);
  if (status.ok()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      std::string(status.message().data(), status.message().size()));
}

}  // namespace

bool LooksLikeTaskArg(absl::string_view arg) {
  if (!arg.empty() && arg.front() == '{') return true;
  const size_t colon = arg.find(':');
  if (colon == 0 || colon == absl::string_view::npos) return false;
  if (absl::ascii_isdigit(arg.front())) return false;
  for (char c : arg.substr(0, colon)) {
    if (!IsKindChar(c)) return false;
  }
  return true;
}

absl::StatusOr<v1::Task> ParseTaskArg(absl::string_view arg) {
  auto error = [&](absl::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("task argument '", arg, "': ", why));
  };
  v1::Task task;
  if (!arg.empty() && arg.front() == '{') {
    if (absl::Status s = FromJson(arg, &task); !s.ok()) {
      return error(absl::StrCat("not a valid task: ", s.message()));
    }
    if (task.kind().empty()) return error("\"kind\" is missing or empty");
    return task;
  }
  if (!LooksLikeTaskArg(arg)) {
    return error("expected KIND:ARGS, e.g. sleep:2 or echo:'{\"x\":1}'");
  }
  const size_t colon = arg.find(':');
  const absl::string_view kind = arg.substr(0, colon);
  const absl::string_view rest =
      absl::StripAsciiWhitespace(arg.substr(colon + 1));
  task.set_kind(std::string(kind));
  if (rest.empty()) return task;
  if (rest.front() == '{') {
    if (absl::Status s = FromJson(rest, task.mutable_args()); !s.ok()) {
      return error(absl::StrCat("args are not a JSON object: ", s.message()));
    }
    return task;
  }
  if (const absl::string_view field = TextArgOf(kind); !field.empty()) {
    (*task.mutable_args()->mutable_fields())[std::string(field)]
        .set_string_value(std::string(rest));
    return task;
  }
  double number;
  if (!absl::SimpleAtod(rest, &number)) {
    return error("after the colon: a JSON object of args, or a number");
  }
  const absl::string_view field = NumberArgOf(kind);
  if (field.empty()) {
    return error(absl::StrCat(
        "a bare number sets sleep's seconds or primes' "
        "n; give '",
        kind, "' its args as JSON, e.g. ", kind, ":'{\"name\": 1}'"));
  }
  (*task.mutable_args()->mutable_fields())[std::string(field)].set_number_value(
      number);
  return task;
}

}  // namespace batchexec
