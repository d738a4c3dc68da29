// Closed-loop load: `total` calls with at most `lanes` in flight, each lane
// starting its next call from the completion of its previous one, the way
// `lanes` independent clients would. Built on gRPC's callback client API so
// that 64 lanes cost no thread each.
#ifndef BATCHEXEC_BENCH_CLOSED_LOOP_H_
#define BATCHEXEC_BENCH_CLOSED_LOOP_H_

#include <algorithm>
#include <atomic>
#include <functional>
#include <memory>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace batchexec::bench {

using StartCall = std::function<void(int call, std::function<void()> done)>;

// start(i, done) must begin call i without blocking and arrange for done()
// to run once when it has finished (from any thread). Blocks until all calls
// have finished.
inline void RunClosedLoop(int lanes, int total, StartCall start) {
  // Shared with the completions: the last one may still be unwinding when
  // the waiter below returns.
  struct State {
    StartCall start;
    int total;
    std::atomic<int> next{0};
    absl::Mutex mu;
    int finished ABSL_GUARDED_BY(mu) = 0;
  };
  auto state = std::make_shared<State>();
  state->start = std::move(start);
  state->total = total;
  struct Step {
    static void Run(std::shared_ptr<State> s) {
      const int i = s->next.fetch_add(1);
      if (i >= s->total) return;
      s->start(i, [s] {
        Run(s);  // the lane's next call first, so lanes never go idle
        absl::MutexLock lock(&s->mu);
        ++s->finished;
      });
    }
  };
  for (int lane = 0; lane < std::min(lanes, total); ++lane) Step::Run(state);
  absl::MutexLock lock(&state->mu);
  // Await runs the condition with the lock held.
  auto all_done = [&]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(state->mu) {
    return state->finished == total;
  };
  state->mu.Await(absl::Condition(&all_done));
}

}  // namespace batchexec::bench

#endif  // BATCHEXEC_BENCH_CLOSED_LOOP_H_
