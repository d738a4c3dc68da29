// The access-log line of one Execute or Gather call, filled in as the call
// goes and written once when it ends. Thread-safe; without a log (--access_log
// =none) every method does nothing.
#ifndef BATCHEXEC_SERVER_RPC_CALL_LOG_H_
#define BATCHEXEC_SERVER_RPC_CALL_LOG_H_

#include <atomic>
#include <cstdint>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "batchexec/v1/batch.pb.h"
#include "common/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/core/access_log.h"
#include "server/core/caller.h"

namespace batchexec {

class CallLog {
 public:
  // `method`: "Execute" or "Gather"; `request` is the call's wire request.
  CallLog(AccessLog* log, absl::string_view method, const Caller& caller,
          const grpc::CallbackServerContext& context,
          const grpc::ByteBuffer& request);

  // `tasks`: the batch's size (a wire request's fields hold no tasks).
  void BatchStarted(absl::string_view batch_id,
                    const v1::ExecuteRequest& request, int64_t tasks);
  void BatchDone(const v1::Summary& summary);
  // Bytes written to the wire; Set for a call that writes once.
  void AddBytesOut(size_t bytes) {
    bytes_out_.fetch_add(static_cast<int64_t>(bytes),
                         std::memory_order_relaxed);
  }
  void SetBytesOut(size_t bytes) {
    bytes_out_.store(static_cast<int64_t>(bytes), std::memory_order_relaxed);
  }
  // Writes the line when the call started a batch: a refused request is
  // counted by the metrics, not logged.
  void CallDone();

 private:
  AccessLog* const log_;
  Mutex mu_;
  AccessRecord record_ ABSL_GUARDED_BY(mu_);
  std::atomic<int64_t> bytes_out_{0};
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_CALL_LOG_H_
