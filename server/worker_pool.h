// A fixed set of threads for work that needs a CPU: CPU-bound task kinds and
// the continuation of long task-start loops. Never grows; extra work queues.
#ifndef BATCHEXEC_SERVER_WORKER_POOL_H_
#define BATCHEXEC_SERVER_WORKER_POOL_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/functional/function_ref.h"
#include "common/mutex.h"

namespace batchexec {

class WorkerPool {
 public:
  // `threads` <= 0 means one per core.
  explicit WorkerPool(int threads);
  // Runs what is queued, then joins the threads.
  ~WorkerPool();

  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Queues `fn` to run on a worker thread. Thread-safe.
  void Post(absl::AnyInvocable<void()> fn);

  int size() const { return static_cast<int>(threads_.size()); }

  // Runs `first` on this thread and `second` on a worker at the same time;
  // returns when both are done. If no worker has started `second` by the
  // time `first` is done, it runs here: never slower than one after the
  // other, even with every worker busy.
  void RunBoth(absl::FunctionRef<void()> first,
               absl::FunctionRef<void()> second);

 private:
  void Work();

  Mutex mu_;
  std::deque<absl::AnyInvocable<void()>> queue_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_WORKER_POOL_H_
