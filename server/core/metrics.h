// The server's Prometheus metrics (names, types and labels fixed by
// DESIGN.md section 6): counted on the hot path without a lock, in sharded
// atomic cells that Render folds at scrape time. gRPC-free.
#ifndef BATCHEXEC_SERVER_CORE_METRICS_H_
#define BATCHEXEC_SERVER_CORE_METRICS_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/heap_gauge.h"
#include "server/core/task_observer.h"
#include "server/core/task_registry.h"

namespace batchexec {

// Why a request was refused before its batch started: the `reason` label of
// batchexec_requests_rejected_total.
enum class RejectReason {
  kInvalidArgument,  // a malformed or invalid request
  kMaxBatchSize,
  kMaxRequestMemory,
  kMaxOpenBatches,
  kMaxQueuedTasks,
  kMaxOpenBatchesPerCaller,
  kMaxQueuedTasksPerCaller,
  kShuttingDown,     // UNAVAILABLE while draining
  kUnauthenticated,  // counted by the auth filter, passed in at scrape
  kCount,
};
absl::string_view RejectReasonName(RejectReason reason);

class Metrics final : public TaskObserver {
 public:
  // Upper bounds (seconds) of the duration histograms' buckets.
  static const std::vector<double>& TaskDurationBounds();
  static const std::vector<double>& BatchDurationBounds();

  // One series per kind of `registry` (which must outlive this). The heap
  // gauge reads `read_heap` (default mallinfo2) at most once per
  // kHeapGaugeMaxAge (heap_gauge.h).
  explicit Metrics(const TaskRegistry& registry,
                   HeapGauge::Reader read_heap = nullptr);
  ~Metrics() override;

  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // TaskObserver. Lock-free: a few relaxed atomic adds on this thread's shard.
  void TaskEnded(const TaskKind& kind, int code, absl::Duration ran) override;
  // A batch ended after `wall`.
  void BatchEnded(absl::Duration wall);
  void Rejected(RejectReason reason);

  // Values kept elsewhere (the executor's counts, the auth filter's),
  // read at scrape time.
  struct External {
    uint64_t batches_started = 0;
    int64_t batches_open = 0;
    int64_t tasks_inflight = 0;
    int64_t tasks_queued = 0;
    uint64_t unauthenticated = 0;
    uint64_t connections_dropped = 0;  // at EMFILE (server/rpc/accept_shed.h)
  };
  // The whole exposition text (metrics_exposition.h).
  std::string Render(const External& external) const;

 private:
  struct Shard;
  static constexpr int kShards = 16;
  static constexpr int kCodes = 17;

  // Cell offsets within a shard.
  int KindBase(int kind) const { return kind * per_kind_; }
  int BatchBase() const { return kinds_ * per_kind_; }
  int RejectBase() const { return BatchBase() + per_batch_; }
  Shard& MyShard();
  uint64_t Sum(int cell) const;

  std::vector<const TaskKind*> kind_list_;  // by index, sorted by name
  absl::flat_hash_map<const TaskKind*, int> kind_index_;
  int kinds_ = 0;
  int per_kind_ = 0;   // codes, buckets (+Inf), sum in ns
  int per_batch_ = 0;  // buckets (+Inf), sum in ns
  int cells_ = 0;
  std::unique_ptr<Shard[]> shards_;
  std::unique_ptr<HeapGauge> heap_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_METRICS_H_
