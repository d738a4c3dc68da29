#include "server/core/executor.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/arena_blocks.h"
#include "common/proto_time.h"
#include "server/core/retry_policy.h"

namespace batchexec {
namespace {

absl::Status TaskError(int64_t index, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat("tasks[", index, "]: ", rule));
}

std::string Batches(int64_t n) {
  return absl::StrCat(n, n == 1 ? " batch" : " batches");
}

bool IsNegative(const google::protobuf::Duration& d) {
  return d.seconds() < 0 || d.nanos() < 0;
}

}  // namespace

Executor::Executor(ExecutorOptions options, const TaskRegistry& registry)
    : options_(options),
      registry_(registry),
      request_memory_(
          options.max_request_memory,
          options.max_request_memory_per_caller > 0
              ? options.max_request_memory_per_caller
              : std::max<int64_t>(options.max_request_memory / 2, 1)),
      semaphore_(
          options.max_inflight_tasks,
          [this](absl::AnyInvocable<void()> fn) {
            dispatcher_.Post(std::move(fn));
          },
          kInlineStartBudget),
      dispatcher_(1),
      cpu_pool_(options.cpu_workers),
      env_{timers_, cpu_pool_} {}

Executor::~Executor() {
  StopAccepting();
  CancelAll(absl::CancelledError("server shutting down"));
  WaitIdle(absl::InfiniteDuration());
}

absl::Status Executor::CheckBatchSize(int64_t tasks) const {
  if (tasks <= options_.max_batch_size) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("tasks: ", tasks, " tasks exceed the limit of ",
                   options_.max_batch_size, " per batch (--max_batch_size)"));
}

absl::Status Executor::Validate(const v1::ExecuteRequest& request) const {
  // Not owned: the request outlives the call.
  std::shared_ptr<const v1::ExecuteRequest> view(
      std::shared_ptr<const v1::ExecuteRequest>(), &request);
  std::vector<const TaskKind*> kinds;
  uint32_t most_attempts;
  return Check(request, TaskList(view), &kinds, &most_attempts);
}

bool Executor::CanRunFromWire(const TaskList& tasks) const {
  absl::string_view last;  // batches mostly repeat one kind
  for (int64_t i = 0; i < tasks.size(); ++i) {
    const absl::string_view name = tasks.Kind(i);
    if (i > 0 && name == last) continue;
    const TaskKind* kind = registry_.Find(name);
    if (kind == nullptr || !kind->reads_task_only_at_start) return false;
    last = name;
  }
  return true;
}

absl::Status Executor::Check(const v1::ExecuteRequest& request,
                             const TaskList& tasks,
                             std::vector<const TaskKind*>* kinds,
                             uint32_t* most_attempts) const {
  if (absl::Status s = CheckBatchSize(tasks.size()); !s.ok()) return s;
  if (request.has_task_timeout() && IsNegative(request.task_timeout())) {
    return absl::InvalidArgumentError("task_timeout must not be negative");
  }
  if (request.failure_policy() != v1::FAILURE_POLICY_UNSPECIFIED &&
      request.failure_policy() != v1::FAIL_FAST &&
      request.failure_policy() != v1::COLLECT_ALL) {
    return absl::InvalidArgumentError(absl::StrCat(
        "failure_policy: unknown value ", request.failure_policy()));
  }
  const double rate = request.max_starts_per_second();
  if (rate != 0 && !(rate >= kMinStartsPerSecond && std::isfinite(rate))) {
    return absl::InvalidArgumentError(absl::StrCat(
        "max_starts_per_second must be 0 (no limit) or a finite rate of at "
        "least ",
        kMinStartsPerSecond, " (got ", rate, ")"));
  }
  if (absl::Status s = ValidateRetryPolicy(request.retry_policy()); !s.ok()) {
    return s;
  }
  // Wire tasks are each parsed here once; a big list in two halves at once.
  const int64_t size = tasks.size();
  kinds->assign(size, nullptr);
  TaskChecks first, second;
  if (!tasks.parsed() && size >= kParallelCheckTasks) {
    env_.cpu_pool.RunBoth(
        [&] { first = CheckTasks(tasks, 0, size / 2, kinds->data()); },
        [&] { second = CheckTasks(tasks, size / 2, size, kinds->data()); });
  } else {
    first = CheckTasks(tasks, 0, size, kinds->data());
  }
  // The first bad task is named, as a check in order would.
  if (!first.status.ok()) return first.status;
  if (!second.status.ok()) return second.status;
  *most_attempts = std::max({request.retry_policy().max_attempts(),
                             first.most_attempts, second.most_attempts});
  return absl::OkStatus();
}

Executor::TaskChecks Executor::CheckTasks(const TaskList& tasks, int64_t begin,
                                          int64_t end,
                                          const TaskKind** kinds) const {
  TaskChecks checks;
  // Emptied as it goes: a wire task is parsed here, checked and dropped.
  google::protobuf::Arena arena(CachedArenaOptions());
  constexpr int kTasksPerReset = 256;
  for (int64_t i = begin; i < end; ++i) {
    if (!tasks.parsed() && (i - begin) % kTasksPerReset == 0) arena.Reset();
    const v1::Task* task = tasks.Get(i, &arena);
    absl::Status s = task == nullptr
                         ? absl::InvalidArgumentError(
                               "not a valid batchexec.v1.Task message")
                         : CheckTask(*task, &kinds[i]);
    if (!s.ok()) {
      checks.status = TaskError(i, s.message());
      return checks;
    }
    if (task->has_retry_policy()) {
      checks.most_attempts =
          std::max(checks.most_attempts, task->retry_policy().max_attempts());
    }
  }
  return checks;
}

absl::Status Executor::CheckTask(const v1::Task& task,
                                 const TaskKind** kind) const {
  if (task.kind().empty()) {
    return absl::InvalidArgumentError("kind must not be empty");
  }
  *kind = registry_.Find(task.kind());
  if (*kind == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("unknown kind '", task.kind(), "' (see ListTaskKinds)"));
  }
  if (task.has_timeout() && IsNegative(task.timeout())) {
    return absl::InvalidArgumentError("timeout must not be negative");
  }
  if (task.has_retry_policy()) {
    if (absl::Status s = ValidateRetryPolicy(task.retry_policy()); !s.ok()) {
      return s;
    }
  }
  return TaskRegistry::ValidateArgs(**kind, task.args());
}

absl::StatusOr<std::shared_ptr<Batch>> Executor::Start(
    std::shared_ptr<const v1::ExecuteRequest> request, absl::Time deadline,
    std::shared_ptr<BatchSink> sink, std::string* note, const Caller& caller) {
  TaskList tasks(request);
  return Start(BatchRequest{std::move(request), std::move(tasks)}, deadline,
               std::move(sink), note, caller);
}

absl::StatusOr<std::shared_ptr<Batch>> Executor::Start(
    BatchRequest batch_request, absl::Time deadline,
    std::shared_ptr<BatchSink> sink, std::string* note, const Caller& caller) {
  const v1::ExecuteRequest& request = *batch_request.request;
  std::vector<const TaskKind*> kinds;
  uint32_t most_attempts;
  if (absl::Status s =
          Check(request, batch_request.tasks, &kinds, &most_attempts);
      !s.ok()) {
    return Rejected(RejectReason::kInvalidArgument, s);
  }
  const int64_t size = batch_request.tasks.size();

  BatchOptions options;
  options.fail_fast = request.failure_policy() != v1::COLLECT_ALL;
  options.observer = options_.metrics;
  options.deadline = deadline;
  if (request.has_task_timeout()) {
    options.task_timeout = FromProtoDuration(request.task_timeout());
  }
  const int64_t asked = request.max_concurrency();
  options.max_concurrency =
      asked == 0 ? options_.max_task_concurrency
                 : std::min<int64_t>(asked, options_.max_task_concurrency);
  if (note != nullptr && asked > options_.max_task_concurrency) {
    *note = absl::StrCat("max_concurrency ", asked, " lowered to the cap of ",
                         options_.max_task_concurrency,
                         " (--max_task_concurrency)");
  }
  options.retry = MakeRetryPlan(request.retry_policy(), options_.max_attempts);
  options.max_attempts = options_.max_attempts;
  options.max_starts_per_second = request.max_starts_per_second();
  // The largest max_attempts asked for, batch or task, said once.
  if (note != nullptr && most_attempts > options_.max_attempts) {
    absl::StrAppend(note, note->empty() ? "" : "; ", "retry max_attempts ",
                    most_attempts, " lowered to the cap of ",
                    options_.max_attempts, " (--max_attempts)");
  }

  std::string id;
  std::shared_ptr<const Caller> shared_caller;
  {
    MutexLock lock(&mu_);
    if (!accepting_) {
      return Rejected(RejectReason::kShuttingDown,
                      absl::UnavailableError("server is shutting down"));
    }
    if (static_cast<int64_t>(open_.size()) >= options_.max_open_batches) {
      return Rejected(RejectReason::kMaxOpenBatches,
                      absl::ResourceExhaustedError(absl::StrCat(
                          "server already runs ", Batches(open_.size()),
                          ", the limit (--max_open_batches); retry later")));
    }
    if (open_tasks_ + size > options_.max_queued_tasks) {
      return Rejected(RejectReason::kMaxQueuedTasks,
                      absl::ResourceExhaustedError(absl::StrCat(
                          "server queue full: ", open_tasks_, " tasks open + ",
                          size, " would exceed ", options_.max_queued_tasks,
                          " (--max_queued_tasks); retry later")));
    }
    // Looked up, not made: a refused caller leaves no record behind (with
    // IP identities, anyone could otherwise grow the map without bound).
    auto known = callers_.find(caller.name);
    const CallerRecord current =
        known == callers_.end() ? CallerRecord() : known->second;
    if (current.open_batches >= options_.max_open_batches_per_caller) {
      return Rejected(
          RejectReason::kMaxOpenBatchesPerCaller,
          absl::ResourceExhaustedError(absl::StrCat(
              "caller '", caller.name, "' already runs ",
              Batches(current.open_batches),
              ", its limit (--max_open_batches_per_caller); retry later")));
    }
    if (current.open_tasks + size > options_.max_queued_tasks_per_caller) {
      return Rejected(RejectReason::kMaxQueuedTasksPerCaller,
                      absl::ResourceExhaustedError(absl::StrCat(
                          "caller '", caller.name, "' has ", current.open_tasks,
                          " tasks open + ", size, " would exceed its limit of ",
                          options_.max_queued_tasks_per_caller,
                          " (--max_queued_tasks_per_caller); retry later")));
    }
    // A caller's batches share one Caller: its address is the caller's key
    // in the fair shares. A new weight (tokens reloaded) applies once the
    // caller's open batches have ended.
    CallerRecord& record =
        known != callers_.end() ? known->second : callers_[caller.name];
    if (record.caller == nullptr) {
      record.caller = std::make_shared<const Caller>(caller);
    }
    shared_caller = record.caller;
    ++record.open_batches;
    record.open_tasks += size;
    open_tasks_ += size;
    id = absl::StrCat("b", ++batches_started_);
    // Hold the batch's place now: checking the limits and taking the place in
    // one critical section keeps concurrent callers from both passing them.
    open_.emplace(id, std::weak_ptr<Batch>());
  }

  auto batch = std::make_shared<Batch>(
      id, shared_caller, std::move(batch_request.tasks), std::move(kinds),
      options, env_, semaphore_, std::move(sink),
      [this, id, size, name = caller.name, started = absl::Now()] {
        if (options_.metrics != nullptr) {
          options_.metrics->BatchEnded(absl::Now() - started);
        }
        bool idle;
        {
          MutexLock lock(&mu_);
          open_.erase(id);
          idle = open_.empty();
          open_tasks_ -= size;
          auto record = callers_.find(name);
          record->second.open_tasks -= size;
          if (--record->second.open_batches == 0) callers_.erase(record);
          tasks_completed_.fetch_add(size, std::memory_order_relaxed);
        }
        if (idle) {
          // Taking idle_mu_ orders this after a waiter's check of open_.
          std::lock_guard<std::mutex> wake(idle_mu_);
          idle_cv_.notify_all();
        }
      });
  {
    MutexLock lock(&mu_);
    open_[id] = batch;
  }
  batch->Start();
  return batch;
}

absl::Status Executor::Rejected(RejectReason reason,
                                absl::Status status) const {
  if (options_.metrics != nullptr) options_.metrics->Rejected(reason);
  return status;
}

void Executor::StopAccepting() {
  MutexLock lock(&mu_);
  accepting_ = false;
}

void Executor::CancelAll(absl::Status why) {
  std::vector<std::shared_ptr<Batch>> batches;
  {
    MutexLock lock(&mu_);
    for (auto& [id, weak] : open_) {
      if (auto b = weak.lock()) batches.push_back(std::move(b));
    }
  }
  for (auto& b : batches) b->Cancel(why);
}

size_t Executor::caller_records() const {
  MutexLock lock(&mu_);
  return callers_.size();
}

bool Executor::WaitIdle(absl::Duration grace) {
  // On the steady clock: this Abseil's timed waits sleep until a wall-clock
  // time, so a clock step would cut or stretch the shutdown grace.
  using Steady = std::chrono::steady_clock;
  auto idle = [this] {
    MutexLock lock(&mu_);
    return open_.empty();
  };
  std::unique_lock<std::mutex> lock(idle_mu_);
  // Past ~100 years a deadline would overflow the clock: that is no deadline.
  if (grace > absl::Hours(24 * 365 * 100)) {
    idle_cv_.wait(lock, idle);
    return true;
  }
  const Steady::time_point deadline =
      Steady::now() + std::chrono::duration_cast<Steady::duration>(
                          absl::ToChronoNanoseconds(grace));
  return idle_cv_.wait_until(lock, deadline, idle);
}

bool Executor::WaitIdle(absl::Time deadline) {
  return WaitIdle(deadline - absl::Now());
}

v1::ServerStats Executor::Stats() const {
  v1::ServerStats stats;
  stats.set_request_memory_in_use(request_memory_.in_use());
  stats.set_max_request_memory(request_memory_.limit());
  stats.set_inflight_tasks(semaphore_.in_use());
  stats.set_max_inflight_tasks(semaphore_.limit());
  std::vector<std::shared_ptr<Batch>> batches;
  {
    MutexLock lock(&mu_);
    stats.set_open_batches(open_.size());
    stats.set_batches_started(batches_started_);
    for (auto& [id, weak] : open_) {
      if (auto b = weak.lock()) batches.push_back(std::move(b));
    }
  }
  uint64_t queued = 0;
  absl::flat_hash_map<std::string, v1::CallerStats> callers;
  for (auto& b : batches) {
    const int64_t waiting = b->queued();
    queued += waiting;
    v1::CallerStats& c = callers[b->caller().name];
    c.set_open_batches(c.open_batches() + 1);
    c.set_queued_tasks(c.queued_tasks() + waiting);
    c.set_inflight_tasks(c.inflight_tasks() + b->running());
  }
  stats.set_queued_tasks(queued);
  stats.set_tasks_completed(tasks_completed_.load(std::memory_order_relaxed));
  for (auto& [name, c] : callers) {
    c.set_caller(name);
    c.set_memory_in_use(request_memory_.in_use(name));
    c.set_max_memory(request_memory_.per_caller_limit());
    *stats.add_callers() = std::move(c);
  }
  std::sort(
      stats.mutable_callers()->begin(), stats.mutable_callers()->end(),
      [](const auto& a, const auto& b) { return a.caller() < b.caller(); });
  return stats;
}

}  // namespace batchexec
