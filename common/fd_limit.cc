#include "common/fd_limit.h"

#include <sys/resource.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <fstream>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace batchexec {
namespace {

int64_t AsInt(rlim_t v) {
  return v == RLIM_INFINITY || v > static_cast<rlim_t>(INT64_MAX)
             ? INT64_MAX
             : static_cast<int64_t>(v);
}

// The most descriptors one process may ask for (Linux's fs.nr_open).
rlim_t NrOpen() {
  std::ifstream in("/proc/sys/fs/nr_open");
  unsigned long long n = 0;
  if (in >> n && n > 0) return static_cast<rlim_t>(n);
  return 1 << 20;  // the kernel's default
}

}  // namespace

int64_t CurrentFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) return 1024;
  return AsInt(rl.rlim_cur);
}

absl::StatusOr<FdLimit> RaiseFdLimit() {
  rlimit rl{};
  if (getrlimit(RLIMIT_NOFILE, &rl) != 0) {
    return absl::InternalError(
        absl::StrCat("getrlimit(RLIMIT_NOFILE): ", strerror(errno)));
  }
  FdLimit limit;
  limit.soft_before = AsInt(rl.rlim_cur);
  limit.hard = AsInt(rl.rlim_max);
  rlim_t want = rl.rlim_max;
  if (want == RLIM_INFINITY) want = NrOpen();
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < want) {
    rlimit raised = rl;
    raised.rlim_cur = want;
    if (setrlimit(RLIMIT_NOFILE, &raised) == 0) rl.rlim_cur = want;
  }
  limit.soft = AsInt(rl.rlim_cur);
  return limit;
}

}  // namespace batchexec
