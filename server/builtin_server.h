// A server running the built-in task kinds and nothing else: what
// batchexec_server, the examples and the tests start.
#ifndef BATCHEXEC_SERVER_BUILTIN_SERVER_H_
#define BATCHEXEC_SERVER_BUILTIN_SERVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "server/server.h"
#include "server/tasks/kinds.h"

namespace batchexec {

absl::StatusOr<std::unique_ptr<Server>> StartBuiltinServer(
    ServerOptions options, const BuiltinKindsOptions& kinds = {});

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_BUILTIN_SERVER_H_
