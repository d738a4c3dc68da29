#include "server/batch.h"

#include <algorithm>
#include <exception>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/proto_status.h"
#include "common/proto_time.h"

namespace batchexec {
namespace {

absl::Duration TaskTimeout(const v1::Task& task, absl::Duration fallback) {
  return task.has_timeout() ? FromProtoDuration(task.timeout()) : fallback;
}

}  // namespace

Batch::Batch(std::string id, std::unique_ptr<v1::ExecuteRequest> request,
             std::vector<const TaskKind*> kinds, BatchOptions options,
             TaskEnvironment& env, FairSemaphore& semaphore,
             std::shared_ptr<BatchSink> sink,
             absl::AnyInvocable<void()> on_done)
    : id_(std::move(id)),
      request_(std::move(request)),
      kinds_(std::move(kinds)),
      options_(options),
      size_(request_->tasks_size()),
      env_(env),
      semaphore_(semaphore),
      start_time_(absl::Now()),
      sink_(std::move(sink)),
      on_done_(std::move(on_done)) {}

Batch::~Batch() = default;

void Batch::Start() {
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
  FinishIfDone();  // an empty batch is done at once
  semaphore_.Request(std::move(self));
}

v1::Progress Batch::progress() const {
  MutexLock lock(&mu_);
  return ProgressLocked();
}

int64_t Batch::queued() const {
  MutexLock lock(&mu_);
  return size_ - next_;
}

v1::Progress Batch::ProgressLocked() const {
  v1::Progress p;
  p.set_total(static_cast<uint32_t>(size_));
  p.set_completed(static_cast<uint32_t>(completed_));
  p.set_failed(static_cast<uint32_t>(failed_));
  p.set_running(static_cast<uint32_t>(running_.size()));
  p.set_queued(static_cast<uint32_t>(size_ - next_));
  return p;
}

bool Batch::WantsSlotLocked() const {
  return !cancelled_ && next_ < size_ &&
         static_cast<int64_t>(running_.size()) < options_.max_concurrency &&
         !(sink_ != nullptr && sink_->Backlogged());
}

bool Batch::OnSlot() {
  std::shared_ptr<TaskContext> task;
  const TaskKind* kind;
  {
    MutexLock lock(&mu_);
    if (!WantsSlotLocked()) return false;
    const uint32_t index = static_cast<uint32_t>(next_++);
    const v1::Task& spec = request_->tasks(index);
    const absl::Duration timeout = TaskTimeout(spec, options_.task_timeout);
    const absl::Time now = absl::Now();
    const absl::Time task_deadline =
        std::min(options_.deadline, timeout == absl::InfiniteDuration()
                                        ? absl::InfiniteFuture()
                                        : now + timeout);
    task = std::make_shared<TaskContext>(shared_from_this(), index, spec,
                                         task_deadline, env_);
    kind = kinds_[index];
    Running& running = running_[index];
    running.task = task;
    if (timeout != absl::InfiniteDuration()) {
      std::weak_ptr<TaskContext> weak = task;
      running.timeout_timer =
          env_.timers.Schedule(now + timeout, [weak, timeout] {
            if (auto t = weak.lock()) {
              t->Cancel(absl::DeadlineExceededError(absl::StrCat(
                  "task timed out after ", absl::FormatDuration(timeout))));
            }
          });
    }
    if (sink_ != nullptr) sink_->OnProgress(ProgressLocked());
  }
  Flush();
  RunTask(std::move(task), *kind);
  return true;
}

void Batch::RunTask(std::shared_ptr<TaskContext> task, const TaskKind& kind) {
  TaskContext& ref = *task;
  try {
    kind.handler(std::move(task));
  } catch (const std::exception& e) {
    ref.Finish(absl::InternalError(
        absl::StrCat("task kind '", kind.name, "' threw: ", e.what())));
  } catch (...) {
    ref.Finish(absl::InternalError(
        absl::StrCat("task kind '", kind.name, "' threw an exception")));
  }
}

void Batch::OnTaskEnded(TaskContext& task,
                        absl::StatusOr<HandlerOutput> result) {
  const absl::Time now = absl::Now();
  const uint32_t index = task.index();
  std::vector<std::shared_ptr<TaskContext>> to_cancel;
  TimerQueue::TimerId timer = 0;
  std::shared_ptr<TaskContext> keep_alive;  // released outside the lock
  bool more = false;
  {
    MutexLock lock(&mu_);
    auto it = running_.find(index);
    if (it != running_.end()) {
      timer = it->second.timeout_timer;
      keep_alive = std::move(it->second.task);
      running_.erase(it);
    }
    v1::TaskResult r;
    r.set_index(index);
    if (!task.task().id().empty()) r.set_id(task.task().id());
    *r.mutable_started_after() =
        ToProtoDuration(task.started_at() - start_time_);
    *r.mutable_finished_after() = ToProtoDuration(now - start_time_);
    const bool ok = result.ok();
    if (ok) {
      r.mutable_status();  // code 0
      *r.mutable_output() = std::move(result->output);
      if (!result->payload.empty()) r.set_payload(std::move(result->payload));
    } else {
      ToProtoStatus(result.status(), r.mutable_status());
    }
    EmitLocked(std::move(r), ok);
    // The failure goes out before the cancellations it causes.
    if (!ok && options_.fail_fast && !cancelled_) {
      to_cancel = CancelLocked(absl::Status(
          result.status().code(), absl::StrCat("task ", index, " failed: ",
                                               result.status().message())));
    }
    more = WantsSlotLocked();
  }
  if (timer != 0) env_.timers.Cancel(timer);
  for (auto& t : to_cancel) {
    t->Cancel(
        absl::CancelledError("cancelled: another task of the batch failed"));
  }
  Flush();
  semaphore_.Release();
  if (more) semaphore_.Request(shared_from_this());
  FinishIfDone();
}

void Batch::Cancel(absl::Status why) {
  std::vector<std::shared_ptr<TaskContext>> to_cancel;
  {
    MutexLock lock(&mu_);
    if (call_status_.ok()) call_status_ = why;
    if (cancelled_) return;
    to_cancel = CancelLocked(why);
  }
  Flush();
  for (auto& t : to_cancel) t->Cancel(why);
  FinishIfDone();
}

std::vector<std::shared_ptr<TaskContext>> Batch::CancelLocked(
    absl::Status why) {
  cancelled_ = true;
  outcome_ = why;
  // Queued tasks never start: they end here, in index order.
  for (; next_ < size_; ++next_) {
    v1::TaskResult r;
    r.set_index(static_cast<uint32_t>(next_));
    if (!request_->tasks(next_).id().empty())
      r.set_id(request_->tasks(next_).id());
    ToProtoStatus(absl::Status(why.code() == absl::StatusCode::kDeadlineExceeded
                                   ? absl::StatusCode::kDeadlineExceeded
                                   : absl::StatusCode::kCancelled,
                               absl::StrCat("not started: ", why.message())),
                  r.mutable_status());
    *r.mutable_finished_after() = ToProtoDuration(absl::Now() - start_time_);
    EmitLocked(std::move(r), false);
  }
  std::vector<std::shared_ptr<TaskContext>> running;
  running.reserve(running_.size());
  for (auto& [index, r] : running_) running.push_back(r.task);
  return running;
}

void Batch::EmitLocked(v1::TaskResult result, bool ok) {
  ++completed_;
  if (!ok) {
    ++failed_;
    if (result.status().code() ==
        static_cast<int>(absl::StatusCode::kCancelled)) {
      ++cancelled_count_;
    }
  }
  if (sink_ != nullptr) sink_->OnResult(std::move(result), ProgressLocked());
}

void Batch::Resume() {
  bool more;
  {
    MutexLock lock(&mu_);
    more = WantsSlotLocked();
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
  std::shared_ptr<BatchSink> sink;
  {
    MutexLock lock(&mu_);
    if (done_reported_ || completed_ < size_) return;
    done_reported_ = true;
    v1::Summary summary;
    *summary.mutable_progress() = ProgressLocked();
    summary.set_succeeded(static_cast<uint32_t>(completed_ - failed_));
    summary.set_cancelled(static_cast<uint32_t>(cancelled_count_));
    *summary.mutable_wall_time() = ToProtoDuration(absl::Now() - start_time_);
    absl::Status outcome = outcome_;
    if (outcome.ok() && failed_ > 0) {
      outcome = absl::UnknownError(
          absl::StrCat(failed_, " of ", size_, " tasks failed"));
    }
    ToProtoStatus(outcome, summary.mutable_outcome());
    sink = std::move(sink_);
    if (sink != nullptr) sink->OnDone(summary, call_status_);
    on_done = std::move(on_done_);
    timer = deadline_timer_;
  }
  if (timer != 0) env_.timers.Cancel(timer);
  if (sink != nullptr) sink->Flush();
  if (on_done) on_done();
}

}  // namespace batchexec
