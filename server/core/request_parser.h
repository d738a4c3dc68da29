// Parses the request of Execute and Gather onto the call's arena. A big
// request (over kParallelParseBytes) is parsed in two halves at once, one on
// a helper thread: the client waits idle meanwhile, so on 2 cores a 100k-task
// request is ready in about half the time. No gRPC here (it is fuzzed alone);
// call_util.h adapts gRPC's ByteBuffer.
#ifndef BATCHEXEC_SERVER_CORE_REQUEST_PARSER_H_
#define BATCHEXEC_SERVER_CORE_REQUEST_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "batchexec/v1/batch.pb.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/io/zero_copy_stream.h"
#include "server/core/task_list.h"
#include "server/core/worker_pool.h"

namespace batchexec {

inline constexpr size_t kParallelParseBytes = 1 << 20;

// Counts the top-level `tasks` of a serialized ExecuteRequest by skipping
// over the bytes, building nothing: limits are checked before a request is
// materialized (3M empty tasks are 6 MB on the wire but ~500 MB parsed).
// INVALID_ARGUMENT if the bytes are not a message.
absl::StatusOr<int64_t> CountTasks(
    google::protobuf::io::ZeroCopyInputStream& bytes);

// Parses `bytes` onto `arena`; the result equals a plain ParseFromString.
// `helpers` (optional) may take half of a request of `parallel_bytes` or
// more; the call never waits for a busy pool, it parses that half itself
// instead. INVALID_ARGUMENT if the bytes are not an ExecuteRequest.
absl::StatusOr<v1::ExecuteRequest*> ParseRequest(
    absl::string_view bytes, google::protobuf::Arena* arena,
    WorkerPool* helpers, size_t parallel_bytes = kParallelParseBytes);

// Splits a serialized ExecuteRequest without parsing its tasks: the fields
// other than `tasks` are parsed into `top` (which must be empty), and the
// tasks are kept as `bytes` (a task's own bytes are checked when it is first
// read: Executor validates each). INVALID_ARGUMENT if the bytes are not a
// request.
absl::StatusOr<TaskList> SplitRequest(std::shared_ptr<const std::string> bytes,
                                      v1::ExecuteRequest* top);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_REQUEST_PARSER_H_
