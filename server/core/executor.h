// Runs batches: validates a request, applies the server's limits, and owns
// what every batch shares — the server-wide FairSemaphore, the timer thread
// and the CPU pool. Independent of gRPC: the service adapts calls onto it.
#ifndef BATCHEXEC_SERVER_CORE_EXECUTOR_H_
#define BATCHEXEC_SERVER_CORE_EXECUTOR_H_

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "common/mutex.h"
#include "server/core/access_log.h"
#include "server/core/batch.h"
#include "server/core/caller.h"
#include "server/core/fair_semaphore.h"
#include "server/core/limits.h"
#include "server/core/memory_budget.h"
#include "server/core/metrics.h"
#include "server/core/task_list.h"
#include "server/core/task_registry.h"
#include "server/core/timer_queue.h"
#include "server/core/worker_pool.h"

namespace batchexec {

struct ExecutorOptions {
  int64_t max_batch_size = kDefaultMaxBatchSize;
  int64_t max_task_concurrency = kDefaultMaxTaskConcurrency;
  int64_t max_inflight_tasks = kDefaultMaxInflightTasks;
  int64_t max_queued_tasks = kDefaultMaxQueuedTasks;
  int64_t max_open_batches = kDefaultMaxOpenBatches;
  int64_t max_open_batches_per_caller = kDefaultMaxOpenBatchesPerCaller;
  int64_t max_queued_tasks_per_caller = kDefaultMaxQueuedTasksPerCaller;
  int64_t max_request_memory = kDefaultMaxRequestMemory;
  // One caller's share of it; 0: half (kDefaultMaxRequestMemoryPerCaller).
  int64_t max_request_memory_per_caller = kDefaultMaxRequestMemoryPerCaller;
  int cpu_workers = kDefaultCpuWorkers;
  // Cap on RetryPolicy.max_attempts, the first attempt included.
  int64_t max_attempts = kDefaultMaxAttempts;
  // Where batches, tasks and rejections are counted, and where finished
  // calls are logged; null for none. Must outlive the executor.
  Metrics* metrics = nullptr;
  AccessLog* access_log = nullptr;
};

// A request as a batch takes it: its top-level fields, and its tasks. When
// `tasks` is a wire list (TaskList), `request` holds no tasks itself.
struct BatchRequest {
  std::shared_ptr<const v1::ExecuteRequest> request;
  TaskList tasks;
};

class Executor {
 public:
  // `registry` must outlive the executor.
  Executor(ExecutorOptions options, const TaskRegistry& registry);
  // Cancels what still runs and waits for every batch to end.
  ~Executor();

  Executor(const Executor&) = delete;
  Executor& operator=(const Executor&) = delete;

  // Checks a request against the registry and the limits without running
  // anything: INVALID_ARGUMENT naming the first bad task index and the rule.
  absl::Status Validate(const v1::ExecuteRequest& request) const;
  // True if a batch of these wire tasks may run from its wire bytes: every
  // task's kind is registered with TaskKind::reads_task_only_at_start.
  bool CanRunFromWire(const TaskList& tasks) const;
  // The --max_batch_size rule alone, for a count taken before parsing.
  absl::Status CheckBatchSize(int64_t tasks) const;

  // Validates and starts a batch of `caller`'s whose events go to `sink`.
  // RESOURCE_EXHAUSTED when the server or the caller's quota is full, or
  // UNAVAILABLE while shutting down. `note` gets adjustments made (e.g. a
  // lowered max_concurrency) for the Accepted event.
  absl::StatusOr<std::shared_ptr<Batch>> Start(BatchRequest request,
                                               absl::Time deadline,
                                               std::shared_ptr<BatchSink> sink,
                                               std::string* note = nullptr,
                                               const Caller& caller = Caller());
  // The same for a parsed request.
  absl::StatusOr<std::shared_ptr<Batch>> Start(
      std::shared_ptr<const v1::ExecuteRequest> request, absl::Time deadline,
      std::shared_ptr<BatchSink> sink, std::string* note = nullptr,
      const Caller& caller = Caller());

  // Refuses new batches from now on.
  void StopAccepting();
  // Cancels every open batch with `why`.
  void CancelAll(absl::Status why);
  // Waits until no batch is open or `grace` has passed on the steady clock
  // (a wall-clock step moves no shutdown); true if none is open.
  bool WaitIdle(absl::Duration grace);
  // The same until `deadline`, read against the wall clock once, at the
  // call (for tests).
  bool WaitIdle(absl::Time deadline);

  v1::ServerStats Stats() const;
  // Callers with an open batch, as the per-caller quotas track them.
  size_t caller_records() const;
  const TaskRegistry& registry() const { return registry_; }
  const ExecutorOptions& options() const { return options_; }
  Metrics* metrics() const { return options_.metrics; }
  AccessLog* access_log() const { return options_.access_log; }
  TaskEnvironment& environment() { return env_; }
  // Parsed requests reserve their memory here before they are built, and
  // sinks charge the results they hold (ResultCharge), per caller.
  MemoryBudget& request_memory() { return request_memory_; }

 private:
  const ExecutorOptions options_;
  const TaskRegistry& registry_;
  MemoryBudget request_memory_;
  // Destroyed bottom-up after every batch ended: the CPU pool drains first
  // (its work may still set timers or defer to the semaphore), then the
  // dispatcher thread, then the timer thread stops, then the semaphore goes.
  FairSemaphore semaphore_;
  TimerQueue timers_;
  // The semaphore's own thread for long start loops: it never waits behind
  // task work (as it would in the CPU pool's queues), so a batch that
  // arrives while a huge one is being started gets its turn at once.
  WorkerPool dispatcher_;
  WorkerPool cpu_pool_;
  TaskEnvironment env_;

  // Validate's work: checks `request`'s fields and each of `tasks`, and
  // gives each task's kind and the largest max_attempts asked for.
  absl::Status Check(const v1::ExecuteRequest& request, const TaskList& tasks,
                     std::vector<const TaskKind*>* kinds,
                     uint32_t* most_attempts) const;

  // CheckTasks' findings over a range of tasks.
  struct TaskChecks {
    absl::Status status;         // the range's first bad task
    uint32_t most_attempts = 0;  // the largest task max_attempts
  };
  // Checks tasks [begin, end) and sets kinds[i] for each. Thread-safe.
  TaskChecks CheckTasks(const TaskList& tasks, int64_t begin, int64_t end,
                        const TaskKind** kinds) const;
  // Checks one task (the rule it breaks, without its index) and finds its
  // kind.
  absl::Status CheckTask(const v1::Task& task, const TaskKind** kind) const;
  // Wire tasks from which Check parses the two halves at once: checking
  // 2048 sleep tasks takes ~2 ms, far more than handing half to a worker
  // (10k took 9 ms alone, 4.4 ms in halves).
  static constexpr int64_t kParallelCheckTasks = 2048;

  // Counts the refusal (if metrics are on) and returns `status`.
  absl::Status Rejected(RejectReason reason, absl::Status status) const;

  mutable Mutex mu_;
  absl::flat_hash_map<std::string, std::weak_ptr<Batch>> open_
      ABSL_GUARDED_BY(mu_);
  int64_t open_tasks_ ABSL_GUARDED_BY(mu_) = 0;  // sizes of open batches
  // Callers with open batches: their quotas' counts, and the Caller their
  // batches share.
  struct CallerRecord {
    std::shared_ptr<const Caller> caller;
    int64_t open_batches = 0;
    int64_t open_tasks = 0;
  };
  absl::flat_hash_map<std::string, CallerRecord> callers_ ABSL_GUARDED_BY(mu_);
  bool accepting_ ABSL_GUARDED_BY(mu_) = true;
  // Wakes WaitIdle when the last open batch ends. A std::condition_variable
  // for its steady-clock wait_until (Abseil's waits are wall-clock); taken
  // before mu_, never while holding it.
  std::mutex idle_mu_;
  std::condition_variable idle_cv_;
  uint64_t batches_started_ ABSL_GUARDED_BY(mu_) = 0;
  std::atomic<uint64_t> tasks_completed_{0};
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_EXECUTOR_H_
