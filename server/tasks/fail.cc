// The fail kind: ends with the status `code` and `message` it is given.
#include "absl/strings/str_cat.h"
#include "server/tasks/args.h"
#include "server/tasks/kinds.h"

namespace batchexec {
namespace {

absl::StatusOr<TaskKind> FailKind(const BuiltinKindsOptions&) {
  TaskKind kind;
  kind.name = "fail";
  kind.description =
      "Ends with the given status; for exercising error paths "
      "(code 2 UNKNOWN by default).";
  kind.args = {
      {"code", ArgType::kNumber, false,
       "gRPC status code to fail with, 1..16 (default 2, UNKNOWN)"},
      {"message", ArgType::kString, false,
       "status message (default \"task failed as asked\")"},
      {"times", ArgType::kNumber, false,
       "fail only the first this many attempts, then succeed with "
       "{\"attempt\": n} (for retries; default 0: every attempt fails)"},
  };
  kind.validate = [](const google::protobuf::Struct& args) {
    double code = NumberArg(args, "code", 2);
    if (!(code >= 1 && code <= 16) || code != static_cast<int>(code)) {
      return absl::InvalidArgumentError(
          absl::StrCat("args.code must be an integer 1..16, got ", code));
    }
    double times = NumberArg(args, "times", 0);
    if (!(times >= 0 && times <= 1e9) || times != static_cast<int64_t>(times)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "args.times must be a non-negative integer, got ", times));
    }
    return absl::OkStatus();
  };
  kind.reads_task_only_at_start = true;  // args are copied out here
  kind.handler = [](std::shared_ptr<TaskContext> task) {
    const auto times =
        static_cast<int64_t>(NumberArg(task->args(), "times", 0));
    if (times > 0 && task->attempt() > times) {
      HandlerOutput out;
      (*out.output.mutable_struct_value()->mutable_fields())["attempt"]
          .set_number_value(static_cast<double>(task->attempt()));
      task->Finish(std::move(out));
      return;
    }
    auto code = static_cast<absl::StatusCode>(
        static_cast<int>(NumberArg(task->args(), "code", 2)));
    task->Finish(absl::Status(
        code, StringArg(task->args(), "message", "task failed as asked")));
  };
  return kind;
}

[[maybe_unused]] const bool kRegistered = AddBuiltinKind(&FailKind);

}  // namespace

}  // namespace batchexec
