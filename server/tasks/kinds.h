// The built-in task kinds. Each factory returns a complete TaskKind (schema,
// validator, handler) ready for TaskRegistry::Register.
#ifndef BATCHEXEC_SERVER_TASKS_KINDS_H_
#define BATCHEXEC_SERVER_TASKS_KINDS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "server/core/task_registry.h"
#include "server/tasks/dns_resolver.h"
#include "server/tasks/probe_allowlist.h"

namespace batchexec {

// echo: output = args.
TaskKind EchoKind();
// sleep: waits `seconds` on the shared timer thread (no thread held).
TaskKind SleepKind();
// fail: ends with the status `code` and `message` it is given.
TaskKind FailKind();
// primes: counts primes below `n` on the CPU pool (the CPU-bound kind).
TaskKind PrimesKind();
// tcp_probe: non-blocking TCP connect to `host`:`port`, only to targets the
// allowlist permits (PERMISSION_DENIED otherwise).
TaskKind TcpProbeKind(ProbeAllowlist allowlist);
// http: an HTTP(S) request on a shared libcurl multi handle, connecting only
// to addresses the allowlist permits (PERMISSION_DENIED otherwise).
TaskKind HttpKind(ProbeAllowlist allowlist);
// dns: looks `name` up with c-ares (hosts file, then DNS) on the resolver's
// poller and the server's timers.
TaskKind DnsKind(std::shared_ptr<DnsResolver> resolver);

struct BuiltinKindsOptions {
  ProbeAllowlist probe_allowlist = ProbeAllowlist::LoopbackOnly();
  // Name servers for dns (DnsResolverOptions::servers); empty = the system's.
  std::string dns_servers;
};

// Registers every kind above.
absl::Status RegisterBuiltinKinds(TaskRegistry& registry,
                                  const BuiltinKindsOptions& options = {});

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_KINDS_H_
