// One non-blocking TCP connect watched by an IoPoller (the tcp_probe kind's
// work), ended exactly once by whichever comes first: the socket becoming
// writable (connected or failed), the timeout, or Cancel().
//
// Its descriptor is closed exactly once, and only when the poller can no
// longer call back for it: a Cancel or timeout racing the poller's callback
// leaves the close to that callback, so the callback never reads SO_ERROR
// from a descriptor number another socket has taken meanwhile. The socket's
// lease goes back to the SocketBudget right after the close.
#ifndef BATCHEXEC_SERVER_TASKS_TCP_CONNECT_H_
#define BATCHEXEC_SERVER_TASKS_TCP_CONNECT_H_

#include <sys/socket.h>

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "server/core/socket_budget.h"
#include "server/core/timer_queue.h"
#include "server/tasks/io_poller.h"

namespace batchexec {

class TcpConnect : public std::enable_shared_from_this<TcpConnect> {
 public:
  struct Result {
    bool connected = false;
    std::string error;  // strerror-style reason when not connected
  };
  // Runs once, unless Cancel() comes first: on the poller thread, the timer
  // thread, or Start's caller (an immediate result), with no lock held.
  using Done = absl::AnyInvocable<void(Result)>;

  // Takes `fd` (a non-blocking socket) and `lease`, and connects to `addr`.
  // `poller` and `timers` must outlive the connect's callbacks.
  // `on_ready_for_test` (tests only) runs on the poller thread when the
  // socket is ready, before its SO_ERROR is read.
  static std::shared_ptr<TcpConnect> Start(
      IoPoller& poller, TimerQueue& timers, int fd, SocketBudget::Lease lease,
      const sockaddr* addr, socklen_t len, absl::Duration timeout, Done done,
      absl::AnyInvocable<void()> on_ready_for_test = nullptr);

  // Ends the connect without calling `done`. Thread-safe; no-op once ended.
  void Cancel();

  TcpConnect(IoPoller& poller, TimerQueue& timers, int fd,
             SocketBudget::Lease lease, Done done,
             absl::AnyInvocable<void()> on_ready_for_test);
  TcpConnect(const TcpConnect&) = delete;
  TcpConnect& operator=(const TcpConnect&) = delete;

 private:
  void Begin(const sockaddr* addr, socklen_t len, absl::Duration timeout);
  // The poller's callback.
  void OnReady();
  // Ends once: true for the first caller, who then gets `done_` in `done`.
  bool Close(Done* done);
  void End(Result result);
  // Drops one of the descriptor's holders (the connect itself, and the
  // poller while it may call back); the last one closes it and gives the
  // lease back.
  void DropFd();

  IoPoller& poller_;
  TimerQueue& timers_;
  const int fd_;
  absl::AnyInvocable<void()> on_ready_for_test_;
  Mutex mu_;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  Done done_ ABSL_GUARDED_BY(mu_);
  TimerQueue::TimerId timer_ ABSL_GUARDED_BY(mu_) = 0;
  IoPoller::WatchId watch_ ABSL_GUARDED_BY(mu_) = 0;
  int fd_holders_ ABSL_GUARDED_BY(mu_) = 1;
  SocketBudget::Lease lease_ ABSL_GUARDED_BY(mu_);
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_TCP_CONNECT_H_
