// How the SDK starts a GatherCall: the batch already split into parts, each
// with the gRPC stub of the server that runs it. Internal to the SDK
// (Client::StartGather is the public way in); not part of @batchexec//client.
#ifndef BATCHEXEC_CLIENT_INTERNAL_GATHER_CALL_FACTORY_H_
#define BATCHEXEC_CLIENT_INTERNAL_GATHER_CALL_FACTORY_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "batchexec/v1/batch.pb.h"
#include "client/gather_call.h"
#include "client/gather_options.h"

namespace batchexec {
namespace gather_internal {

// One contiguous slice of the batch and the server that runs it.
struct Part {
  std::shared_ptr<v1::BatchExecutor::Stub> stub;
  // Names the server in messages about this part; empty when the batch is
  // not split.
  std::string label;
  // Position of the part's first task in the whole batch.
  size_t first_index = 0;
  // The part's tasks. The call sets the other fields from the options.
  v1::ExecuteRequest request;
};

class GatherCallFactory {
 public:
  // Starts every part and returns without waiting for any of them. Parts
  // must be in order and cover the batch without gaps. An unset
  // failure_policy means kFailFast. A part without a stub fails its tasks
  // with FAILED_PRECONDITION; no callback runs on this thread. Every
  // stream sends `auth_token` as a bearer token (none if empty) and fails
  // after `stream_idle_timeout` without a message (ExecuteStream).
  [[nodiscard]] static std::unique_ptr<GatherCall> Start(
      std::vector<Part> parts, GatherOptions options, std::string auth_token,
      absl::Duration stream_idle_timeout);
};

}  // namespace gather_internal
}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_INTERNAL_GATHER_CALL_FACTORY_H_
