// Reads a batch from JSON lines: one Task per line in proto3 JSON, e.g.
//   {"kind": "sleep", "args": {"seconds": 1}, "id": "a"}
//   {"kind": "echo", "args": {"x": 1}, "timeout": "2.5s"}
// Blank lines are skipped; a UTF-8 byte order mark and CRLF line ends are
// accepted. Each line is strict JSON, parsed by TaskJsonParser
// (task_json.h), ~1 µs for a small task. A pure function of its input (no I/O,
// no globals), so that fuzzers and the CLI can call it alike.
#ifndef BATCHEXEC_CLI_TASK_READER_H_
#define BATCHEXEC_CLI_TASK_READER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "batchexec/v1/batch.pb.h"

namespace batchexec {

// Text of this size or more is parsed in two halves at once, the second on
// a thread of its own: reading is most of a big CLI run (100k tasks, 3.6 MB,
// take ~0.25 s on one core here), and the server and network sit idle
// meanwhile.
inline constexpr size_t kParallelJsonlBytes = 256 << 10;

// Every task of `text` in order, or INVALID_ARGUMENT for the first bad line:
// "line N: ..." (N counted from 1) saying what is wrong: not a JSON object,
// an unknown field, a wrong type, or no "kind". All or nothing: a caller
// never sends part of a malformed file. The result does not depend on
// `parallel_bytes` (tests and the fuzzer force the split with 1).
absl::StatusOr<std::vector<v1::Task>> ParseTasksJsonl(
    absl::string_view text, size_t parallel_bytes = kParallelJsonlBytes);

// A message holding protobuf's JSON parse error, which ends "\n<text near
// the error>\n<spaces>^": when that text is empty (the error is at the end of
// the input) the blank line and lone ^ are dropped.
std::string TidyJsonError(absl::string_view message);

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_TASK_READER_H_
