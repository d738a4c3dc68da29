// Small helpers shared by the service's reactors.
#ifndef BATCHEXEC_SERVER_CALL_UTIL_H_
#define BATCHEXEC_SERVER_CALL_UTIL_H_

#include <chrono>
#include <memory>

#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace batchexec {

// Moves the request out of gRPC's message into one the batch owns, in O(1):
// the batch outlives the call's request buffer (handlers may still be running
// when the call ends), and copying a 1M-task batch would cost as much as
// running it. gRPC reads the request no more once the method is invoked.
template <typename Request>
std::unique_ptr<Request> TakeRequest(const Request* request) {
  auto owned = std::make_unique<Request>();
  owned->Swap(const_cast<Request*>(request));
  return owned;
}

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

#endif  // BATCHEXEC_SERVER_CALL_UTIL_H_
