// Progress of a batch as the SDK reports it: counts of tasks by state.
#ifndef BATCHEXEC_CLIENT_PROGRESS_H_
#define BATCHEXEC_CLIENT_PROGRESS_H_

#include <cstddef>

namespace batchexec {

// A snapshot of a batch's counts. completed + running + queued <= total;
// the gap, if any, is tasks that ended on a server whose result has not
// reached the client yet.
struct Progress {
  size_t total = 0;      // tasks in the batch
  size_t completed = 0;  // tasks whose result the client has, any status
  size_t failed = 0;     // completed with a status other than OK
  size_t running = 0;    // running on a server now
  size_t queued = 0;     // waiting for a concurrency slot or not yet sent

  friend bool operator==(const Progress& a, const Progress& b) {
    return a.total == b.total && a.completed == b.completed &&
           a.failed == b.failed && a.running == b.running &&
           a.queued == b.queued;
  }
  friend bool operator!=(const Progress& a, const Progress& b) {
    return !(a == b);
  }
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_PROGRESS_H_
