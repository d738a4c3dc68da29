// The Execute call: a server-streaming reactor that moves bytes. The batch's
// events wait in an EventQueue (event_queue.h), which decides what each
// message holds, when it is due and when the batch must pause; the reactor
// keeps one write in flight, writes what the queue hands out, arms a timer
// when the queue says to wait, and finishes the call.
#ifndef BATCHEXEC_SERVER_RPC_EXECUTE_REACTOR_H_
#define BATCHEXEC_SERVER_RPC_EXECUTE_REACTOR_H_

#include <atomic>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/core/batch.h"
#include "server/core/event_queue.h"
#include "server/core/executor.h"
#include "server/rpc/call_log.h"

namespace batchexec {

class ExecuteReactor final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
      public std::enable_shared_from_this<ExecuteReactor> {
 public:
  // Starts the call; the reactor keeps itself alive until gRPC's OnDone and
  // the batch's last Flush.
  // Raw method: parses `request` onto an arena of the call's own and
  // serializes each event itself.
  static ExecuteReactor* Start(Executor& executor,
                               grpc::CallbackServerContext* context,
                               const grpc::ByteBuffer* request, Caller caller);

  // grpc::ServerWriteReactor
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  // The batch's sink: buffers into events_; its Flush calls Pump.
  class Sink;

  ExecuteReactor() = default;
  void Begin(Executor& executor, grpc::CallbackServerContext* context,
             const grpc::ByteBuffer& request, const Caller& caller);
  // The batch ended (under its lock): the summary is queued.
  void OnBatchDone(const v1::Summary& summary, const absl::Status& status);
  // Starts the next write, or Finish once everything was sent.
  void Pump();
  // Serializes `event` and starts writing it (one write in flight).
  void Write(OutgoingEvent event);

  std::shared_ptr<ExecuteReactor> self_;  // dropped in OnDone
  TimerQueue* timers_ = nullptr;          // the executor's, for coalescing
  WorkerPool* cpu_pool_ = nullptr;        // the executor's, for big events
  EventQueue events_;  // locked after mu_, never while calling the batch
  mutable Mutex mu_;
  std::shared_ptr<Batch> batch_ ABSL_GUARDED_BY(mu_);
  // The batch's caller in the CPU pool's turns (Batch::caller_key).
  const void* cpu_caller_ ABSL_GUARDED_BY(mu_) = nullptr;
  bool writing_ ABSL_GUARDED_BY(mu_) = false;      // a write is in flight
  bool broken_ ABSL_GUARDED_BY(mu_) = false;       // the client is gone
  grpc::Status call_status_ ABSL_GUARDED_BY(mu_);  // set by OnBatchDone
  bool finished_ ABSL_GUARDED_BY(mu_) = false;     // Finish called
  bool flush_timer_armed_ ABSL_GUARDED_BY(mu_) = false;
  // The write in flight, serialized (only the writer touches it).
  grpc::ByteBuffer wire_event_;
  std::unique_ptr<CallLog> log_;  // set by Begin; written in OnDone
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_EXECUTE_REACTOR_H_
