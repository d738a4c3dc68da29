// Reading small files (PEM certificates, token files, task files), with
// errors that name the file, and resolving the paths users give for them.
#ifndef BATCHEXEC_COMMON_FILE_UTIL_H_
#define BATCHEXEC_COMMON_FILE_UTIL_H_

#include <string>

#include "absl/status/statusor.h"

namespace batchexec {

// `path` as the user meant it. `bazel run` starts programs in their runfiles
// folder, so a relative path from a command line is taken from the folder
// the command was typed in, $BUILD_WORKING_DIRECTORY (as buildifier does).
// Absolute and empty paths, and any path outside `bazel run`, are returned
// unchanged. Call it on file arguments, not in libraries.
std::string ResolveUserPath(const std::string& path);

// The whole file; NOT_FOUND "<path>: cannot open: <reason>" if unreadable.
absl::StatusOr<std::string> ReadFile(const std::string& path);

// A bearer token from a file, surrounding whitespace trimmed. An empty token
// is INVALID_ARGUMENT, so a blank file cannot turn authentication off.
absl::StatusOr<std::string> ReadTokenFile(const std::string& path);

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_FILE_UTIL_H_
