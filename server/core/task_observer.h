// What a batch reports about each task as it ends, for counting (metrics).
// gRPC-free; the executor passes one to its batches.
#ifndef BATCHEXEC_SERVER_CORE_TASK_OBSERVER_H_
#define BATCHEXEC_SERVER_CORE_TASK_OBSERVER_H_

#include "absl/time/time.h"
#include "server/core/task_registry.h"

namespace batchexec {

class TaskObserver {
 public:
  virtual ~TaskObserver() = default;
  // A task of `kind` ended with status `code` (absl and gRPC codes are the
  // same numbers) after running for `ran`; InfiniteDuration if it never
  // started (cancelled while queued). Called with the batch's lock held,
  // once per task, from any thread: must be cheap and must not block.
  virtual void TaskEnded(const TaskKind& kind, int code,
                         absl::Duration ran) = 0;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_TASK_OBSERVER_H_
