// How deeply JSON-shaped protobuf values nest. Each level of JSON nesting
// costs protobuf up to three message levels, and default parsers give up
// past 100, so the server bounds what it accepts (task args) and what it
// sends (task outputs) to what its clients can read back.
#ifndef BATCHEXEC_SERVER_CORE_VALUE_DEPTH_H_
#define BATCHEXEC_SERVER_CORE_VALUE_DEPTH_H_

#include "absl/status/status.h"
#include "google/protobuf/struct.pb.h"

namespace batchexec {

// Objects and lists on the deepest path of `value`: 0 for a scalar, 1 for
// {"a": 1} or [1], 2 for {"a": [1]}. Iterative: safe at any depth.
int ValueDepth(const google::protobuf::Value& value);

// The same for an object: 1 for {} or {"a": 1}, 2 for {"a": {}}.
int StructDepth(const google::protobuf::Struct& object);

// INVALID_ARGUMENT naming `args`, its depth and kMaxArgsDepth if task args
// nest deeper than the limit.
absl::Status CheckArgsDepth(const google::protobuf::Struct& args);

// INTERNAL if a handler's output nests deeper than kMaxArgsDepth: sent, it
// would be a message that default protobuf parsers (the SDK's too) refuse.
absl::Status CheckOutputDepth(const google::protobuf::Value& output);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_VALUE_DEPTH_H_
