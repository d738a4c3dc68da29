// The tcp_probe kind: a non-blocking TCP connect to `host`:`port`, only to
// targets the allowlist permits (PERMISSION_DENIED otherwise).
#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/mutex.h"
#include "server/tasks/args.h"
#include "server/tasks/io_poller.h"
#include "server/tasks/kinds.h"

namespace batchexec {
namespace {

constexpr double kDefaultProbeTimeoutSeconds = 1.0;
constexpr double kMaxProbeTimeoutSeconds = 60.0;

// One connect attempt. Ends exactly once, by whichever comes first: the
// socket becoming writable, the probe's timeout, or the task's cancellation.
class Probe : public std::enable_shared_from_this<Probe> {
 public:
  Probe(std::shared_ptr<TaskContext> task, IoPoller& poller, int fd,
        std::string target)
      : task_(std::move(task)),
        poller_(poller),
        timers_(task_->env().timers),
        fd_(fd),
        target_(std::move(target)),
        start_(absl::Now()) {}

  void Begin(const sockaddr_storage& addr, socklen_t len,
             absl::Duration timeout) {
    int rc = connect(fd_, reinterpret_cast<const sockaddr*>(&addr), len);
    if (rc == 0) return End(true, "");
    if (errno != EINPROGRESS) return End(false, strerror(errno));
    auto self = shared_from_this();
    // Watch first, then arm the timeout once the watch id is recorded: a
    // timeout that fired in between would close the fd under a registration
    // in progress and leave the watch (holding this probe, its task and its
    // batch) in the poller for good.
    auto watch = poller_.WatchOnce(fd_, EPOLLOUT, [self](uint32_t) {
      int err = 0;
      socklen_t len = sizeof err;
      getsockopt(self->fd_, SOL_SOCKET, SO_ERROR, &err, &len);
      self->End(err == 0, err == 0 ? "" : strerror(err));
    });
    if (!watch.ok()) return End(false, std::string(watch.status().message()));
    {
      MutexLock lock(&mu_);
      // The socket may have answered already (and Close found no watch id:
      // the poller had dropped the entry itself before calling back).
      if (closed_) return;
      watch_ = *watch;
      // Under the lock, so that a timeout firing at once finds the ids set.
      timer_ = timers_.ScheduleAfter(timeout, [self, timeout] {
        self->End(false, absl::StrCat("no answer within ",
                                      absl::FormatDuration(timeout)));
      });
    }
    task_->OnCancel([self] { self->Close(); });
  }

 private:
  // Releases the socket, timer and watch once; false if already done.
  bool Close() {
    TimerQueue::TimerId timer;
    IoPoller::WatchId watch;
    {
      MutexLock lock(&mu_);
      if (closed_) return false;
      closed_ = true;
      timer = timer_;
      watch = watch_;
    }
    if (timer != 0) timers_.Cancel(timer);
    poller_.Unwatch(watch, fd_);
    close(fd_);
    return true;
  }

  void End(bool reachable, const std::string& error) {
    if (!Close()) return;
    HandlerOutput out;
    auto& f = *out.output.mutable_struct_value()->mutable_fields();
    f["target"].set_string_value(target_);
    f["reachable"].set_bool_value(reachable);
    f["latency_ms"].set_number_value(
        absl::ToDoubleMilliseconds(absl::Now() - start_));
    if (!reachable) f["error"].set_string_value(error);
    task_->Finish(std::move(out));
  }

  const std::shared_ptr<TaskContext> task_;
  IoPoller& poller_;
  TimerQueue& timers_;
  const int fd_;
  const std::string target_;
  const absl::Time start_;
  Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  TimerQueue::TimerId timer_ ABSL_GUARDED_BY(mu_) = 0;
  IoPoller::WatchId watch_ ABSL_GUARDED_BY(mu_) = 0;
};

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
    int fd =
        socket(addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
      return task->Finish(absl::UnavailableError(
          absl::StrCat("tcp_probe: socket: ", strerror(errno))));
    }
    const absl::Duration timeout = absl::Seconds(
        NumberArg(task->args(), "timeout", kDefaultProbeTimeoutSeconds));
    auto probe = std::make_shared<Probe>(std::move(task), *poller, fd, target);
    probe->Begin(addr, len, timeout);
  };
  return kind;
}

[[maybe_unused]] const bool kRegistered = AddBuiltinKind(&TcpProbeKind);

}  // namespace

}  // namespace batchexec
