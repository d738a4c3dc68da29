// The sleep kind: waits `seconds` on the shared timer thread (no thread held).
#include "absl/strings/str_cat.h"
#include "server/core/limits.h"
#include "server/tasks/args.h"
#include "server/tasks/kinds.h"

namespace batchexec {
namespace {

absl::StatusOr<TaskKind> SleepKind(const BuiltinKindsOptions&) {
  TaskKind kind;
  kind.name = "sleep";
  kind.description =
      "Waits `seconds` on a timer (holds no thread), then returns the "
      "seconds slept, as a number.";
  kind.args = {{"seconds", ArgType::kNumber, true,
                absl::StrCat("how long to wait, in seconds (0 to ",
                             absl::ToDoubleSeconds(kMaxSleep), ")")}};
  kind.validate = [](const google::protobuf::Struct& args) {
    double s = NumberArg(args, "seconds", 0);
    if (!(s >= 0 && s <= absl::ToDoubleSeconds(kMaxSleep))) {
      return absl::InvalidArgumentError(
          absl::StrCat("args.seconds must be between 0 and ",
                       absl::ToDoubleSeconds(kMaxSleep), ", got ", s));
    }
    return absl::OkStatus();
  };
  // The args are read here only: a batch of sleeps is kept as wire bytes.
  kind.reads_task_only_at_start = true;
  kind.handler = [](std::shared_ptr<TaskContext> task) {
    const double seconds = NumberArg(task->args(), "seconds", 0);
    TimerQueue& timers = task->env().timers;
    TimerQueue::TimerId id =
        timers.ScheduleAfter(absl::Seconds(seconds), [task, seconds] {
          // A plain number, not an object: a client parses 100k results
          // of a big sleep batch with no map per result.
          HandlerOutput out;
          out.output.set_number_value(seconds);
          task->Finish(std::move(out));
        });
    // On cancel, drop the timer (and with it its reference to the task).
    task->OnCancel([&timers, id] { timers.Cancel(id); });
  };
  return kind;
}

[[maybe_unused]] const bool kRegistered = AddBuiltinKind(&SleepKind);

}  // namespace

}  // namespace batchexec
