// The one place where gRPC and Abseil statuses are converted. Their codes
// share google.rpc.Code numbering, so conversion is lossless.
#ifndef BATCHEXEC_COMMON_GRPC_STATUS_H_
#define BATCHEXEC_COMMON_GRPC_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "grpcpp/support/status.h"

namespace batchexec {

inline grpc::Status ToGrpcStatus(const absl::Status& s) {
  return grpc::Status(static_cast<grpc::StatusCode>(s.code()),
                      std::string(s.message()));
}

inline absl::Status FromGrpcStatus(const grpc::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.error_code()),
                      s.error_message());
}

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_GRPC_STATUS_H_
