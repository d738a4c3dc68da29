// Small helpers shared by the service's reactors.
#ifndef BATCHEXEC_SERVER_RPC_CALL_UTIL_H_
#define BATCHEXEC_SERVER_RPC_CALL_UTIL_H_

#include <chrono>
#include <memory>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "google/protobuf/arena.h"
#include "grpcpp/grpcpp.h"
#include "server/core/executor.h"
#include "server/core/worker_pool.h"

namespace batchexec {

// Admits a call's request before it is parsed: counts its tasks against
// --max_batch_size with a pass over the wire bytes (no copy), then reserves
// its estimated parsed size from the server's request memory budget. The
// returned arena holds the reservation for as long as the request lives.
// INVALID_ARGUMENT or RESOURCE_EXHAUSTED naming the limit.
// The arena is the call's own: the request and a Gather response live on it,
// so a 100k-task batch costs a few large blocks rather than allocations per
// task. Shared, because the batch may outlive the call.
absl::StatusOr<std::shared_ptr<google::protobuf::Arena>> AdmitRequest(
    const grpc::ByteBuffer& wire, Executor& executor);

// Parses the request of Execute or Gather (request_parser.h) from gRPC's
// buffer, releasing the wire bytes.
absl::StatusOr<v1::ExecuteRequest*> ParseWireRequest(
    const grpc::ByteBuffer& wire, google::protobuf::Arena* arena,
    WorkerPool* helpers);

// A request admitted (AdmitRequest) and parsed (ParseWireRequest), on the
// call's own arena.
struct AdmittedRequest {
  std::shared_ptr<google::protobuf::Arena> arena;
  v1::ExecuteRequest* request = nullptr;  // on `arena`

  // The request as the executor takes it: it keeps the arena alive.
  std::shared_ptr<const v1::ExecuteRequest> Shared() const {
    return std::shared_ptr<const v1::ExecuteRequest>(arena, request);
  }
};

// What Execute and Gather do first: admit, then parse on the CPU pool.
absl::StatusOr<AdmittedRequest> AdmitAndParse(const grpc::ByteBuffer& wire,
                                              Executor& executor);

// Serializes `message` into `wire`, replacing what it held (gRPC's own
// serializer). False only for a
// message too large to encode (over 2 GiB).
bool SerializeTo(const google::protobuf::MessageLite& message,
                 grpc::ByteBuffer* wire);

// Serializes a Gather response into `wire`; a big one in two halves at
// once, the second on `helpers` (optional). False only for a response too
// large to encode (over 2 GiB).
bool SerializeGatherResponse(const v1::GatherResponse& response,
                             grpc::ByteBuffer* wire, WorkerPool* helpers);

// The call's deadline, InfiniteFuture if the client set none.
inline absl::Time CallDeadline(const grpc::CallbackServerContext& context) {
  auto deadline = context.deadline();
  if (deadline >= std::chrono::system_clock::time_point::max() -
                      std::chrono::hours(24 * 365)) {
    return absl::InfiniteFuture();
  }
  return absl::FromChrono(deadline);
}

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_CALL_UTIL_H_
