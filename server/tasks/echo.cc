// The echo kind: its output is its args.
#include "server/tasks/kinds.h"

namespace batchexec {
namespace {

absl::StatusOr<TaskKind> EchoKind(const BuiltinKindsOptions&) {
  TaskKind kind;
  kind.name = "echo";
  kind.description = "Returns its args unchanged as the output.";
  kind.handler = [](std::shared_ptr<TaskContext> task) {
    HandlerOutput out;
    out.output_is_args = true;  // no copy of the args (see HandlerOutput)
    out.payload = task->payload();
    task->Finish(std::move(out));
  };
  return kind;
}

[[maybe_unused]] const bool kRegistered = AddBuiltinKind(&EchoKind);

}  // namespace

}  // namespace batchexec
