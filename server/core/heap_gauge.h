// The live heap figure for /metrics (batchexec_process_heap_bytes), read at
// most once per max_age: mallinfo2 walks every malloc arena under its lock
// (124 ms with ~1M free chunks, while every allocating thread waits), so
// scrapes in a row, or several Prometheus replicas, share one reading.
// gRPC-free; thread-safe.
#ifndef BATCHEXEC_SERVER_CORE_HEAP_GAUGE_H_
#define BATCHEXEC_SERVER_CORE_HEAP_GAUGE_H_

#include <cstdint>
#include <functional>

#include "absl/base/thread_annotations.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "server/core/limits.h"

namespace batchexec {

class HeapGauge {
 public:
  using Reader = std::function<int64_t()>;
  using Clock = std::function<absl::Time()>;

  // `read` defaults to HeapInUseBytes (mallinfo2); tests pass their own
  // reader and clock.
  explicit HeapGauge(Reader read = nullptr,
                     absl::Duration max_age = kHeapGaugeMaxAge,
                     Clock now = absl::Now);

  // The last reading if it is younger than max_age, else a fresh one.
  // Concurrent callers wait for one reading rather than each taking one.
  int64_t Get();

 private:
  const Reader read_;
  const absl::Duration max_age_;
  const Clock now_;
  Mutex mu_;
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Time read_at_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_HEAP_GAUGE_H_
