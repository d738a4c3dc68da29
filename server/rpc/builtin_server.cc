#include "server/rpc/builtin_server.h"

#include <utility>

#include "server/tasks/grpc_health.h"

namespace batchexec {

absl::StatusOr<std::unique_ptr<Server>> StartBuiltinServer(
    ServerOptions options) {
  BuiltinKindsOptions kinds;
  kinds.probe_allowlist =
      ProbeAllowlist::DefaultFor(ListenHost(options.address));
  return StartBuiltinServer(std::move(options), kinds);
}

absl::StatusOr<std::unique_ptr<Server>> StartBuiltinServer(
    ServerOptions options, const BuiltinKindsOptions& given) {
  // One resolver (one set of c-ares channels) for dns, http and
  // grpc_health.
  BuiltinKindsOptions kinds = given;
  if (kinds.dns_resolver == nullptr) {
    auto resolver = DnsResolver::Create({kinds.dns_servers});
    if (!resolver.ok()) return resolver.status();
    kinds.dns_resolver = *std::move(resolver);
  }
  auto registry = std::make_unique<TaskRegistry>();
  if (absl::Status s = RegisterBuiltinKinds(*registry, kinds); !s.ok()) {
    return s;
  }
  // grpc_health links gRPC, so it is registered here rather than with the
  // gRPC-free built-in kinds.
  GrpcHealthOptions health;
  health.allowlist = kinds.probe_allowlist;
  health.resolver = kinds.dns_resolver;
  if (absl::Status s = registry->Register(GrpcHealthKind(std::move(health)));
      !s.ok()) {
    return s;
  }
  return Server::BuildAndStart(std::move(options), std::move(registry));
}

absl::string_view ListenHost(absl::string_view address) {
  size_t colon = address.rfind(':');
  // "[::1]" alone has colons but no port.
  if (colon == address.npos || address.back() == ']') return address;
  return address.substr(0, colon);
}

}  // namespace batchexec
