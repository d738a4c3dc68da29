// The tcp_probe kind: a non-blocking TCP connect to `host`:`port`, only to
// targets the allowlist permits (PERMISSION_DENIED otherwise).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/tasks/args.h"
#include "server/tasks/io_poller.h"
#include "server/tasks/kinds.h"
#include "server/tasks/tcp_connect.h"

namespace batchexec {
namespace {

constexpr double kDefaultProbeTimeoutSeconds = 1.0;
constexpr double kMaxProbeTimeoutSeconds = 60.0;

absl::Status ValidateProbeArgs(const google::protobuf::Struct& args) {
  if (auto ip = IpAddress::Parse(StringArg(args, "host")); !ip.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("args.host: ", ip.status().message()));
  }
  double port = NumberArg(args, "port", 0);
  if (!(port >= 1 && port <= 65535) || port != static_cast<int>(port)) {
    return absl::InvalidArgumentError(
        absl::StrCat("args.port must be an integer 1..65535, got ", port));
  }
  double timeout = NumberArg(args, "timeout", kDefaultProbeTimeoutSeconds);
  if (!(timeout > 0 && timeout <= kMaxProbeTimeoutSeconds)) {
    return absl::InvalidArgumentError(
        absl::StrCat("args.timeout must be in (0, ", kMaxProbeTimeoutSeconds,
                     "] seconds, got ", timeout));
  }
  return absl::OkStatus();
}

absl::StatusOr<TaskKind> TcpProbeKind(const BuiltinKindsOptions& options) {
  // The poller lives as long as the handler, i.e. the registry.
  absl::StatusOr<std::unique_ptr<IoPoller>> made = IoPoller::Create();
  if (!made.ok()) return made.status();
  std::shared_ptr<IoPoller> poller = *std::move(made);
  TaskKind kind;
  kind.name = "tcp_probe";
  kind.description = absl::StrCat(
      "Non-blocking TCP connect to host:port; returns {reachable, latency_ms, "
      "error}. Only targets on the allowlist (",
      options.probe_allowlist.spec(),
      ") may be probed; others end PERMISSION_DENIED.");
  kind.args = {
      {"host", ArgType::kString, true,
       "numeric IPv4/IPv6 address, or \"localhost\""},
      {"port", ArgType::kNumber, true, "TCP port, 1..65535"},
      {"timeout", ArgType::kNumber, false,
       absl::StrCat("seconds to wait for the connection (default ",
                    kDefaultProbeTimeoutSeconds, ", max ",
                    kMaxProbeTimeoutSeconds, ")")},
  };
  kind.validate = ValidateProbeArgs;
  kind.reads_task_only_at_start = true;  // args are copied out here
  kind.handler = [poller, allowlist = options.probe_allowlist](
                     std::shared_ptr<TaskContext> task) {
    IpAddress ip = *IpAddress::Parse(StringArg(task->args(), "host"));
    const int port = static_cast<int>(NumberArg(task->args(), "port", 0));
    const std::string target =
        ip.is_v4 ? absl::StrCat(ip.ToString(), ":", port)
                 : absl::StrCat("[", ip.ToString(), "]:", port);
    if (!allowlist.Allows(ip, port)) {
      return task->Finish(absl::PermissionDeniedError(absl::StrCat(
          "tcp_probe: ", target, " is not on the probe allowlist (",
          allowlist.spec(), ")")));
    }
    sockaddr_storage addr{};
    socklen_t len;
    if (ip.is_v4) {
      auto* a = reinterpret_cast<sockaddr_in*>(&addr);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      std::memcpy(&a->sin_addr, &ip.bytes[12], 4);
      len = sizeof(sockaddr_in);
    } else {
      auto* a = reinterpret_cast<sockaddr_in6*>(&addr);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      std::memcpy(&a->sin6_addr, ip.bytes.data(), 16);
      len = sizeof(sockaddr_in6);
    }
    const absl::Duration timeout = absl::Seconds(
        NumberArg(task->args(), "timeout", kDefaultProbeTimeoutSeconds));
    // The probe's timeout runs from when it has a socket: waiting for one
    // is bounded by the task's own timeout.
    TaskContext::WithSocket(task, [task, poller, addr, len, target,
                                   timeout](SocketBudget::Lease lease) {
      int fd =
          socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
      if (fd < 0) {
        return task->Finish(absl::UnavailableError(
            absl::StrCat("tcp_probe: socket: ", strerror(errno))));
      }
      const absl::Time start = absl::Now();
      auto connect = TcpConnect::Start(
          *poller, task->env().timers, fd, std::move(lease),
          reinterpret_cast<const sockaddr*>(&addr), len, timeout,
          [task, target, start](TcpConnect::Result result) {
            HandlerOutput out;
            auto& f = *out.output.mutable_struct_value()->mutable_fields();
            f["target"].set_string_value(target);
            f["reachable"].set_bool_value(result.connected);
            f["latency_ms"].set_number_value(
                absl::ToDoubleMilliseconds(absl::Now() - start));
            if (!result.connected) f["error"].set_string_value(result.error);
            task->Finish(std::move(out));
          });
      task->OnCancel([connect] { connect->Cancel(); });
    });
  };
  return kind;
}

[[maybe_unused]] const bool kRegistered = AddBuiltinKind(&TcpProbeKind);

}  // namespace

}  // namespace batchexec
