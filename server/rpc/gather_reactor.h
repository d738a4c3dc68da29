// The Gather call: a unary reactor that is also the batch's sink. Results
// are stored by index as they end; the response goes out once, in request
// order, when the batch is done.
#ifndef BATCHEXEC_SERVER_RPC_GATHER_REACTOR_H_
#define BATCHEXEC_SERVER_RPC_GATHER_REACTOR_H_

#include <atomic>
#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "common/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/core/batch.h"
#include "server/core/executor.h"
#include "server/core/result_charge.h"
#include "server/rpc/call_log.h"
#include "server/rpc/call_util.h"

namespace batchexec {

class GatherReactor final : public grpc::ServerUnaryReactor,
                            public BatchSink,
                            public std::enable_shared_from_this<GatherReactor> {
 public:
  // Raw method: parses `request` onto the call's arena and serializes the
  // response into `response` itself.
  static GatherReactor* Start(Executor& executor,
                              grpc::CallbackServerContext* context,
                              const grpc::ByteBuffer* request,
                              grpc::ByteBuffer* response, Caller caller);

  // BatchSink
  v1::TaskResult* NewResult(uint32_t index) override;
  // Charges the result, kept until the reactor is gone.
  absl::Status Hold(const ResultFit& fit) override;
  void OnResult(v1::TaskResult*, const ResultFit& fit,
                const v1::Progress&) override {
    result_bytes_.fetch_add(static_cast<int64_t>(fit.bytes),
                            std::memory_order_relaxed);
  }
  void OnBatchDone(const v1::Summary& summary,
                   const absl::Status& call_status) override;
  void Flush() override;
  // The response lives on the request's arena.
  bool ResultsMayBorrowFromRequest() const override { return true; }

  // grpc::ServerUnaryReactor
  void OnCancel() override;
  void OnDone() override;

 private:
  explicit GatherReactor(grpc::ByteBuffer* wire_response)
      : wire_response_(wire_response) {}
  void Begin(Executor& executor, grpc::CallbackServerContext* context,
             const grpc::ByteBuffer& request, const Caller& caller);
  void FinishWith(const absl::Status& status);
  void SerializeAndFinish();

  std::shared_ptr<GatherReactor> self_;  // dropped in OnDone
  // Holds the request and response_ (both set by Begin, before the batch
  // starts); the batch shares it.
  std::shared_ptr<RequestMemory> memory_;
  v1::GatherResponse* response_ = nullptr;  // on memory_'s arena
  // The response's results, charged to the caller's request memory (under
  // the batch's lock; set by Begin before the batch starts).
  ResultCharge charge_;
  grpc::ByteBuffer* const wire_response_;  // gRPC's, valid until OnDone
  WorkerPool* helpers_ = nullptr;          // the executor's CPU pool
  Mutex mu_;
  std::shared_ptr<Batch> batch_ ABSL_GUARDED_BY(mu_);
  // The batch's caller in the CPU pool's turns (Batch::caller_key).
  const void* cpu_caller_ ABSL_GUARDED_BY(mu_) = nullptr;
  // The results' bytes as serialized (the batch sizes each once).
  std::atomic<int64_t> result_bytes_{0};
  bool batch_done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status call_status_ ABSL_GUARDED_BY(mu_);  // set by OnBatchDone
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::unique_ptr<CallLog> log_;  // set by Begin; written in OnDone
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_GATHER_REACTOR_H_
