// One epoll thread that tells when sockets become ready, so waiting on the
// network holds no thread per task (used by tcp_probe).
#ifndef BATCHEXEC_SERVER_TASKS_IO_POLLER_H_
#define BATCHEXEC_SERVER_TASKS_IO_POLLER_H_

#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "common/mutex.h"

namespace batchexec {

class IoPoller {
 public:
  using WatchId = uint64_t;

  static absl::StatusOr<std::unique_ptr<IoPoller>> Create();
  ~IoPoller();

  // Calls `fn(events)` once on the poller thread when `fd` reports any of
  // `events` (EPOLLOUT, ...) or an error. The caller keeps owning `fd`.
  absl::StatusOr<WatchId> WatchOnce(int fd, uint32_t events,
                                    absl::AnyInvocable<void(uint32_t)> fn);
  // Stops watching before the caller closes `fd`. True if `fn` will not run.
  bool Unwatch(WatchId id, int fd);

 private:
  IoPoller(int epoll_fd, int wake_fd);
  void Run();

  const int epoll_fd_;
  const int wake_fd_;  // eventfd that stops the thread
  Mutex mu_;
  absl::flat_hash_map<WatchId, absl::AnyInvocable<void(uint32_t)>> watches_
      ABSL_GUARDED_BY(mu_);
  WatchId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::thread thread_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_IO_POLLER_H_
