#include "server/tasks/tcp_connect.h"

#include <sys/epoll.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace batchexec {

TcpConnect::TcpConnect(IoPoller& poller, TimerQueue& timers, int fd,
                       SocketBudget::Lease lease, Done done,
                       absl::AnyInvocable<void()> on_ready_for_test)
    : poller_(poller),
      timers_(timers),
      fd_(fd),
      on_ready_for_test_(std::move(on_ready_for_test)),
      done_(std::move(done)),
      lease_(std::move(lease)) {}

std::shared_ptr<TcpConnect> TcpConnect::Start(
    IoPoller& poller, TimerQueue& timers, int fd, SocketBudget::Lease lease,
    const sockaddr* addr, socklen_t len, absl::Duration timeout, Done done,
    absl::AnyInvocable<void()> on_ready_for_test) {
  auto connect = std::make_shared<TcpConnect>(poller, timers, fd,
                                              std::move(lease), std::move(done),
                                              std::move(on_ready_for_test));
  connect->Begin(addr, len, timeout);
  return connect;
}

void TcpConnect::Begin(const sockaddr* addr, socklen_t len,
                       absl::Duration timeout) {
  if (::connect(fd_, addr, len) == 0) return End({true, ""});
  if (errno != EINPROGRESS) return End({false, strerror(errno)});
  auto self = shared_from_this();
  {
    MutexLock lock(&mu_);
    ++fd_holders_;  // the poller's, until it calls back or is unwatched
  }
  // Watch first, then arm the timeout once the watch id is recorded: a
  // timeout that fired in between would find no watch to remove.
  auto watch =
      poller_.WatchOnce(fd_, EPOLLOUT, [self](uint32_t) { self->OnReady(); });
  if (!watch.ok()) {
    {
      MutexLock lock(&mu_);
      --fd_holders_;  // never watched
    }
    return End({false, std::string(watch.status().message())});
  }
  MutexLock lock(&mu_);
  // The socket may have answered already (its callback found no watch id
  // to remove, which is right: the poller had dropped it before calling).
  if (closed_) return;
  watch_ = *watch;
  // Under the lock, so that a timeout firing at once finds the ids set.
  timer_ = timers_.ScheduleAfter(timeout, [self, timeout] {
    self->End({false, absl::StrCat("no answer within ",
                                   absl::FormatDuration(timeout))});
  });
}

void TcpConnect::OnReady() {
  if (on_ready_for_test_) on_ready_for_test_();
  // The descriptor is still ours: the poller's hold is dropped only below.
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &len) != 0) err = errno;
  End({err == 0, err == 0 ? "" : strerror(err)});
  DropFd();
}

void TcpConnect::Cancel() {
  Done dropped;  // destroyed outside the lock: it may hold the task
  Close(&dropped);
}

bool TcpConnect::Close(Done* done) {
  TimerQueue::TimerId timer;
  IoPoller::WatchId watch;
  {
    MutexLock lock(&mu_);
    if (closed_) return false;
    closed_ = true;
    *done = std::move(done_);
    timer = timer_;
    watch = watch_;
  }
  if (timer != 0) timers_.Cancel(timer);
  // Unwatch fails when the callback is running or about to: then it drops
  // the poller's hold itself, after reading SO_ERROR.
  if (watch != 0 && poller_.Unwatch(watch, fd_)) DropFd();
  DropFd();
  return true;
}

void TcpConnect::End(Result result) {
  Done done;
  if (Close(&done)) done(std::move(result));
}

void TcpConnect::DropFd() {
  SocketBudget::Lease lease;
  {
    MutexLock lock(&mu_);
    if (--fd_holders_ > 0) return;
    lease = std::move(lease_);
  }
  close(fd_);
  lease.Release();  // may grant the socket to a waiting task, on this thread
}

}  // namespace batchexec
