#ifndef BATCHEXEC_COMMON_STATUS_CODE_NAME_H_
#define BATCHEXEC_COMMON_STATUS_CODE_NAME_H_

#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace batchexec {

// The gRPC name of a status code number ("OK", "NOT_FOUND", ...), as metrics
// labels, access-log lines and retry policies spell it; "UNKNOWN" for a
// number out of range.
std::string StatusCodeName(int code);

// The code named `name` (any case, e.g. "unavailable"), if there is one.
std::optional<absl::StatusCode> ParseStatusCodeName(absl::string_view name);

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_STATUS_CODE_NAME_H_
