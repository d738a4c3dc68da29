#include "server/core/metrics.h"

#include <algorithm>
#include <memory>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/status_code_name.h"
#include "server/core/metrics_exposition.h"

namespace batchexec {
namespace {

constexpr absl::string_view kReasonNames[] = {
    "invalid_argument",
    "max_batch_size",
    "max_request_memory",
    "max_open_batches",
    "max_queued_tasks",
    "max_open_batches_per_caller",
    "max_queued_tasks_per_caller",
    "shutting_down",
    "unauthenticated",
};
static_assert(sizeof(kReasonNames) / sizeof(kReasonNames[0]) ==
              static_cast<size_t>(RejectReason::kCount));

// Threads take shards round-robin, so a pool's workers rarely share a
// cache line.
std::atomic<int> next_shard{0};

// The bucket of `d` among `bounds_ns` (the last index is +Inf).
int BucketOf(int64_t ns, const std::vector<int64_t>& bounds_ns) {
  return static_cast<int>(
      std::lower_bound(bounds_ns.begin(), bounds_ns.end(), ns) -
      bounds_ns.begin());
}

std::vector<int64_t> ToNanos(const std::vector<double>& seconds) {
  std::vector<int64_t> out;
  for (double s : seconds) out.push_back(static_cast<int64_t>(s * 1e9));
  return out;
}

const std::vector<int64_t>& TaskBoundsNs() {
  static const auto* bounds =
      new std::vector<int64_t>(ToNanos(Metrics::TaskDurationBounds()));
  return *bounds;
}

const std::vector<int64_t>& BatchBoundsNs() {
  static const auto* bounds =
      new std::vector<int64_t>(ToNanos(Metrics::BatchDurationBounds()));
  return *bounds;
}

}  // namespace

absl::string_view RejectReasonName(RejectReason reason) {
  return kReasonNames[static_cast<int>(reason)];
}

// Cache-line aligned so that two shards never share a line.
struct alignas(64) Metrics::Shard {
  std::unique_ptr<std::atomic<uint64_t>[]> cells;
};

const std::vector<double>& Metrics::TaskDurationBounds() {
  // Echo runs in microseconds, sleeps and probes in up to minutes.
  static const auto* bounds =
      new std::vector<double>{0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1,
                              0.5,    1,      5,     10,    30,   60,   300};
  return *bounds;
}

const std::vector<double>& Metrics::BatchDurationBounds() {
  static const auto* bounds = new std::vector<double>{
      0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 1800};
  return *bounds;
}

Metrics::Metrics(const TaskRegistry& registry, HeapGauge::Reader read_heap)
    : kind_list_(registry.List()),
      heap_(std::make_unique<HeapGauge>(std::move(read_heap))) {
  std::sort(
      kind_list_.begin(), kind_list_.end(),
      [](const TaskKind* a, const TaskKind* b) { return a->name < b->name; });
  kinds_ = static_cast<int>(kind_list_.size());
  for (int i = 0; i < kinds_; ++i) kind_index_[kind_list_[i]] = i;
  per_kind_ = kCodes + static_cast<int>(TaskDurationBounds().size()) + 2;
  per_batch_ = static_cast<int>(BatchDurationBounds().size()) + 2;
  cells_ = RejectBase() + static_cast<int>(RejectReason::kCount);
  shards_ = std::make_unique<Shard[]>(kShards);
  for (int s = 0; s < kShards; ++s) {
    // Padded by a line so neighbouring allocations never share one.
    shards_[s].cells = std::make_unique<std::atomic<uint64_t>[]>(cells_ + 8);
    for (int c = 0; c < cells_ + 8; ++c) {
      shards_[s].cells[c].store(0, std::memory_order_relaxed);
    }
  }
}

Metrics::~Metrics() = default;

Metrics::Shard& Metrics::MyShard() {
  thread_local const int shard =
      next_shard.fetch_add(1, std::memory_order_relaxed) % kShards;
  return shards_[shard];
}

uint64_t Metrics::Sum(int cell) const {
  uint64_t total = 0;
  for (int s = 0; s < kShards; ++s) {
    total += shards_[s].cells[cell].load(std::memory_order_relaxed);
  }
  return total;
}

void Metrics::TaskEnded(const TaskKind& kind, int code, absl::Duration ran) {
  auto it = kind_index_.find(&kind);
  if (it == kind_index_.end()) return;  // not of our registry
  std::atomic<uint64_t>* cells = MyShard().cells.get() + KindBase(it->second);
  if (code < 0 || code >= kCodes) code = 2;  // UNKNOWN
  cells[code].fetch_add(1, std::memory_order_relaxed);
  if (ran == absl::InfiniteDuration()) return;  // never ran: no duration
  const int64_t ns = std::max<int64_t>(0, absl::ToInt64Nanoseconds(ran));
  cells[kCodes + BucketOf(ns, TaskBoundsNs())].fetch_add(
      1, std::memory_order_relaxed);
  cells[per_kind_ - 1].fetch_add(static_cast<uint64_t>(ns),
                                 std::memory_order_relaxed);
}

void Metrics::BatchEnded(absl::Duration wall) {
  std::atomic<uint64_t>* cells = MyShard().cells.get() + BatchBase();
  const int64_t ns = std::max<int64_t>(0, absl::ToInt64Nanoseconds(wall));
  cells[BucketOf(ns, BatchBoundsNs())].fetch_add(1, std::memory_order_relaxed);
  cells[per_batch_ - 1].fetch_add(static_cast<uint64_t>(ns),
                                  std::memory_order_relaxed);
}

void Metrics::Rejected(RejectReason reason) {
  MyShard().cells[RejectBase() + static_cast<int>(reason)].fetch_add(
      1, std::memory_order_relaxed);
}

std::string Metrics::Render(const External& external) const {
  ExpositionWriter w;
  w.Family("batchexec_batches_started_total", "counter",
           "Batches accepted since the server started.");
  w.Sample("batchexec_batches_started_total", {},
           static_cast<double>(external.batches_started));
  w.Family("batchexec_batches_open", "gauge", "Batches running now.");
  w.Sample("batchexec_batches_open", {},
           static_cast<double>(external.batches_open));

  w.Family("batchexec_tasks_completed_total", "counter",
           "Tasks ended, by kind and gRPC status code name.");
  for (int k = 0; k < kinds_; ++k) {
    for (int code = 0; code < kCodes; ++code) {
      const uint64_t n = Sum(KindBase(k) + code);
      // OK always appears, so rate() sees each kind's series from zero;
      // error codes once they happened.
      if (n == 0 && code != 0) continue;
      w.Sample("batchexec_tasks_completed_total",
               {{"kind", kind_list_[k]->name}, {"code", StatusCodeName(code)}},
               static_cast<double>(n));
    }
  }
  w.Family("batchexec_tasks_inflight", "gauge",
           "Tasks running now, across every batch.");
  w.Sample("batchexec_tasks_inflight", {},
           static_cast<double>(external.tasks_inflight));
  w.Family("batchexec_tasks_queued", "gauge",
           "Tasks of open batches not started yet.");
  w.Sample("batchexec_tasks_queued", {},
           static_cast<double>(external.tasks_queued));

  w.Family("batchexec_task_duration_seconds", "histogram",
           "How long tasks ran (tasks that never started are not counted).");
  const int task_buckets = static_cast<int>(TaskDurationBounds().size()) + 1;
  for (int k = 0; k < kinds_; ++k) {
    std::vector<uint64_t> counts(task_buckets);
    for (int b = 0; b < task_buckets; ++b) {
      counts[b] = Sum(KindBase(k) + kCodes + b);
    }
    w.Histogram("batchexec_task_duration_seconds",
                {{"kind", kind_list_[k]->name}}, TaskDurationBounds(), counts,
                static_cast<double>(Sum(KindBase(k) + per_kind_ - 1)) / 1e9);
  }

  w.Family("batchexec_batch_duration_seconds", "histogram",
           "Wall time of batches, from start to their last result.");
  const int batch_buckets = static_cast<int>(BatchDurationBounds().size()) + 1;
  std::vector<uint64_t> counts(batch_buckets);
  for (int b = 0; b < batch_buckets; ++b) counts[b] = Sum(BatchBase() + b);
  w.Histogram("batchexec_batch_duration_seconds", {}, BatchDurationBounds(),
              counts,
              static_cast<double>(Sum(BatchBase() + per_batch_ - 1)) / 1e9);

  // The live heap, without the free pages and fragmentation RSS also
  // counts: what the server's requests and tasks hold now (the bench reads
  // it for its bytes-per-task figure). Read at most once per
  // kHeapGaugeMaxAge, never per task: mallinfo2 walks malloc's arenas under
  // their locks.
  w.Family("batchexec_process_heap_bytes", "gauge",
           "Bytes malloc has handed out and not got back (mallinfo2 "
           "uordblks + hblkhd).");
  w.Sample("batchexec_process_heap_bytes", {},
           static_cast<double>(heap_->Get()));

  w.Family("batchexec_requests_rejected_total", "counter",
           "Requests refused before their batch started, by reason.");
  for (int r = 0; r < static_cast<int>(RejectReason::kCount); ++r) {
    uint64_t n = Sum(RejectBase() + r);
    if (static_cast<RejectReason>(r) == RejectReason::kUnauthenticated) {
      n += external.unauthenticated;
    }
    w.Sample("batchexec_requests_rejected_total",
             {{"reason", std::string(kReasonNames[r])}},
             static_cast<double>(n));
  }
  w.Family("batchexec_connections_dropped_total", "counter",
           "Connections the listener accepted and closed at once because "
           "the process was out of descriptors (EMFILE/ENFILE), so that it "
           "keeps accepting once they free up.");
  w.Sample("batchexec_connections_dropped_total", {},
           static_cast<double>(external.connections_dropped));
  return w.Take();
}

}  // namespace batchexec
