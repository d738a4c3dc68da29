#include "server/gather_reactor.h"

#include <utility>

#include "common/grpc_status.h"
#include "server/call_util.h"

namespace batchexec {

GatherReactor* GatherReactor::Start(Executor& executor,
                                    grpc::CallbackServerContext* context,
                                    const v1::ExecuteRequest* request,
                                    v1::GatherResponse* response) {
  std::shared_ptr<GatherReactor> reactor(new GatherReactor(response));
  reactor->self_ = reactor;
  reactor->Begin(executor, context, request);
  return reactor.get();
}

void GatherReactor::Begin(Executor& executor,
                          grpc::CallbackServerContext* context,
                          const v1::ExecuteRequest* request) {
  {
    MutexLock lock(&mu_);
    results_.resize(request->tasks_size());
  }
  auto batch = executor.Start(TakeRequest(request), CallDeadline(*context),
                              shared_from_this());
  if (!batch.ok()) {
    {
      MutexLock lock(&mu_);
      finished_ = true;
    }
    Finish(ToGrpcStatus(batch.status()));
    return;
  }
  {
    MutexLock lock(&mu_);
    batch_ = *batch;
  }
  Flush();  // a batch of instant tasks may be done already
}

void GatherReactor::OnResult(v1::TaskResult result, const v1::Progress&) {
  MutexLock lock(&mu_);
  const uint32_t index = result.index();
  results_[index] = std::move(result);
}

void GatherReactor::OnDone(const v1::Summary& summary,
                           const absl::Status& call_status) {
  MutexLock lock(&mu_);
  call_status_ = ToGrpcStatus(call_status);
  *response_->mutable_summary() = summary;
  batch_done_ = true;
}

void GatherReactor::Flush() {
  grpc::Status status;
  {
    MutexLock lock(&mu_);
    if (!batch_done_ || finished_ || batch_ == nullptr) return;
    finished_ = true;
    // A cancelled or expired call fails as a call; per-task failures don't.
    status = call_status_;
    auto* out = response_->mutable_results();
    out->Reserve(static_cast<int>(results_.size()));
    for (v1::TaskResult& r : results_) {
      out->AddAllocated(new v1::TaskResult(std::move(r)));
    }
    results_.clear();
    results_.shrink_to_fit();
  }
  Finish(status);
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
}

}  // namespace batchexec
