// The built-in task kinds (echo, sleep, fail, primes, tcp_probe, http, dns):
// each is one file here that makes its TaskKind (schema, validator, handler)
// and registers its factory with one line,
//   [[maybe_unused]] const bool kRegistered = AddBuiltinKind(&EchoKind);
// plus its entry in BUILD's :builtin_kinds. RegisterBuiltinKinds puts them all
// into a registry. (grpc_health, which needs gRPC, is registered by the gRPC
// layer: grpc_health.h.)
//
// A CPU kind (one that runs on TaskEnvironment::cpu_pool in turns, re-posting
// itself with TaskContext::PostCpu, as primes does) keeps its memory bounded
// by the pool, not the batch: every admitted task of a batch may have started
// and be waiting for its next turn, so a job between turns holds only its
// small progress state (primes: where the next segment starts and the count
// so far). Working buffers belong to the worker thread (a thread_local
// reused by every job it runs) and tables every job can share are made once;
// 20k waiting primes jobs then cost ~2 MB instead of 20k x 80 KB.
#ifndef BATCHEXEC_SERVER_TASKS_KINDS_H_
#define BATCHEXEC_SERVER_TASKS_KINDS_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "server/core/task_registry.h"
#include "server/tasks/dns_allowlist.h"
#include "server/tasks/dns_resolver.h"
#include "server/tasks/probe_allowlist.h"

namespace batchexec {

struct BuiltinKindsOptions {
  // Targets tcp_probe and http may reach (PERMISSION_DENIED otherwise).
  ProbeAllowlist probe_allowlist = ProbeAllowlist::LoopbackOnly();
  // Name servers for dns (DnsResolverOptions::servers); empty = the system's.
  std::string dns_servers;
  // Names the dns kind may look up (--dns_allowlist); default: any.
  DnsAllowlist dns_allowlist;
  // The c-ares resolver dns and http share (one set of channels for the
  // server); RegisterBuiltinKinds makes one on dns_servers if unset.
  std::shared_ptr<DnsResolver> dns_resolver;
};

// Registers every built-in kind.
absl::Status RegisterBuiltinKinds(TaskRegistry& registry,
                                  const BuiltinKindsOptions& options = {});

// Makes one built-in kind for the given options.
using BuiltinKindFactory =
    absl::StatusOr<TaskKind> (*)(const BuiltinKindsOptions& options);

// Adds a kind to those RegisterBuiltinKinds registers. Called once per kind,
// from the initializer of a namespace-scope constant in the kind's file (the
// library is alwayslink, so every kind's file is linked). Returns true.
bool AddBuiltinKind(BuiltinKindFactory factory);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_KINDS_H_
