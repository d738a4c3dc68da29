// Reading small files (PEM certificates, token files, task files), with
// errors that name the file.
#ifndef BATCHEXEC_COMMON_FILE_UTIL_H_
#define BATCHEXEC_COMMON_FILE_UTIL_H_

#include <string>

#include "absl/status/statusor.h"

namespace batchexec {

// The whole file; NOT_FOUND "<path>: cannot open: <reason>" if unreadable.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// A bearer token from a file, surrounding whitespace trimmed. An empty token
// is INVALID_ARGUMENT, so a blank file cannot turn authentication off.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_FILE_UTIL_H_
