// A fixed set of threads for work that needs a CPU: CPU-bound task kinds,
// halves of big parses and serializations. Never grows; extra work queues.
//
// Work is queued per lane (one lane per batch), lanes are grouped by caller,
// and workers take jobs in two rounds, as the FairSemaphore hands out slots:
// round-robin between callers with work, then between that caller's lanes.
// A 3-job batch posted behind a 5000-job batch waits for one job of each
// other caller, not for all 5000; a caller with 50 batches gets no more
// turns than one with a single batch.
#ifndef BATCHEXEC_SERVER_CORE_WORKER_POOL_H_
#define BATCHEXEC_SERVER_CORE_WORKER_POOL_H_

#include <deque>
#include <thread>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
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

  // Queues `fn` to run on a worker thread, in the turn of `lane` of
  // `caller` (stable addresses naming them, e.g. a batch and its caller; a
  // lane always belongs to the same caller). Thread-safe.
  void Post(const void* caller, const void* lane,
            absl::AnyInvocable<void()> fn);
  // A lane that is its own caller.
  void Post(const void* lane, absl::AnyInvocable<void()> fn) {
    Post(lane, lane, std::move(fn));
  }
  // The shared lane.
  void Post(absl::AnyInvocable<void()> fn) {
    Post(nullptr, nullptr, std::move(fn));
  }

  // Lanes with queued work (for tests and stats).
  size_t waiting_lanes() const;

  int size() const { return static_cast<int>(threads_.size()); }

  // Runs `first` on this thread and `second` on a worker at the same time;
  // returns when both are done. If no worker has started `second` by the
  // time `first` is done, it runs here: never slower than one after the
  // other, even with every worker busy.
  void RunBoth(absl::FunctionRef<void()> first,
               absl::FunctionRef<void()> second);

 private:
  void Work();

  mutable Mutex mu_;
  // Jobs of each lane with work; each caller's ring holds its lanes with
  // work once, and ring_ each caller with work once, in turn.
  absl::flat_hash_map<const void*, std::deque<absl::AnyInvocable<void()>>>
      lanes_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<const void*, std::deque<const void*>> callers_
      ABSL_GUARDED_BY(mu_);
  std::deque<const void*> ring_ ABSL_GUARDED_BY(mu_);
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_WORKER_POOL_H_
