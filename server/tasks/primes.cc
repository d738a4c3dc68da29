// The primes kind: counts primes below `n` on the CPU pool (the CPU-bound
// kind).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "server/core/limits.h"
#include "server/tasks/args.h"
#include "server/tasks/kinds.h"

namespace batchexec {
namespace {

// The primes below kMaxPrimesLimit's square root: enough to sieve any `n`
// the kind accepts. Made once and shared by every job (~5 KB).
const std::vector<int32_t>& BasePrimes() {
  static const std::vector<int32_t>* const primes = [] {
    const auto root = static_cast<int32_t>(
        std::sqrt(static_cast<double>(kMaxPrimesLimit)) + 1);
    std::vector<char> small(root + 1, 1);
    auto* found = new std::vector<int32_t>;
    for (int32_t i = 2; i <= root; ++i) {
      if (!small[i]) continue;
      found->push_back(i);
      for (int64_t j = int64_t{i} * i; j <= root; j += i) small[j] = 0;
    }
    return found;
  }();
  return *primes;
}

// A segmented sieve that runs in slices: after each slice it gives its
// worker back and queues again in its batch's turn, so a batch of long
// sieves shares the CPU pool with others instead of holding a worker per
// task to the end. A cancelled task stops at the next segment.
//
// A waiting job holds only its progress (where the next segment starts, the
// count so far): the segment is the worker thread's, and the base primes are
// shared, so 20k started jobs cost ~2 MB, not 20k segments (kinds.h).
class PrimesJob {
 public:
  PrimesJob(std::shared_ptr<TaskContext> task, int64_t n)
      : task_(std::move(task)), n_(n) {}

  // Sieves for about kSlice, then queues the rest or finishes the task.
  static void Run(std::unique_ptr<PrimesJob> job) {
    if (job->task_->done()) return;  // cancelled; its result is already out
    if (!job->Step(absl::Now() + kSlice)) {
      TaskContext* task = job->task_.get();
      task->PostCpu([job = std::move(job)]() mutable { Run(std::move(job)); });
      return;
    }
    HandlerOutput out;
    auto& fields = *out.output.mutable_struct_value()->mutable_fields();
    fields["n"].set_number_value(static_cast<double>(job->n_));
    fields["count"].set_number_value(static_cast<double>(job->count_));
    job->task_->Finish(std::move(out));
  }

 private:
  // A worker is held at most this long in one turn.
  static constexpr absl::Duration kSlice = absl::Milliseconds(5);
  static constexpr int64_t kSegment = 1 << 16;

  // True once the count is complete.
  bool Step(absl::Time until) {
    if (n_ < 3) return true;
    const std::vector<int32_t>& base = BasePrimes();
    // The worker's own segment, reused by every job it runs.
    thread_local std::vector<char> seg(kSegment);
    while (lo_ < n_) {
      if (task_->done()) return false;
      const int64_t hi = std::min(lo_ + kSegment, n_);
      std::fill(seg.begin(), seg.end(), 1);
      for (int64_t p : base) {
        if (p * p >= hi) break;
        int64_t start = std::max(p * p, (lo_ + p - 1) / p * p);
        for (int64_t j = start; j < hi; j += p) seg[j - lo_] = 0;
      }
      for (int64_t i = lo_; i < hi; ++i) count_ += seg[i - lo_];
      lo_ = hi;
      if (lo_ < n_ && absl::Now() >= until) return false;
    }
    return true;
  }

  const std::shared_ptr<TaskContext> task_;
  const int64_t n_;
  int64_t lo_ = 2;
  int64_t count_ = 0;
};

absl::StatusOr<TaskKind> PrimesKind(const BuiltinKindsOptions&) {
  TaskKind kind;
  kind.name = "primes";
  kind.description =
      "CPU-bound: counts the primes below `n` on the bounded CPU worker pool "
      "(--cpu_workers), in 5 ms turns shared with other batches; returns "
      "{\"n\": n, \"count\": c}.";
  kind.args = {{"n", ArgType::kNumber, true,
                absl::StrCat("upper bound (exclusive), 0..", kMaxPrimesLimit)}};
  kind.validate = [](const google::protobuf::Struct& args) {
    double n = NumberArg(args, "n", 0);
    if (!(n >= 0 && n <= kMaxPrimesLimit) || n != std::floor(n)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "args.n must be an integer 0..", kMaxPrimesLimit, ", got ", n));
    }
    return absl::OkStatus();
  };
  kind.reads_task_only_at_start = true;  // args are copied out here
  kind.handler = [](std::shared_ptr<TaskContext> task) {
    const auto n = static_cast<int64_t>(NumberArg(task->args(), "n", 0));
    auto job = std::make_unique<PrimesJob>(task, n);
    task->PostCpu(
        [job = std::move(job)]() mutable { PrimesJob::Run(std::move(job)); });
  };
  return kind;
}

[[maybe_unused]] const bool kRegistered = AddBuiltinKind(&PrimesKind);

}  // namespace

}  // namespace batchexec
