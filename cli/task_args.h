// Tasks written as command-line arguments:
//   sleep:2                 kind "sleep", seconds 2
//   primes:100000           kind "primes", n 100000
//   echo:'{"x":1}'          kind "echo", args {"x": 1}
//   fail:'{"code":5}'       kind "fail", args {"code": 5}
//   echo:                   kind "echo", no args
//   '{"kind":"echo","id":"a"}'   a whole Task in proto3 JSON
#ifndef BATCHEXEC_CLI_TASK_ARGS_H_
#define BATCHEXEC_CLI_TASK_ARGS_H_

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "batchexec/v1/batch.pb.h"

namespace batchexec {

// True if `arg` is written as a task (KIND:... or a JSON object) rather than
// a file name.
bool LooksLikeTaskArg(absl::string_view arg);

// The task `arg` writes, or INVALID_ARGUMENT saying what is wrong with it.
// A bare number is the main argument of the kinds that have one (sleep:
// seconds, primes: n).
absl::StatusOr<v1::Task> ParseTaskArg(absl::string_view arg);

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_TASK_ARGS_H_
