#include "server/rpc/execute_reactor.h"

#include <algorithm>
#include <optional>
#include <utility>

#include "common/grpc_status.h"
#include "server/core/limits.h"
#include "server/rpc/call_util.h"

namespace batchexec {

// What the batch sees of the call. A class of its own: holding the reactor,
// it keeps it alive until the batch's last Flush, past gRPC's OnDone.
class ExecuteReactor::Sink final : public BatchSink {
 public:
  explicit Sink(std::shared_ptr<ExecuteReactor> reactor)
      : reactor_(std::move(reactor)) {}

  void Flush() override { reactor_->Pump(); }
  void OnProgress(const v1::Progress& progress) override {
    reactor_->events_.OnProgress(progress);
  }
  v1::TaskResult* NewResult(uint32_t) override {
    return reactor_->events_.NewResult();
  }
  absl::Status Hold(const ResultFit& fit) override {
    return reactor_->events_.Hold(fit);
  }
  void OnResult(v1::TaskResult* result, const ResultFit& fit,
                const v1::Progress& progress) override {
    reactor_->events_.OnResult(result, fit, progress);
  }
  void OnBatchDone(const v1::Summary& summary,
                   const absl::Status& call_status) override {
    reactor_->OnBatchDone(summary, call_status);
  }
  bool Backlogged() const override { return reactor_->events_.Backlogged(); }
  // The reactor writes its last event before OnDone drops the batch.
  bool ResultsMayBorrowFromRequest() const override { return true; }

 private:
  const std::shared_ptr<ExecuteReactor> reactor_;
};

ExecuteReactor* ExecuteReactor::Start(Executor& executor,
                                      grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request,
                                      Caller caller) {
  std::shared_ptr<ExecuteReactor> reactor(new ExecuteReactor());
  reactor->self_ = reactor;
  reactor->Begin(executor, context, *request, caller);
  return reactor.get();
}

void ExecuteReactor::Begin(Executor& executor,
                           grpc::CallbackServerContext* context,
                           const grpc::ByteBuffer& wire, const Caller& caller) {
  timers_ = &executor.environment().timers;
  cpu_pool_ = &executor.environment().cpu_pool;
  log_ = std::make_unique<CallLog>(executor.access_log(), "Execute", caller,
                                   *context, wire);
  absl::StatusOr<AdmittedRequest> request =
      AdmitAndParse(wire, executor, caller);
  // Unsent results are charged to the caller's request memory; zero bytes
  // always fit.
  if (request.ok()) {
    events_.ChargeTo(*executor.request_memory().TryReserve(caller.name, 0));
  }
  std::string note;
  absl::StatusOr<std::shared_ptr<Batch>> batch =
      request.ok() ? executor.Start(request->batch, CallDeadline(*context),
                                    std::make_shared<Sink>(shared_from_this()),
                                    &note, caller)
                   : request.status();
  if (!batch.ok()) {
    {
      MutexLock lock(&mu_);
      finished_ = true;
    }
    Finish(ToGrpcStatus(batch.status()));
    return;
  }
  log_->BatchStarted((*batch)->id(), *request->batch.request,
                     request->batch.tasks.size());
  {
    MutexLock lock(&mu_);
    batch_ = *batch;
    cpu_caller_ = (*batch)->caller_key();
  }
  v1::Accepted accepted;
  accepted.set_batch_id((*batch)->id());
  accepted.set_task_count(static_cast<uint32_t>(request->batch.tasks.size()));
  accepted.set_max_concurrency(static_cast<uint32_t>(
      std::min<int64_t>((*batch)->max_concurrency(), UINT32_MAX)));
  accepted.set_note(note);
  accepted.set_max_starts_per_second((*batch)->max_starts_per_second());
  accepted.set_caller(caller.name);
  // The batch may have queued results already; they follow Accepted.
  events_.Accept(std::move(accepted));
  Pump();
}

void ExecuteReactor::OnBatchDone(const v1::Summary& summary,
                                 const absl::Status& status) {
  MutexLock lock(&mu_);
  call_status_ = ToGrpcStatus(status);
  log_->BatchDone(summary);
  events_.OnBatchDone(summary);
}

void ExecuteReactor::Pump() {
  std::optional<OutgoingEvent> event;
  std::optional<grpc::Status> finish;
  std::shared_ptr<Batch> resume;
  absl::Time wake = absl::InfiniteFuture();
  const void* cpu_caller;
  {
    MutexLock lock(&mu_);
    if (writing_ || finished_) return;
    cpu_caller = cpu_caller_;
    EventQueue::Step step = events_.Take(absl::Now());
    if (step.resume) resume = batch_;
    if (step.event) {
      writing_ = true;
      event = std::move(step.event);
    } else if (step.end) {
      finished_ = true;
      // A cancelled or expired call ends as such, after its summary.
      finish = broken_ ? grpc::Status(grpc::StatusCode::CANCELLED,
                                      "the client stopped reading")
                       : call_status_;
    } else if (step.wake != absl::InfiniteFuture() && !flush_timer_armed_) {
      flush_timer_armed_ = true;
      wake = step.wake;
    }
  }
  // Outside the lock: a write may complete inline and re-enter Pump.
  if (resume != nullptr) resume->Resume();
  if (wake != absl::InfiniteFuture()) {
    std::weak_ptr<ExecuteReactor> weak = shared_from_this();
    timers_->Schedule(wake, [weak] {
      if (auto self = weak.lock()) {
        {
          MutexLock lock(&self->mu_);
          self->flush_timer_armed_ = false;
        }
        self->Pump();
      }
    });
  }
  if (event) {
    // Pump runs on the timer thread (a flush, a sleep's end) and on the
    // thread of whichever task ended last: a big chunk (up to
    // kMaxChunkBytes) is serialized on a CPU worker instead, in the turn of
    // this call's caller.
    if (event->bytes() < kInlineSerializeBytes) {
      Write(*std::move(event));
    } else {
      cpu_pool_->Post(
          cpu_caller, this,
          [self = shared_from_this(), e = *std::move(event)]() mutable {
            self->Write(std::move(e));
          });
    }
  }
  if (finish) Finish(*finish);
}

void ExecuteReactor::Write(OutgoingEvent event) {
  const bool serialized = SerializeEvent(event.message(), &wire_event_);
  {
    // A chunk's arena goes at once, before the write ends.
    OutgoingEvent sent = std::move(event);
  }
  if (!serialized) {
    // Cannot happen: the queue keeps every event under 4 MiB.
    Finish(grpc::Status(grpc::StatusCode::INTERNAL, "event too large"));
    return;
  }
  log_->AddBytesOut(wire_event_.Length());
  StartWrite(&wire_event_);
}

void ExecuteReactor::OnWriteDone(bool ok) {
  {
    MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      broken_ = true;  // the client is gone; OnCancel cancels the batch
      events_.Drop();
    }
  }
  Pump();
}

void ExecuteReactor::OnCancel() {
  std::shared_ptr<Batch> batch;
  {
    MutexLock lock(&mu_);
    batch = batch_;
    // Nobody will read the rest: drop it rather than buffer a result for
    // every task the cancellation ends.
    broken_ = true;
    events_.Drop();
  }
  if (batch != nullptr) {
    batch->Cancel(absl::CancelledError("call cancelled by the client"));
  }
}

void ExecuteReactor::OnDone() {
  std::shared_ptr<ExecuteReactor> self = std::move(self_);
  MutexLock lock(&mu_);
  batch_.reset();  // the batch ended; break the batch <-> sink cycle
  log_->CallDone();
  // `self` goes last, after the lock: the batch may still hold us until its
  // final Flush.
}

}  // namespace batchexec
