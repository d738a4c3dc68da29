// The BatchExecutor gRPC service on the callback API: one reactor per call,
// no thread per call; batches run on the Executor.
#ifndef BATCHEXEC_SERVER_RPC_SERVICE_H_
#define BATCHEXEC_SERVER_RPC_SERVICE_H_

#include "batchexec/v1/batch.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "server/core/executor.h"
#include "server/rpc/auth.h"

namespace batchexec {

// Execute and Gather are raw methods: their reactors parse the request onto
// an arena of the call's own and serialize their replies (call_util.h).
class BatchExecutorService final
    : public v1::BatchExecutor::WithRawCallbackMethod_Execute<
          v1::BatchExecutor::WithRawCallbackMethod_Gather<
              v1::BatchExecutor::CallbackService>> {
 public:
  // `executor` and `auth` must outlive the service. Every method checks
  // `auth` first.
  BatchExecutorService(Executor& executor, const TokenAuthenticator& auth)
      : executor_(executor), auth_(auth) {}

  grpc::ServerWriteReactor<grpc::ByteBuffer>* Execute(
      grpc::CallbackServerContext* context,
      const grpc::ByteBuffer* request) override;
  grpc::ServerUnaryReactor* Gather(grpc::CallbackServerContext* context,
                                   const grpc::ByteBuffer* request,
                                   grpc::ByteBuffer* response) override;
  grpc::ServerUnaryReactor* ListTaskKinds(
      grpc::CallbackServerContext* context,
      const v1::ListTaskKindsRequest* request,
      v1::ListTaskKindsResponse* response) override;
  // The totals, and of the per-caller rows only the calling caller's
  // (auth.h's IdentifyCaller): no caller sees another's name or load.
  // Executor::Stats has every row for the embedder.
  grpc::ServerUnaryReactor* GetServerStats(
      grpc::CallbackServerContext* context,
      const v1::GetServerStatsRequest* request,
      v1::ServerStats* response) override;

 private:
  Executor& executor_;
  const TokenAuthenticator& auth_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_SERVICE_H_
