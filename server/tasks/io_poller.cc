#include "server/tasks/io_poller.h"

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace batchexec {

absl::StatusOr<std::unique_ptr<IoPoller>> IoPoller::Create() {
  int ep = epoll_create1(EPOLL_CLOEXEC);
  if (ep < 0) {
    return absl::InternalError(
        absl::StrCat("epoll_create1: ", strerror(errno)));
  }
  int wake = eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
  if (wake < 0) {
    close(ep);
    return absl::InternalError(absl::StrCat("eventfd: ", strerror(errno)));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = 0;  // id 0 is the wake fd
  epoll_ctl(ep, EPOLL_CTL_ADD, wake, &ev);
  return std::unique_ptr<IoPoller>(new IoPoller(ep, wake));
}

IoPoller::IoPoller(int epoll_fd, int wake_fd)
    : epoll_fd_(epoll_fd), wake_fd_(wake_fd), thread_([this] { Run(); }) {}

IoPoller::~IoPoller() {
  uint64_t one = 1;
  (void)!write(wake_fd_, &one, sizeof one);
  thread_.join();
  close(wake_fd_);
  close(epoll_fd_);
}

absl::StatusOr<IoPoller::WatchId> IoPoller::WatchOnce(
    int fd, uint32_t events, absl::AnyInvocable<void(uint32_t)> fn) {
  WatchId id;
  {
    MutexLock lock(&mu_);
    id = next_id_++;
    watches_.emplace(id, std::move(fn));
  }
  epoll_event ev{};
  ev.events = events | EPOLLONESHOT;
  ev.data.u64 = id;
  if (epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    MutexLock lock(&mu_);
    watches_.erase(id);
    return absl::InternalError(absl::StrCat("epoll_ctl: ", strerror(errno)));
  }
  return id;
}

bool IoPoller::Unwatch(WatchId id, int fd) {
  epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
  absl::AnyInvocable<void(uint32_t)> dropped;
  MutexLock lock(&mu_);
  auto it = watches_.find(id);
  if (it == watches_.end()) return false;
  dropped = std::move(it->second);
  watches_.erase(it);
  return true;
}

void IoPoller::Run() {
  epoll_event events[64];
  for (;;) {
    int n = epoll_wait(epoll_fd_, events, 64, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      return;
    }
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == 0) return;  // woken to stop
      absl::AnyInvocable<void(uint32_t)> fn;
      {
        MutexLock lock(&mu_);
        auto it = watches_.find(events[i].data.u64);
        if (it == watches_.end()) continue;  // unwatched meanwhile
        fn = std::move(it->second);
        watches_.erase(it);
      }
      fn(events[i].events);
    }
  }
}

}  // namespace batchexec
