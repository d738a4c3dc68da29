#include "server/rpc/call_log.h"

#include <string>

#include "absl/time/clock.h"

namespace batchexec {

CallLog::CallLog(AccessLog* log, absl::string_view method, const Caller& caller,
                 const grpc::CallbackServerContext& context,
                 const grpc::ByteBuffer& request)
    : log_(log) {
  if (log_ == nullptr) return;
  MutexLock lock(&mu_);
  record_.method = std::string(method);
  record_.caller = caller.name;
  record_.peer = context.peer();
  record_.bytes_in = static_cast<int64_t>(request.Length());
}

void CallLog::BatchStarted(absl::string_view batch_id,
                           const v1::ExecuteRequest& request, int64_t tasks) {
  if (log_ == nullptr) return;
  MutexLock lock(&mu_);
  record_.batch_id = std::string(batch_id);
  record_.SetRequest(request, tasks);
}

void CallLog::BatchDone(const v1::Summary& summary) {
  if (log_ == nullptr) return;
  MutexLock lock(&mu_);
  record_.SetSummary(summary);
}

void CallLog::CallDone() {
  if (log_ == nullptr) return;
  MutexLock lock(&mu_);
  if (record_.batch_id.empty()) return;
  record_.bytes_out = bytes_out_.load(std::memory_order_relaxed);
  record_.time = absl::Now();
  log_->Write(record_);
}

}  // namespace batchexec
