// The process's descriptor limit (RLIMIT_NOFILE), raised as far as it may
// go: like Go's runtime, a server takes the hard limit as its soft one, so a
// service manager's low default soft limit (systemd: 1024) does not starve
// it while the kernel still enforces the hard one.
#ifndef BATCHEXEC_COMMON_FD_LIMIT_H_
#define BATCHEXEC_COMMON_FD_LIMIT_H_

#include <cstdint>

#include "absl/status/statusor.h"

namespace batchexec {

struct FdLimit {
  int64_t soft_before = 0;  // the soft limit found
  int64_t soft = 0;         // the soft limit now
  int64_t hard = 0;         // RLIM_INFINITY is reported as INT64_MAX
};

// Raises the soft RLIMIT_NOFILE to the hard limit (capped at what the
// kernel allows one process, /proc/sys/fs/nr_open, when the hard limit is
// unlimited). Thread-safe, but affects the whole process. An error only if
// the limit cannot be read; a refused raise keeps the old soft limit.
absl::StatusOr<FdLimit> RaiseFdLimit();

// The soft RLIMIT_NOFILE now (INT64_MAX if unlimited, 1024 if unreadable).
int64_t CurrentFdLimit();

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_FD_LIMIT_H_
