// absl::Status <-> the wire's per-task v1::Status (google.rpc.Status
// compatible). Codes share google.rpc.Code numbering, so nothing is lost.
#ifndef BATCHEXEC_COMMON_PROTO_STATUS_H_
#define BATCHEXEC_COMMON_PROTO_STATUS_H_

#include <string>

#include "absl/status/status.h"
#include "batchexec/v1/batch.pb.h"

namespace batchexec {

inline absl::Status FromProtoStatus(const v1::Status& s) {
  return absl::Status(static_cast<absl::StatusCode>(s.code()), s.message());
}

inline void ToProtoStatus(const absl::Status& s, v1::Status* out) {
  out->set_code(static_cast<int>(s.code()));
  out->set_message(std::string(s.message()));
}

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_PROTO_STATUS_H_
