#include "server/rpc/accept_shed.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>

#include "common/mutex.h"

namespace batchexec {
namespace {

// A warning at most this often; the counter has every drop.
constexpr std::chrono::seconds kLogEvery{10};

std::atomic<uint64_t> dropped{0};
std::atomic<int64_t> last_log_ns{0};

int OpenSpare() { return open("/dev/null", O_RDONLY | O_CLOEXEC); }

// The spare descriptor, opened before descriptors can run out. Function
// statics: the first accept4 may come before this file's initializers.
Mutex& SpareMu() {
  static Mutex* mu = new Mutex();
  return *mu;
}
int& Spare() ABSL_EXCLUSIVE_LOCKS_REQUIRED(SpareMu()) {
  static int spare = OpenSpare();
  return spare;
}

[[maybe_unused]] const bool kSpareOpened = [] {
  MutexLock lock(&SpareMu());
  return Spare() >= 0;
}();

void LogDrop(int error, int n) {
  const int64_t now = std::chrono::duration_cast<std::chrono::nanoseconds>(
                          std::chrono::steady_clock::now().time_since_epoch())
                          .count();
  int64_t last = last_log_ns.load();
  if (last != 0 &&
      now - last <
          std::chrono::duration_cast<std::chrono::nanoseconds>(kLogEvery)
              .count()) {
    return;
  }
  if (!last_log_ns.compare_exchange_strong(last, now)) return;
  std::fprintf(stderr,
               "batchexec: accept: %s; closed %d pending connection(s) so "
               "the listener keeps serving (%llu dropped so far; see "
               "batchexec_connections_dropped_total)\n",
               std::strerror(error), n,
               static_cast<unsigned long long>(dropped.load()));
}

// accept4 failed with `error` (EMFILE or ENFILE) on `fd`.
int ShedBacklog(int fd, int error) {
  const int flags = fcntl(fd, F_GETFL);
  if (flags < 0 || (flags & O_NONBLOCK) == 0) {
    errno = error;  // draining a blocking socket would block
    return -1;
  }
  int n = 0;
  {
    MutexLock lock(&SpareMu());
    int& spare = Spare();
    if (spare >= 0) close(spare);
    spare = -1;
    for (;;) {
      const long c = syscall(SYS_accept4, fd, nullptr, nullptr, SOCK_CLOEXEC);
      if (c >= 0) {
        close(static_cast<int>(c));
        ++n;
        continue;
      }
      if (errno == EINTR || errno == ECONNABORTED) continue;
      break;  // EAGAIN (drained), or the slot was taken meanwhile
    }
    spare = OpenSpare();
  }
  if (n > 0) {
    dropped.fetch_add(n);
    LogDrop(error, n);
  }
  errno = EAGAIN;  // gRPC waits for the next connection
  return -1;
}

}  // namespace

uint64_t ConnectionsDroppedForDescriptors() { return dropped.load(); }

}  // namespace batchexec

extern "C" int accept4(int fd, sockaddr* addr, socklen_t* len, int flags) {
  const long r = syscall(SYS_accept4, fd, addr, len, flags);
  if (r >= 0 || (errno != EMFILE && errno != ENFILE)) {
    return static_cast<int>(r);
  }
  return batchexec::ShedBacklog(fd, errno);
}
