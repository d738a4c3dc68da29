#include "server/rpc/gather_reactor.h"

#include <utility>

#include "common/grpc_status.h"
#include "server/core/limits.h"
#include "server/rpc/call_util.h"

namespace batchexec {

GatherReactor* GatherReactor::Start(Executor& executor,
                                    grpc::CallbackServerContext* context,
                                    const grpc::ByteBuffer* request,
                                    grpc::ByteBuffer* response, Caller caller) {
  std::shared_ptr<GatherReactor> reactor(new GatherReactor(response));
  reactor->self_ = reactor;
  reactor->Begin(executor, context, *request, caller);
  return reactor.get();
}

void GatherReactor::Begin(Executor& executor,
                          grpc::CallbackServerContext* context,
                          const grpc::ByteBuffer& wire, const Caller& caller) {
  helpers_ = &executor.environment().cpu_pool;
  log_ = std::make_unique<CallLog>(executor.access_log(), "Gather", caller,
                                   *context, wire);
  absl::StatusOr<AdmittedRequest> request =
      AdmitAndParse(wire, executor, caller);
  if (!request.ok()) return FinishWith(request.status());
  memory_ = request->memory;
  charge_ = ResultCharge(*executor.request_memory().TryReserve(caller.name, 0));
  response_ = google::protobuf::Arena::CreateMessage<v1::GatherResponse>(
      &memory_->arena);
  const auto size = static_cast<int>(request->batch.tasks.size());
  {
    // One slot per task, filled in place as tasks end: the response is built
    // in request order with no copy at the end.
    MutexLock lock(&mu_);
    auto* results = response_->mutable_results();
    results->Reserve(size);
    for (int i = 0; i < size; ++i) results->Add();
  }
  auto batch = executor.Start(request->batch, CallDeadline(*context),
                              shared_from_this(), nullptr, caller);
  if (!batch.ok()) return FinishWith(batch.status());
  log_->BatchStarted((*batch)->id(), *request->batch.request,
                     request->batch.tasks.size());
  {
    MutexLock lock(&mu_);
    batch_ = *batch;
    cpu_caller_ = (*batch)->caller_key();
  }
  Flush();  // a batch of instant tasks may be done already
}

v1::TaskResult* GatherReactor::NewResult(uint32_t index) {
  // Each slot is written once, under the batch's lock, and read only after
  // the batch is done: no lock of ours needed.
  return response_->mutable_results(static_cast<int>(index));
}

absl::Status GatherReactor::Hold(const ResultFit& fit) {
  int64_t charged;  // released all at once, with charge_
  return charge_.Hold(fit.bytes, &charged);
}

void GatherReactor::OnBatchDone(const v1::Summary& summary,
                                const absl::Status& call_status) {
  MutexLock lock(&mu_);
  call_status_ = ToGrpcStatus(call_status);
  *response_->mutable_summary() = summary;
  log_->BatchDone(summary);
  batch_done_ = true;
}

void GatherReactor::Flush() {
  grpc::Status status;
  const void* cpu_caller;
  {
    MutexLock lock(&mu_);
    if (!batch_done_ || finished_ || batch_ == nullptr) return;
    finished_ = true;
    // A cancelled or expired call fails as a call; per-task failures don't.
    status = call_status_;
    cpu_caller = cpu_caller_;
  }
  if (!status.ok()) return Finish(status);
  // By bytes, not results: a few huge results cost as much as many small.
  if (result_bytes_.load(std::memory_order_relaxed) < kInlineSerializeBytes) {
    return SerializeAndFinish();
  }
  // The last task may have ended on the timer thread, which every sleep,
  // timeout and deadline of the server waits on: serialize elsewhere, in
  // the CPU pool's turn of this call's caller (so a caller with 50 Gathers
  // gets no more turns than one with a single Gather).
  helpers_->Post(cpu_caller, this,
                 [self = shared_from_this()] { self->SerializeAndFinish(); });
}

void GatherReactor::SerializeAndFinish() {
  if (!SerializeGatherResponse(*response_, wire_response_, helpers_)) {
    return Finish(grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                               "response: larger than 2 GiB, use Execute"));
  }
  log_->SetBytesOut(wire_response_->Length());
  Finish(grpc::Status::OK);
}

void GatherReactor::FinishWith(const absl::Status& status) {
  {
    MutexLock lock(&mu_);
    finished_ = true;
  }
  Finish(ToGrpcStatus(status));
}

void GatherReactor::OnCancel() {
  std::shared_ptr<Batch> batch;
  {
    MutexLock lock(&mu_);
    batch = batch_;
  }
  if (batch != nullptr) {
    batch->Cancel(absl::CancelledError("call cancelled by the client"));
  }
}

void GatherReactor::OnDone() {
  std::shared_ptr<GatherReactor> self = std::move(self_);
  MutexLock lock(&mu_);
  batch_.reset();
  log_->CallDone();
}

}  // namespace batchexec
