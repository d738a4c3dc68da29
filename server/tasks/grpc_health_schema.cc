#include "server/tasks/grpc_health_schema.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/tasks/args.h"
#include "server/tasks/host_port.h"

namespace batchexec {
namespace {

absl::Status ValidateHealthArgs(const google::protobuf::Struct& args) {
  if (auto hp = ParseHostPort(StringArg(args, "target")); !hp.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("args.target ", hp.status().message()));
  }
  if (StringArg(args, "service").size() > kMaxServiceNameBytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "args.service is longer than ", kMaxServiceNameBytes, " bytes"));
  }
  double timeout = NumberArg(args, "timeout", kDefaultHealthTimeoutSeconds);
  if (!(timeout > 0 && timeout <= kMaxHealthTimeoutSeconds)) {
    return absl::InvalidArgumentError(
        absl::StrCat("args.timeout must be in (0, ", kMaxHealthTimeoutSeconds,
                     "] seconds, got ", timeout));
  }
  return absl::OkStatus();
}

}  // namespace

TaskKind GrpcHealthSchema(absl::string_view allowlist_spec) {
  TaskKind kind;
  kind.name = "grpc_health";
  kind.description = absl::StrCat(
      "grpc.health.v1.Health/Check to target; returns {status, latency_ms}. "
      "SERVING: OK; NOT_SERVING: UNAVAILABLE; unknown service: NOT_FOUND; "
      "unreachable: UNAVAILABLE; past timeout: DEADLINE_EXCEEDED. Only "
      "targets whose resolved addresses are on the allowlist (",
      allowlist_spec, ") are contacted; others end PERMISSION_DENIED.");
  kind.args = {
      {"target", ArgType::kString, true,
       "host:port or [IPv6]:port; host names are resolved (hosts file, then "
       "DNS) and every address checked against the allowlist"},
      {"service", ArgType::kString, false,
       "service name to ask about (default \"\": the whole server)"},
      {"timeout", ArgType::kNumber, false,
       absl::StrCat("seconds for resolving, connecting and the call (default ",
                    kDefaultHealthTimeoutSeconds, ", max ",
                    kMaxHealthTimeoutSeconds, ")")},
      {"tls", ArgType::kBool, false,
       "connect with TLS, verified against the system's root certificates "
       "(default false: plaintext)"},
  };
  kind.validate = ValidateHealthArgs;
  return kind;
}

}  // namespace batchexec
