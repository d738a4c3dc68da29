// The grpc_health kind's name, argument schema and argument checks, without
// its handler: gRPC-free, so that the fuzzers and the gRPC-free tests can
// check its arguments like every other kind's (server/tasks/grpc_health.h
// adds the handler).
#ifndef BATCHEXEC_SERVER_TASKS_GRPC_HEALTH_SCHEMA_H_
#define BATCHEXEC_SERVER_TASKS_GRPC_HEALTH_SCHEMA_H_

#include "absl/strings/string_view.h"
#include "server/core/task_registry.h"

namespace batchexec {

inline constexpr double kDefaultHealthTimeoutSeconds = 5.0;
inline constexpr double kMaxHealthTimeoutSeconds = 60.0;
// grpc.health.v1 service names are fully qualified service names; a bound
// keeps requests small.
inline constexpr size_t kMaxServiceNameBytes = 1024;

// name, description, args and validate; no handler. `allowlist_spec` is the
// allowlist as the description shows it.
TaskKind GrpcHealthSchema(absl::string_view allowlist_spec);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_GRPC_HEALTH_SCHEMA_H_
