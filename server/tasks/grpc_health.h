// The grpc_health kind: grpc.health.v1.Health/Check to a target, with gRPC's
// callback client API (no thread held while waiting). It lives apart from
// the built-in kinds because it links gRPC, which the executor core must
// not; the gRPC server registers it (server/rpc/builtin_server.cc).
#ifndef BATCHEXEC_SERVER_TASKS_GRPC_HEALTH_H_
#define BATCHEXEC_SERVER_TASKS_GRPC_HEALTH_H_

#include <cstddef>
#include <memory>

#include "server/core/task_registry.h"
#include "server/tasks/dns_resolver.h"
#include "server/tasks/grpc_channel_cache.h"
#include "server/tasks/probe_allowlist.h"

namespace batchexec {

struct GrpcHealthOptions {
  // Checked on the resolved addresses; the channel connects to those
  // addresses only, so a name cannot move the check elsewhere afterwards.
  ProbeAllowlist allowlist = ProbeAllowlist::LoopbackOnly();
  // Resolves host names in targets (hosts file, then DNS).
  std::shared_ptr<DnsResolver> resolver;
  size_t max_cached_channels = kDefaultMaxCachedChannels;
};

TaskKind GrpcHealthKind(GrpcHealthOptions options);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_GRPC_HEALTH_H_
