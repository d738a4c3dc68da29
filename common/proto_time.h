// Conversions between absl time types and google.protobuf.Duration, used by
// the server and the SDK alike.
#ifndef BATCHEXEC_COMMON_PROTO_TIME_H_
#define BATCHEXEC_COMMON_PROTO_TIME_H_

#include "absl/time/time.h"
#include "google/protobuf/duration.pb.h"

namespace batchexec {

inline void SetProtoDuration(absl::Duration d,
                             google::protobuf::Duration* out) {
  const int64_t nanos = absl::ToInt64Nanoseconds(d);
  out->set_seconds(nanos / 1'000'000'000);
  out->set_nanos(static_cast<int32_t>(nanos % 1'000'000'000));
}

inline google::protobuf::Duration ToProtoDuration(absl::Duration d) {
  google::protobuf::Duration out;
  SetProtoDuration(d, &out);
  return out;
}

inline absl::Duration FromProtoDuration(const google::protobuf::Duration& d) {
  return absl::Seconds(d.seconds()) + absl::Nanoseconds(d.nanos());
}

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_PROTO_TIME_H_
