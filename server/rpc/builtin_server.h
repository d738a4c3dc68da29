// A server running the built-in task kinds and nothing else: what
// batchexec_server, the examples and the tests start.
#ifndef BATCHEXEC_SERVER_RPC_BUILTIN_SERVER_H_
#define BATCHEXEC_SERVER_RPC_BUILTIN_SERVER_H_

#include <memory>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "server/rpc/server.h"
#include "server/tasks/kinds.h"

namespace batchexec {

// tcp_probe gets ProbeAllowlist::DefaultFor the host of options.address:
// loopback targets only on a loopback server, none on one listening beyond.
absl::StatusOr<std::unique_ptr<Server>> StartBuiltinServer(
    ServerOptions options);

// With the kinds' options as given (an explicit allowlist).
absl::StatusOr<std::unique_ptr<Server>> StartBuiltinServer(
    ServerOptions options, const BuiltinKindsOptions& kinds);

// The host part of a "host:port" listening address ("[::1]" keeps its
// brackets).
absl::string_view ListenHost(absl::string_view address);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_BUILTIN_SERVER_H_
