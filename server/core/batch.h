// One running batch: admits its tasks in request order through the per-batch
// limit and the server-wide FairSemaphore, runs them, applies the failure
// policy, and reports every task's result exactly once to its BatchSink.
#ifndef BATCHEXEC_SERVER_CORE_BATCH_H_
#define BATCHEXEC_SERVER_CORE_BATCH_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "common/mutex.h"
#include "server/core/caller.h"
#include "server/core/fair_semaphore.h"
#include "server/core/result_size.h"
#include "server/core/retry_policy.h"
#include "server/core/task_context.h"
#include "server/core/task_list.h"
#include "server/core/task_observer.h"
#include "server/core/task_registry.h"

namespace batchexec {

// Receives a batch's events. The On* calls are made with the batch's lock
// held, in order (results before OnBatchDone): they only buffer, and must
// neither block nor call into the batch. Flush() follows outside the lock, from
// the same thread, to deliver what was buffered (e.g. start a gRPC write, which
// may complete inline); it may come after OnBatchDone and more than once.
class BatchSink {
 public:
  virtual ~BatchSink() = default;
  virtual void Flush() {}
  // Tasks started; counts changed.
  virtual void OnProgress(const v1::Progress& progress) {}
  // The empty message task `index`'s result is to be written into; OnResult
  // follows at once, under the same lock hold. Lets a sink keep results
  // where they go out (e.g. the response's slot, on its arena): no copy.
  virtual v1::TaskResult* NewResult(uint32_t index) = 0;
  // Before OnResult, under the same lock hold: the sink charges the result
  // it is to hold (`fit.bytes`) to its memory budget (ResultCharge). An
  // error (RESOURCE_EXHAUSTED naming the budget) has the batch replace the
  // result by that error, which then ends the task, and Hold that instead.
  virtual absl::Status Hold(const ResultFit& fit) { return absl::OkStatus(); }
  // That result is complete (once per task, in completion order), already
  // sized (`fit`): fitted under the per-result limit if it succeeded
  // (FitResult), only sized if it failed (SizeResult).
  virtual void OnResult(v1::TaskResult* result, const ResultFit& fit,
                        const v1::Progress& progress) = 0;
  // The last call; the batch forgets the sink after it. `call_status` is
  // why the whole call was cancelled (client, deadline, shutdown), OK if it
  // was not: a fail-fast stop is the batch's outcome, not the call's.
  // Named apart from gRPC's reactor OnDone(): a reactor may be a sink too.
  virtual void OnBatchDone(const v1::Summary& summary,
                           const absl::Status& call_status) = 0;
  // True while the sink holds so many undelivered results that the batch
  // should start no more tasks; the sink calls Batch::Resume() when it
  // drains.
  virtual bool Backlogged() const { return false; }
  // True if the sink is done with every result (sent, freed) before the
  // batch, and with it the request, is gone: a result may then point into
  // the request instead of copying from it (echo's output, its args).
  virtual bool ResultsMayBorrowFromRequest() const { return false; }
};

struct BatchOptions {
  int64_t max_concurrency = 1;
  bool fail_fast = true;
  absl::Duration task_timeout = absl::InfiniteDuration();  // per task
  absl::Time deadline = absl::InfiniteFuture();            // whole call
  RetryPlan retry;           // tasks without a retry_policy of their own
  int64_t max_attempts = 1;  // cap on a task's own policy (--max_attempts)
  double max_starts_per_second = 0;  // 0: no limit
  // Told of each task's end (the server's metrics); may be null.
  TaskObserver* observer = nullptr;
};

class Batch final : public TaskContext::Owner,
                    public FairSemaphore::Client,
                    public std::enable_shared_from_this<Batch> {
 public:
  // `tasks` must be validated. `kinds[i]` is the kind of task i.
  // `on_done` runs once after the sink's OnBatchDone, outside the lock.
  // `caller` is shared by the caller's batches: its address names the
  // caller in the fair shares.
  Batch(std::string id, std::shared_ptr<const Caller> caller, TaskList tasks,
        std::vector<const TaskKind*> kinds, BatchOptions options,
        TaskEnvironment& env, FairSemaphore& semaphore,
        std::shared_ptr<BatchSink> sink, absl::AnyInvocable<void()> on_done);
  ~Batch() override;

  // Starts admitting tasks. Call once, after construction.
  void Start();

  // Ends every queued and running task with `why` (CANCELLED, or
  // DEADLINE_EXCEEDED for a deadline); tasks that already ended keep their
  // results. Thread-safe; idempotent (a later call ends more of the queued
  // tasks if the sink takes them now).
  void Cancel(absl::Status why);

  // The sink drained its backlog: start tasks again (or, once cancelled,
  // end more of the queued ones).
  void Resume();

  const std::string& id() const { return id_; }
  const Caller& caller() const { return *caller_; }
  // Stable per caller name, so CPU work posted after the batch ended (a
  // Gather's serialization) still takes its caller's turn.
  const void* caller_key() const override { return CpuTurnKey(caller_->name); }
  int64_t max_concurrency() const { return options_.max_concurrency; }
  double max_starts_per_second() const {
    return options_.max_starts_per_second;
  }
  v1::Progress progress() const;
  // Tasks not yet started, or waiting to retry (for the server's counters).
  int64_t queued() const;
  // Tasks running now.
  int64_t running() const;

 private:
  int64_t OnSlots(int64_t offered) override;
  void OnTaskEnded(TaskContext& task,
                   absl::StatusOr<HandlerOutput> result) override;

  // Creates the context of the next task to run (a retry whose backoff
  // ended, else task `next_`), links it as running and takes a start
  // permit. A wire task is parsed onto `arena`.
  std::shared_ptr<TaskContext> StartNextLocked(google::protobuf::Arena* arena)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Unlinks an ended task from the running list.
  void UnlinkLocked(TaskContext& task) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // If `task`, which failed with `status`, is to run again under its retry
  // policy: schedules the retry after its backoff, frees its slot and
  // returns true (its result is not emitted).
  bool RetryIfAllowed(TaskContext& task, const absl::Status& status);
  // Task `index`'s backoff ended: it waits for a slot, before next_.
  void OnBackoffEnded(uint32_t index);
  // Ends the tasks waiting to retry (backing off or waiting for a slot)
  // with `why`'s code (DEADLINE_EXCEEDED, else CANCELLED).
  void EndWaitingRetriesLocked(const absl::Status& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True if the rate limit lets a task start now; else arms the batch's one
  // permit timer for when it will.
  bool HasPermitLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The permit timer fired.
  void OnPermit();
  void RunTask(const std::shared_ptr<TaskContext>& task, const TaskKind& kind);
  // Marks the batch cancelled and ends its queued tasks, and those waiting
  // to retry with `waiting_end`; returns the running ones for the caller to
  // cancel outside the lock.
  std::vector<std::shared_ptr<TaskContext>> CancelLocked(
      absl::Status why, const absl::Status& waiting_end)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends queued tasks of a cancelled batch with not_started_ while the sink
  // takes results; Resume() continues once it drained.
  void EmitNotStartedLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Where task `index`'s result goes (the sink's message, or scratch_).
  v1::TaskResult* NewResultLocked(uint32_t index)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Counts a result written into NewResultLocked's message and passes it on,
  // once the sink holds it (BatchSink::Hold). Returns the sink's refusal:
  // the result then says that error instead.
  absl::Status EmitLocked(v1::TaskResult* result, bool ok, ResultFit fit)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  v1::Progress ProgressLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // True if the batch can start a task now (may arm the permit timer).
  bool WantsSlotLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // After the last result: sends OnBatchDone, flushes, runs on_done_. Once.
  void FinishIfDone();
  // Delivers what the sink buffered; call outside the lock.
  void Flush();

  const std::string id_;
  const std::shared_ptr<const Caller> caller_;
  const TaskList tasks_;
  const std::vector<const TaskKind*> kinds_;
  const BatchOptions options_;
  const int64_t size_;
  TaskEnvironment& env_;
  FairSemaphore& semaphore_;
  const absl::Time start_time_;
  const absl::Duration start_interval_;  // 1 / max_starts_per_second, or 0

  mutable Mutex mu_;
  std::shared_ptr<BatchSink> sink_
      ABSL_GUARDED_BY(mu_);                // null after OnBatchDone
  int64_t next_ ABSL_GUARDED_BY(mu_) = 0;  // first task not yet started
  int64_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t cancelled_count_ ABSL_GUARDED_BY(mu_) = 0;
  // Running tasks, linked through TaskContext::prev_/next_.
  TaskContext* running_ ABSL_GUARDED_BY(mu_) = nullptr;
  int64_t running_count_ ABSL_GUARDED_BY(mu_) = 0;
  v1::TaskResult scratch_ ABSL_GUARDED_BY(mu_);  // results with no sink
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status not_started_ ABSL_GUARDED_BY(mu_);  // queued tasks' end
  absl::Status call_status_ ABSL_GUARDED_BY(mu_);
  // First failure (fail-fast) or the cancellation reason.
  absl::Status outcome_ ABSL_GUARDED_BY(mu_);
  bool done_reported_ ABSL_GUARDED_BY(mu_) = false;
  absl::AnyInvocable<void()> on_done_ ABSL_GUARDED_BY(mu_);
  TimerQueue::TimerId deadline_timer_ ABSL_GUARDED_BY(mu_) = 0;

  // Retries. Only tasks that failed and run again have an entry, so a batch
  // that never retries pays nothing per task.
  struct RetryState {
    int64_t attempts = 0;  // attempts that ended
    absl::Time last_start;
    bool waiting = false;                   // backing off, or in ready_
    TimerQueue::TimerId backoff_timer = 0;  // set while backing off
  };
  absl::flat_hash_map<uint32_t, RetryState> retries_ ABSL_GUARDED_BY(mu_);
  // Retries whose backoff ended, started before next_ when slots come.
  std::deque<uint32_t> ready_ ABSL_GUARDED_BY(mu_);
  // Tasks waiting to retry (backing off or in ready_): counted as queued.
  int64_t waiting_retries_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t retried_count_ ABSL_GUARDED_BY(mu_) = 0;  // ended after > 1 attempt
  std::unique_ptr<absl::BitGen> bitgen_ ABSL_GUARDED_BY(mu_);  // on first use

  // Rate limit: when the next start is allowed (steady clock), and the
  // batch's one timer waiting for it.
  absl::Duration next_permit_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  TimerQueue::TimerId permit_timer_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_BATCH_H_
