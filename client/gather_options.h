// How to run one batch: concurrency, failure policy, time limits and the
// callbacks of the asynchronous form.
#ifndef BATCHEXEC_CLIENT_GATHER_OPTIONS_H_
#define BATCHEXEC_CLIENT_GATHER_OPTIONS_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/progress.h"
#include "client/retry_policy.h"
#include "client/task_output.h"

namespace batchexec {

enum class FailurePolicy {
  // Like asyncio.gather: the first failure cancels the tasks still queued or
  // running (they end CANCELLED), on every server of a split batch.
  kFailFast,
  // Like asyncio.gather(return_exceptions=True): every task runs to its own
  // end.
  kCollectAll,
};

struct GatherResult;

struct GatherOptions {
  // Most tasks of the batch running at once on a server; 0 means the
  // server's default. A batch split across servers gets this limit on each.
  uint32_t max_concurrency = 0;

  // Unset: Gather and StartGather use kFailFast, GatherAll kCollectAll.
  std::optional<FailurePolicy> failure_policy;

  // Default time limit of each task (Task::WithTimeout overrides it); a task
  // past it ends DEADLINE_EXCEEDED. Infinite: no per-task limit.
  absl::Duration task_timeout = absl::InfiniteDuration();

  // How the server retries failed tasks (Task::WithRetry overrides it);
  // unset: each task runs once. Task::WithTimeout bounds each attempt, the
  // call's timeout all of them.
  std::optional<RetryPolicy> retry;

  // Most task starts per second on a server, retries included, evenly
  // spaced; 0 means no limit. A batch split across servers gets this rate
  // on each.
  double max_starts_per_second = 0;

  // Limits on the whole call, measured from its start and absolute; the
  // earlier applies. Past it the call ends, the server cancels what still
  // runs, and tasks without a result get DEADLINE_EXCEEDED.
  absl::Duration timeout = absl::InfiniteDuration();
  absl::Time deadline = absl::InfiniteFuture();

  // Wait for a server that is not reachable yet (until the deadline) instead
  // of failing UNAVAILABLE at once.
  bool wait_for_ready = false;

  // Callbacks. They run on gRPC's callback threads, or inline in
  // GatherCall::Cancel (a cancelled stream may report on the canceller's
  // thread); when the call ends before any server answers (no channel, or
  // a part that failed at once) on a thread of the SDK's own. Never on the
  // thread inside Client::StartGather (nor Gather, GatherAll). One at a
  // time for a given call, never concurrently, in the order the events
  // were recorded. They must not block: hand long work to another thread.
  // They may call Cancel on any call, but must not wait for or destroy one
  // (nor run a synchronous Gather): Wait and TakeResult then return at once
  // with FAILED_PRECONDITION naming the misuse. Only on_done may wait for
  // and destroy its own call.

  // Every part's server accepted the batch (its first event): called once,
  // before any result those servers sent, and never for a batch a server
  // rejected (e.g. an unknown kind: every task then fails
  // INVALID_ARGUMENT).
  std::function<void()> on_accepted;
  // The batch's counts changed. Called with non-decreasing `completed`.
  std::function<void(const Progress& progress)> on_progress;
  // A task ended: called exactly once per index, in completion order, before
  // on_done. `index` is the task's position in the request. A failed
  // task's status carries what the server sent with it (id, attempts,
  // timings): FailedTaskDetails(result.status()).
  std::function<void(size_t index, const absl::StatusOr<TaskOutput>& result)>
      on_result;
  // false: once on_result has returned, the call forgets the task's output
  // and payload, so a caller that consumes results as they come (the CLI
  // prints them) does not also hold every output until the batch ends.
  // GatherResult::results then keeps each task's status, id, timings and
  // attempts, with an empty output and payload.
  bool keep_outputs = true;
  // Every task has its result; called once, last.
  std::function<void(const GatherResult& result)> on_done;
};

// The outcome of a whole batch.
struct GatherResult {
  // One entry per task, in request order.
  std::vector<absl::StatusOr<TaskOutput>> results;
  // OK if every task succeeded. Otherwise the first failure the client
  // learned of, preferring anything over CANCELLED (which is usually a
  // consequence): a task's status as "task I (id \"x\") failed: ...", or
  // the status of a call that failed as a whole (server unreachable, batch
  // rejected, deadline), or CANCELLED if the caller cancelled.
  absl::Status status;
  // Final counts (running and queued are 0).
  Progress progress;
  // Wall time of the call, measured by the client.
  absl::Duration elapsed = absl::ZeroDuration();
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_GATHER_OPTIONS_H_
