// Small helpers shared by the service's reactors.
#ifndef BATCHEXEC_SERVER_RPC_CALL_UTIL_H_
#define BATCHEXEC_SERVER_RPC_CALL_UTIL_H_

#include <chrono>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "common/arena_blocks.h"
#include "google/protobuf/arena.h"
#include "grpcpp/grpcpp.h"
#include "server/core/caller.h"
#include "server/core/executor.h"
#include "server/core/memory_budget.h"
#include "server/core/worker_pool.h"

namespace batchexec {

// What a call's request lives in, holding its share of the server's
// request memory budget for as long as the request lives. Shared, because
// the batch may outlive the call.
struct RequestMemory {
  // The call's own arena: the request (or its top-level fields) and a Gather
  // response live on it, so a 100k-task batch costs a few large blocks
  // rather than allocations per task.
  google::protobuf::Arena arena{CachedArenaOptions()};
  // The request's bytes, while they are read, and for the batch's life when
  // its tasks run from them (TaskList).
  std::string wire;
  MemoryBudget::Reservation reservation;
};

// Admits a call's request before it is parsed: counts its tasks against
// --max_batch_size with a pass over the wire bytes (no copy), then reserves
// its estimated parsed size from the request memory budget, against
// `caller`'s share and the server's. INVALID_ARGUMENT or RESOURCE_EXHAUSTED
// naming the limit (the caller's share, or the server's budget).
absl::StatusOr<std::shared_ptr<RequestMemory>> AdmitRequest(
    const grpc::ByteBuffer& wire, Executor& executor, const Caller& caller);

// A request admitted (AdmitRequest) and read: its tasks either parsed onto
// the call's arena or, when every kind allows (Executor::CanRunFromWire),
// kept as wire bytes and parsed as each starts.
struct AdmittedRequest {
  std::shared_ptr<RequestMemory> memory;
  BatchRequest batch;
};

// What Execute and Gather do first: admit, then read the request from
// gRPC's buffer, releasing it; a big request is parsed in two halves at
// once (request_parser.h).
absl::StatusOr<AdmittedRequest> AdmitAndParse(const grpc::ByteBuffer& wire,
                                              Executor& executor,
                                              const Caller& caller);

// Serializes `message` into `wire`, replacing what it held (gRPC's own
// serializer). False only for a
// message too large to encode (over 2 GiB).
bool SerializeTo(const google::protobuf::MessageLite& message,
                 grpc::ByteBuffer* wire);

// Serializes an Execute event into `wire`, byte for byte as protobuf would.
// A chunk's results are written with the sizes the batch measured and
// cached in them (SizeResult/FitResult, the last thing done to a result
// before it is queued), so no result is sized twice. False only for an
// event too large to encode.
bool SerializeEvent(const v1::ExecuteEvent& event, grpc::ByteBuffer* wire);

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
