// Microbenchmarks of the executor's per-task hot paths, each paid once or
// twice per task: the server-wide FairSemaphore (offer a slot, release it)
// and the TimerQueue (every sleep, per-task timeout and flush timer).
//
//   bazel run -c opt //bench:hot_paths_bench
#include <atomic>
#include <cstdint>
#include <memory>
#include <vector>

#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "benchmark/benchmark.h"
#include "server/core/fair_semaphore.h"
#include "server/core/timer_queue.h"

namespace batchexec {
namespace {

// Debian builds Abseil without NDEBUG, which leaves Mutex deadlock detection
// on: every Lock updates a process-wide lock graph. Each benchmark runs with
// it as shipped (/1) and off (/0) to show what it costs on these paths.
class DeadlockDetection {
 public:
  explicit DeadlockDetection(const benchmark::State& state) {
    absl::SetMutexDeadlockDetectionMode(state.range(0) != 0
                                            ? absl::OnDeadlockCycle::kAbort
                                            : absl::OnDeadlockCycle::kIgnore);
  }
  ~DeadlockDetection() {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kAbort);
  }
};

// A batch stand-in that takes up to `wanted` slots and releases nothing by
// itself.
class Taker final : public FairSemaphore::Client {
 public:
  bool OnSlot() override {
    if (wanted == 0) return false;
    --wanted;
    return true;
  }
  int64_t wanted = 0;
};

// One task's admission when slots are free: Request, offer, take, and the
// decline that takes the client out of line, then Release.
void BM_SemaphoreAcquireRelease(benchmark::State& state) {
  DeadlockDetection detection(state);
  FairSemaphore semaphore(1 << 30);
  auto client = std::make_shared<Taker>();
  for (auto _ : state) {
    client->wanted = 1;
    semaphore.Request(client);
    semaphore.Release();
  }
}
BENCHMARK(BM_SemaphoreAcquireRelease)->ArgName("detect")->Arg(1)->Arg(0);

// The saturated steady state: every Release hands its slot straight to one
// of `clients` waiting batches, round-robin.
void BM_SemaphoreHandOff(benchmark::State& state) {
  DeadlockDetection detection(state);
  const int clients = static_cast<int>(state.range(1));
  FairSemaphore semaphore(clients);
  std::vector<std::shared_ptr<Taker>> takers;
  for (int i = 0; i < clients; ++i) {
    takers.push_back(std::make_shared<Taker>());
    takers.back()->wanted = INT64_MAX;
    semaphore.Request(takers.back());
  }
  for (auto _ : state) semaphore.Release();
  for (auto& t : takers) t->wanted = 0;
}
BENCHMARK(BM_SemaphoreHandOff)
    ->ArgNames({"detect", "clients"})
    ->ArgsProduct({{1, 0}, {1, 64}});

// A per-task timeout that does not fire: scheduled at start, cancelled at
// the end.
void BM_TimerScheduleCancel(benchmark::State& state) {
  DeadlockDetection detection(state);
  TimerQueue timers;
  const absl::Time far = absl::Now() + absl::Hours(1);
  for (auto _ : state) {
    TimerQueue::TimerId id = timers.Schedule(far, [] {});
    benchmark::DoNotOptimize(timers.Cancel(id));
  }
}
BENCHMARK(BM_TimerScheduleCancel)->ArgName("detect")->Arg(1)->Arg(0);

// Many pending timers (a 100k sleep batch): schedule N, then cancel them in
// order; reported per timer.
void BM_TimerScheduleManyThenCancel(benchmark::State& state) {
  DeadlockDetection detection(state);
  const int n = static_cast<int>(state.range(1));
  TimerQueue timers;
  std::vector<TimerQueue::TimerId> ids(n);
  for (auto _ : state) {
    const absl::Time base = absl::Now() + absl::Hours(1);
    for (int i = 0; i < n; ++i) {
      ids[i] = timers.Schedule(base + absl::Microseconds(i), [] {});
    }
    for (int i = 0; i < n; ++i) timers.Cancel(ids[i]);
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_TimerScheduleManyThenCancel)
    ->ArgNames({"detect", "timers"})
    ->ArgsProduct({{1, 0}, {1000, 100000}});

// A wave of sleeps ending together (a 100k sleep batch): N timers due at
// once, each closure the size of sleep's (a shared_ptr and a double), so
// scheduling, firing and the closure's storage are all measured; per timer.
void BM_TimerFireMany(benchmark::State& state) {
  DeadlockDetection detection(state);
  const int n = static_cast<int>(state.range(1));
  TimerQueue timers;
  auto counter = std::make_shared<std::atomic<int>>(0);
  for (auto _ : state) {
    counter->store(0);
    absl::Notification done;
    const absl::Time when = absl::Now() + absl::Milliseconds(1);
    for (int i = 0; i < n; ++i) {
      timers.Schedule(when, [counter, seconds = 0.1 * i, n, &done] {
        benchmark::DoNotOptimize(seconds);
        if (counter->fetch_add(1) + 1 == n) done.Notify();
      });
    }
    done.WaitForNotification();
  }
  state.SetItemsProcessed(state.iterations() * n);
}
BENCHMARK(BM_TimerFireMany)
    ->ArgNames({"detect", "timers"})
    ->ArgsProduct({{0}, {10000, 100000}})
    ->UseRealTime();

}  // namespace
}  // namespace batchexec
