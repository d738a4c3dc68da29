#include "server/core/batch.h"

#include <algorithm>
#include <chrono>
#include <exception>
#include <optional>
#include <utility>

#include "absl/container/inlined_vector.h"
#include "absl/strings/str_cat.h"
#include "common/arena_blocks.h"
#include "common/proto_status.h"
#include "common/proto_time.h"
#include "server/core/limits.h"
#include "server/core/result_size.h"
#include "server/core/value_depth.h"

namespace batchexec {
namespace {

// The steady clock, for the rate limit: a wall-clock step moves no start.
absl::Duration SteadyNow() {
  return absl::FromChrono(std::chrono::steady_clock::now().time_since_epoch());
}

absl::Duration TaskTimeout(const v1::Task& task, absl::Duration fallback) {
  return task.has_timeout() ? FromProtoDuration(task.timeout()) : fallback;
}

// Moves a handler's output into `result`. On an arena, a heap object or list
// is adopted (the arena deletes it) rather than deep-copied, while a scalar
// is simply copied. Echo's output (its args) is borrowed from the request
// when `borrow` allows: the Value points at the request's Struct, which
// outlives the result, and nothing ever writes through it.
void SetOutput(HandlerOutput& out, const v1::Task& spec, bool borrow,
               v1::TaskResult* result) {
  google::protobuf::Arena* arena = result->GetArena();
  if (out.output_is_args) {
    if (borrow && arena != nullptr) {
      auto* value =
          google::protobuf::Arena::CreateMessage<google::protobuf::Value>(
              arena);
      value->unsafe_arena_set_allocated_struct_value(
          const_cast<google::protobuf::Struct*>(&spec.args()));
      result->unsafe_arena_set_allocated_output(value);
    } else {
      *result->mutable_output()->mutable_struct_value() = spec.args();
    }
    return;
  }
  if (arena == nullptr ||
      (!out.output.has_struct_value() && !out.output.has_list_value())) {
    *result->mutable_output() = std::move(out.output);
    return;
  }
  auto* owned = new google::protobuf::Value(std::move(out.output));
  arena->Own(owned);
  result->unsafe_arena_set_allocated_output(owned);
}

}  // namespace

Batch::Batch(std::string id, std::shared_ptr<const Caller> caller,
             TaskList tasks, std::vector<const TaskKind*> kinds,
             BatchOptions options, TaskEnvironment& env,
             FairSemaphore& semaphore, std::shared_ptr<BatchSink> sink,
             absl::AnyInvocable<void()> on_done)
    : id_(std::move(id)),
      caller_(std::move(caller)),
      tasks_(std::move(tasks)),
      kinds_(std::move(kinds)),
      options_(options),
      size_(tasks_.size()),
      env_(env),
      semaphore_(semaphore),
      start_time_(absl::Now()),
      start_interval_(options_.max_starts_per_second > 0
                          ? absl::Seconds(1 / options_.max_starts_per_second)
                          : absl::ZeroDuration()),
      sink_(std::move(sink)),
      on_done_(std::move(on_done)) {
  SetCaller(caller_.get(), caller_->weight);
}

Batch::~Batch() = default;

void Batch::Start() {
  if (size_ == 0) {
    // Done at once. In line for slots it would wait, pinning itself and its
    // request's memory, until a full server freed a slot it never uses.
    FinishIfDone();
    return;
  }
  std::shared_ptr<Batch> self = shared_from_this();
  if (options_.deadline != absl::InfiniteFuture()) {
    std::weak_ptr<Batch> weak = self;
    MutexLock lock(&mu_);
    deadline_timer_ = env_.timers.Schedule(options_.deadline, [weak] {
      if (auto batch = weak.lock()) {
        batch->Cancel(absl::DeadlineExceededError("call deadline exceeded"));
      }
    });
  }
  semaphore_.Request(std::move(self));
}

v1::Progress Batch::progress() const {
  MutexLock lock(&mu_);
  return ProgressLocked();
}

int64_t Batch::queued() const {
  MutexLock lock(&mu_);
  return size_ - next_ + waiting_retries_;
}

int64_t Batch::running() const {
  MutexLock lock(&mu_);
  return running_count_;
}

v1::Progress Batch::ProgressLocked() const {
  v1::Progress p;
  p.set_total(static_cast<uint32_t>(size_));
  p.set_completed(static_cast<uint32_t>(completed_));
  p.set_failed(static_cast<uint32_t>(failed_));
  p.set_running(static_cast<uint32_t>(running_count_));
  // A task waiting to retry counts as queued: it holds no slot.
  p.set_queued(static_cast<uint32_t>(size_ - next_ + waiting_retries_));
  return p;
}

bool Batch::WantsSlotLocked() {
  return !cancelled_ && (next_ < size_ || !ready_.empty()) &&
         running_count_ < options_.max_concurrency &&
         !(sink_ != nullptr && sink_->Backlogged()) && HasPermitLocked();
}

bool Batch::HasPermitLocked() {
  if (start_interval_ == absl::ZeroDuration()) return true;
  const absl::Duration now = SteadyNow();
  if (now >= next_permit_) return true;
  // One timer for the batch: slots are asked for again when it fires.
  // It holds the batch: while waiting for a permit nothing else may.
  if (permit_timer_ == 0) {
    permit_timer_ = env_.timers.ScheduleAfter(
        next_permit_ - now,
        [batch = shared_from_this()] { batch->OnPermit(); });
  }
  return false;
}

void Batch::OnPermit() {
  bool more;
  {
    MutexLock lock(&mu_);
    permit_timer_ = 0;
    more = WantsSlotLocked();
  }
  if (more) semaphore_.Request(shared_from_this());
}

int64_t Batch::OnSlots(int64_t offered) {
  struct Started {
    std::shared_ptr<TaskContext> task;
    const TaskKind* kind;
  };
  // One lock hold and one progress event for the whole turn. Wire tasks
  // are parsed onto one arena for the turn, freed once their handlers
  // returned.
  absl::InlinedVector<Started, 64> started;
  std::optional<google::protobuf::Arena> arena;
  if (!tasks_.parsed()) arena.emplace(CachedArenaOptions());
  {
    MutexLock lock(&mu_);
    while (static_cast<int64_t>(started.size()) < offered &&
           WantsSlotLocked()) {
      std::shared_ptr<TaskContext> task =
          StartNextLocked(arena ? &*arena : nullptr);
      const TaskKind* kind = kinds_[task->index()];
      started.push_back({std::move(task), kind});
    }
    if (started.empty()) return 0;
    if (sink_ != nullptr) sink_->OnProgress(ProgressLocked());
  }
  Flush();
  for (Started& s : started) {
    RunTask(s.task, *s.kind);
    if (arena) s.task->ReleaseTask();
    s.task.reset();  // a task that ended is freed now, not after the turn
  }
  return static_cast<int64_t>(started.size());
}

std::shared_ptr<TaskContext> Batch::StartNextLocked(
    google::protobuf::Arena* arena) {
  uint32_t index;
  if (!ready_.empty()) {  // retries first: their tasks began long ago
    index = ready_.front();
    ready_.pop_front();
    retries_[index].waiting = false;
    --waiting_retries_;
  } else {
    index = static_cast<uint32_t>(next_++);
  }
  if (start_interval_ != absl::ZeroDuration()) {
    // Late by less than an interval (a timer's wake-up): keep the schedule,
    // so starts stay evenly spaced; later than that, start afresh from now
    // (no burst after an idle spell).
    const absl::Duration steady = SteadyNow();
    next_permit_ =
        (steady - next_permit_ < start_interval_ ? next_permit_ : steady) +
        start_interval_;
  }
  // Validated at admission, so it parses.
  const v1::Task& spec = *tasks_.Get(index, arena);
  const absl::Duration timeout = TaskTimeout(spec, options_.task_timeout);
  const absl::Time now = absl::Now();
  const absl::Time task_deadline =
      std::min(options_.deadline, timeout == absl::InfiniteDuration()
                                      ? absl::InfiniteFuture()
                                      : now + timeout);
  auto task = std::make_shared<TaskContext>(shared_from_this(), index, spec,
                                            task_deadline, env_);
  if (auto it = retries_.find(index); it != retries_.end()) {
    task->attempt_ = static_cast<uint32_t>(it->second.attempts + 1);
  }
  task->self_ = task;
  task->next_ = running_;
  if (running_ != nullptr) running_->prev_ = task.get();
  running_ = task.get();
  ++running_count_;
  if (timeout != absl::InfiniteDuration()) {
    std::weak_ptr<TaskContext> weak = task;
    task->timeout_timer_ = env_.timers.ScheduleAfter(timeout, [weak, timeout] {
      if (auto t = weak.lock()) {
        t->Cancel(absl::DeadlineExceededError(absl::StrCat(
            "task timed out after ", absl::FormatDuration(timeout))));
      }
    });
  }
  return task;
}

void Batch::RunTask(const std::shared_ptr<TaskContext>& task,
                    const TaskKind& kind) {
  // Our own reference: a handler may Finish, drop its copy and then throw.
  try {
    kind.handler(task);
  } catch (const std::exception& e) {
    task->Finish(absl::InternalError(
        absl::StrCat("task kind '", kind.name, "' threw: ", e.what())));
  } catch (...) {
    task->Finish(absl::InternalError(
        absl::StrCat("task kind '", kind.name, "' threw an exception")));
  }
}

void Batch::OnTaskEnded(TaskContext& task,
                        absl::StatusOr<HandlerOutput> result) {
  // An output nested deeper than clients can parse fails its task alone
  // (handlers are the embedder's; echo's args are limited on the way in).
  if (result.ok() && !result->output_is_args) {
    const google::protobuf::Value& out = result->output;
    if (out.has_struct_value() || out.has_list_value()) {
      if (absl::Status s = CheckOutputDepth(out); !s.ok()) result = s;
    }
  }
  if (!result.ok() && RetryIfAllowed(task, result.status())) return;
  const absl::Time now = absl::Now();
  const uint32_t index = task.index();
  std::vector<std::shared_ptr<TaskContext>> to_cancel;
  TimerQueue::TimerId timer;
  std::shared_ptr<TaskContext> keep_alive;  // released outside the lock
  std::shared_ptr<BatchSink> sink;          // flushed outside the lock
  bool more = false;
  bool last = false;
  {
    MutexLock lock(&mu_);
    UnlinkLocked(task);
    keep_alive = std::move(task.self_);
    timer = task.timeout_timer_;
    int64_t attempts = 1;  // only a task that retried has an entry
    if (auto it = retries_.find(index); it != retries_.end()) {
      attempts = it->second.attempts + 1;
      retries_.erase(it);
      ++retried_count_;
      if (!result.ok()) {
        result = absl::Status(result.status().code(),
                              absl::StrCat("after ", attempts, " attempts: ",
                                           result.status().message()));
      }
    }

    v1::TaskResult* r = NewResultLocked(index);
    r->set_attempts(static_cast<uint32_t>(attempts));
    const absl::string_view id = tasks_.Id(index);
    if (!id.empty()) r->set_id(std::string(id));
    SetProtoDuration(task.started_at() - start_time_,
                     r->mutable_started_after());
    SetProtoDuration(now - start_time_, r->mutable_finished_after());
    bool ok = result.ok();
    ResultFit fit;
    if (ok) {
      r->mutable_status();  // code 0
      // A wire task's parsed copy is gone once its turn ended: nothing may
      // point into it.
      SetOutput(*result, task.task(),
                tasks_.parsed() && sink_ != nullptr &&
                    sink_->ResultsMayBorrowFromRequest(),
                r);
      if (!result->payload.empty()) r->set_payload(std::move(result->payload));
      fit = FitResult(r);
      if (fit.dropped > 0) {
        ok = false;
        result = absl::ResourceExhaustedError(r->status().message());
      }
    } else {
      ToProtoStatus(result.status(), r->mutable_status());
      fit = SizeResult(*r);
    }
    // `r` is the sink's once passed on (a sent chunk frees it): read first.
    int code = r->status().code();
    if (absl::Status refused = EmitLocked(r, ok, fit); !refused.ok()) {
      ok = false;
      code = static_cast<int>(refused.code());
      result = std::move(refused);
    }
    if (options_.observer != nullptr) {
      options_.observer->TaskEnded(*kinds_[index], code,
                                   now - task.started_at());
    }
    // The failure goes out before the cancellations it causes.
    if (!ok && options_.fail_fast && !cancelled_) {
      // Named as the SDK and CLI name it: task 2 (id "b") failed: ...
      to_cancel = CancelLocked(
          absl::Status(
              result.status().code(),
              absl::StrCat("task ", index,
                           id.empty() ? "" : absl::StrCat(" (id \"", id, "\")"),
                           " failed: ", result.status().message())),
          absl::CancelledError("cancelled: another task of the batch failed"));
    }
    more = WantsSlotLocked();
    last = completed_ == size_;
    sink = sink_;
  }
  if (timer != 0) env_.timers.Cancel(timer);
  for (auto& t : to_cancel) {
    t->Cancel(
        absl::CancelledError("cancelled: another task of the batch failed"));
  }
  if (sink != nullptr) sink->Flush();
  semaphore_.Release();
  if (more) semaphore_.Request(shared_from_this());
  if (last) FinishIfDone();
}

void Batch::UnlinkLocked(TaskContext& task) {
  // A task ends once (TaskContext::Claim), and only after it was linked by
  // StartNextLocked.
  if (task.prev_ != nullptr) task.prev_->next_ = task.next_;
  if (task.next_ != nullptr) task.next_->prev_ = task.prev_;
  if (running_ == &task) running_ = task.next_;
  task.prev_ = task.next_ = nullptr;
  --running_count_;
}

bool Batch::RetryIfAllowed(TaskContext& task, const absl::Status& status) {
  TimerQueue::TimerId timer;
  std::shared_ptr<TaskContext> keep_alive;  // released outside the lock
  bool more;
  {
    MutexLock lock(&mu_);
    if (cancelled_) return false;  // fail-fast, cancel, deadline: final
    int64_t attempts = 1;
    if (auto it = retries_.find(task.index()); it != retries_.end()) {
      attempts = it->second.attempts + 1;
    }
    google::protobuf::Arena arena;  // for a wire task's policy
    const v1::Task& spec = *tasks_.Get(task.index(), &arena);
    const RetryPlan own =
        spec.has_retry_policy()
            ? MakeRetryPlan(spec.retry_policy(), options_.max_attempts)
            : RetryPlan();
    const RetryPlan& plan = spec.has_retry_policy() ? own : options_.retry;
    if (attempts >= plan.max_attempts || !plan.Retries(status.code())) {
      return false;
    }
    if (bitgen_ == nullptr) bitgen_ = std::make_unique<absl::BitGen>();
    const double u = absl::Uniform(*bitgen_, 0.0, 1.0);
    const absl::Duration delay = Backoff(plan, attempts, [u] { return u; });

    UnlinkLocked(task);
    keep_alive = std::move(task.self_);
    timer = task.timeout_timer_;
    // Not a result: the task waits for its retry, holding no slot.
    RetryState& state = retries_[task.index()];
    state.attempts = attempts;
    state.last_start = task.started_at();
    state.waiting = true;
    ++waiting_retries_;
    // The timer holds the batch: while every task backs off nothing else
    // may. A cancel removes it.
    state.backoff_timer = env_.timers.ScheduleAfter(
        delay, [batch = shared_from_this(), index = task.index()] {
          batch->OnBackoffEnded(index);
        });
    if (sink_ != nullptr) sink_->OnProgress(ProgressLocked());
    more = WantsSlotLocked();
  }
  if (timer != 0) env_.timers.Cancel(timer);
  Flush();
  semaphore_.Release();
  if (more) semaphore_.Request(shared_from_this());
  return true;
}

void Batch::OnBackoffEnded(uint32_t index) {
  bool more;
  {
    MutexLock lock(&mu_);
    auto it = retries_.find(index);
    // Gone or not backing off: a cancel ended the task meanwhile.
    if (it == retries_.end() || it->second.backoff_timer == 0) return;
    it->second.backoff_timer = 0;
    ready_.push_back(index);
    more = WantsSlotLocked();
  }
  if (more) semaphore_.Request(shared_from_this());
}

void Batch::EndWaitingRetriesLocked(const absl::Status& why) {
  if (waiting_retries_ == 0) return;
  const absl::StatusCode code =
      why.code() == absl::StatusCode::kDeadlineExceeded
          ? absl::StatusCode::kDeadlineExceeded
          : absl::StatusCode::kCancelled;
  const absl::Duration elapsed = absl::Now() - start_time_;
  for (auto it = retries_.begin(); it != retries_.end();) {
    const uint32_t index = it->first;
    const RetryState& state = it->second;
    if (!state.waiting) {
      ++it;
      continue;
    }
    if (state.backoff_timer != 0) env_.timers.Cancel(state.backoff_timer);
    v1::TaskResult* r = NewResultLocked(index);
    if (const absl::string_view id = tasks_.Id(index); !id.empty()) {
      r->set_id(std::string(id));
    }
    ToProtoStatus(
        absl::Status(
            code,
            absl::StrCat(why.message(), " (while waiting to retry, after ",
                         state.attempts,
                         state.attempts == 1 ? " attempt)" : " attempts)")),
        r->mutable_status());
    SetProtoDuration(state.last_start - start_time_,
                     r->mutable_started_after());
    SetProtoDuration(elapsed, r->mutable_finished_after());
    r->set_attempts(static_cast<uint32_t>(state.attempts));
    if (state.attempts > 1) ++retried_count_;
    if (options_.observer != nullptr) {
      options_.observer->TaskEnded(*kinds_[index], r->status().code(),
                                   absl::InfiniteDuration());
    }
    retries_.erase(it++);
    EmitLocked(r, false, SizeResult(*r)).IgnoreError();  // failed already
  }
  ready_.clear();
  waiting_retries_ = 0;
}

void Batch::Cancel(absl::Status why) {
  std::vector<std::shared_ptr<TaskContext>> to_cancel;
  {
    MutexLock lock(&mu_);
    if (call_status_.ok()) call_status_ = why;
    if (cancelled_) {
      // Already ending: the sink may take more now (its reader left).
      EmitNotStartedLocked();
    } else {
      to_cancel = CancelLocked(why, why);
    }
  }
  Flush();
  for (auto& t : to_cancel) t->Cancel(why);
  FinishIfDone();
}

std::vector<std::shared_ptr<TaskContext>> Batch::CancelLocked(
    absl::Status why, const absl::Status& waiting_end) {
  cancelled_ = true;
  outcome_ = why;
  not_started_ = absl::Status(why.code() == absl::StatusCode::kDeadlineExceeded
                                  ? absl::StatusCode::kDeadlineExceeded
                                  : absl::StatusCode::kCancelled,
                              absl::StrCat("not started: ", why.message()));
  EmitNotStartedLocked();
  // Backing off is not running: such a task ends here, at once.
  EndWaitingRetriesLocked(waiting_end);
  std::vector<std::shared_ptr<TaskContext>> running;
  running.reserve(running_count_);
  for (TaskContext* t = running_; t != nullptr; t = t->next_) {
    running.push_back(t->self_);
  }
  return running;
}

void Batch::EmitNotStartedLocked() {
  // Queued tasks never start: they end here, in index order, as fast as the
  // sink takes them — a stalled reader of a cancelled 1M-task batch holds a
  // backlog's worth of results, not a million.
  const absl::Duration elapsed = absl::Now() - start_time_;
  while (next_ < size_ && !(sink_ != nullptr && sink_->Backlogged())) {
    v1::TaskResult* r = NewResultLocked(static_cast<uint32_t>(next_));
    if (const absl::string_view id = tasks_.Id(next_); !id.empty()) {
      r->set_id(std::string(id));
    }
    ToProtoStatus(not_started_, r->mutable_status());
    SetProtoDuration(elapsed, r->mutable_finished_after());
    if (options_.observer != nullptr) {
      options_.observer->TaskEnded(*kinds_[next_], r->status().code(),
                                   absl::InfiniteDuration());
    }
    ++next_;
    EmitLocked(r, false, SizeResult(*r)).IgnoreError();  // failed already
  }
}

v1::TaskResult* Batch::NewResultLocked(uint32_t index) {
  v1::TaskResult* r;
  if (sink_ != nullptr) {
    r = sink_->NewResult(index);
  } else {
    scratch_.Clear();
    r = &scratch_;
  }
  r->set_index(index);
  return r;
}

absl::Status Batch::EmitLocked(v1::TaskResult* result, bool ok, ResultFit fit) {
  absl::Status refused;
  if (sink_ != nullptr) refused = sink_->Hold(fit);
  if (!refused.ok()) {
    ok = false;
    // Frees what can be freed now: an output the result owns (a Value on
    // an arena that only points elsewhere frees nothing and deletes
    // nothing), and the payload's buffer.
    if (result->has_output()) result->mutable_output()->Clear();
    result->clear_output();
    if (!result->payload().empty()) {
      std::string().swap(*result->mutable_payload());
    }
    ToProtoStatus(refused, result->mutable_status());
    fit = SizeResult(*result);
    if (fit.bytes > static_cast<size_t>(kReservedBytesPerTask)) {
      result->clear_id();  // what is left must fit in the task's reserve
      fit = SizeResult(*result);
    }
    sink_->Hold(fit).IgnoreError();  // within the task's reserve: nothing
  }
  ++completed_;
  if (!ok) {
    ++failed_;
    if (result->status().code() ==
        static_cast<int>(absl::StatusCode::kCancelled)) {
      ++cancelled_count_;
    }
  }
  if (sink_ != nullptr) sink_->OnResult(result, fit, ProgressLocked());
  return refused;
}

void Batch::Resume() {
  bool more;
  bool cancelled;
  {
    MutexLock lock(&mu_);
    cancelled = cancelled_;
    if (cancelled) EmitNotStartedLocked();
    more = WantsSlotLocked();
  }
  if (cancelled) {
    Flush();
    FinishIfDone();
  }
  if (more) semaphore_.Request(shared_from_this());
}

void Batch::Flush() {
  std::shared_ptr<BatchSink> sink;
  {
    MutexLock lock(&mu_);
    sink = sink_;
  }
  if (sink != nullptr) sink->Flush();
}

void Batch::FinishIfDone() {
  absl::AnyInvocable<void()> on_done;
  TimerQueue::TimerId timer = 0;
  TimerQueue::TimerId permit_timer = 0;
  std::shared_ptr<BatchSink> sink;
  {
    MutexLock lock(&mu_);
    if (done_reported_ || completed_ < size_) return;
    done_reported_ = true;
    v1::Summary summary;
    *summary.mutable_progress() = ProgressLocked();
    summary.set_succeeded(static_cast<uint32_t>(completed_ - failed_));
    summary.set_cancelled(static_cast<uint32_t>(cancelled_count_));
    summary.set_retried(static_cast<uint32_t>(retried_count_));
    *summary.mutable_wall_time() = ToProtoDuration(absl::Now() - start_time_);
    absl::Status outcome = outcome_;
    if (outcome.ok() && failed_ > 0) {
      outcome = absl::UnknownError(
          absl::StrCat(failed_, " of ", size_, " tasks failed"));
    }
    ToProtoStatus(outcome, summary.mutable_outcome());
    sink = std::move(sink_);
    if (sink != nullptr) sink->OnBatchDone(summary, call_status_);
    on_done = std::move(on_done_);
    timer = deadline_timer_;
    permit_timer = permit_timer_;
  }
  if (timer != 0) env_.timers.Cancel(timer);
  if (permit_timer != 0) env_.timers.Cancel(permit_timer);
  semaphore_.Withdraw(*this);
  if (sink != nullptr) sink->Flush();
  if (on_done) on_done();
}

}  // namespace batchexec
