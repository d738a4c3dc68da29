#include "server/tasks/kinds.h"

namespace batchexec {

absl::Status RegisterBuiltinKinds(TaskRegistry& registry,
                                  const BuiltinKindsOptions& options) {
  for (TaskKind kind : {EchoKind(), SleepKind(), FailKind(), PrimesKind(),
                        TcpProbeKind(options.probe_allowlist)}) {
    if (absl::Status s = registry.Register(std::move(kind)); !s.ok()) return s;
  }
  if (absl::Status s = registry.Register(HttpKind(options.probe_allowlist));
      !s.ok()) {
    return s;
  }
  auto resolver = DnsResolver::Create({options.dns_servers});
  if (!resolver.ok()) return resolver.status();
  if (absl::Status s = registry.Register(DnsKind(*std::move(resolver)));
      !s.ok()) {
    return s;
  }
  return absl::OkStatus();
}

}  // namespace batchexec
