#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/limits.h"
#include "server/tasks/args.h"
#include "server/tasks/kinds.h"

namespace batchexec {
namespace {

// Segmented sieve: O(sqrt(n)) memory, and a cancellation check per segment
// so a cancelled task frees its worker quickly.
int64_t CountPrimesBelow(int64_t n, const TaskContext& task) {
  if (n < 3) return 0;
  const int64_t root =
      static_cast<int64_t>(std::sqrt(static_cast<double>(n))) + 1;
  std::vector<char> small(root + 1, 1);
  std::vector<int64_t> base;
  for (int64_t i = 2; i <= root; ++i) {
    if (!small[i]) continue;
    base.push_back(i);
    for (int64_t j = i * i; j <= root; j += i) small[j] = 0;
  }
  constexpr int64_t kSegment = 1 << 16;
  std::vector<char> seg(kSegment);
  int64_t count = 0;
  for (int64_t lo = 2; lo < n; lo += kSegment) {
    if (task.done()) return -1;
    const int64_t hi = std::min(lo + kSegment, n);
    std::fill(seg.begin(), seg.end(), 1);
    for (int64_t p : base) {
      if (p * p >= hi) break;
      int64_t start = std::max(p * p, (lo + p - 1) / p * p);
      for (int64_t j = start; j < hi; j += p) seg[j - lo] = 0;
    }
    for (int64_t i = lo; i < hi; ++i) count += seg[i - lo];
  }
  return count;
}

}  // namespace

TaskKind PrimesKind() {
  TaskKind kind;
  kind.name = "primes";
  kind.description =
      "CPU-bound: counts the primes below `n` on the bounded CPU worker pool "
      "(--cpu_workers); returns {\"n\": n, \"count\": c}.";
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
  kind.handler = [](std::shared_ptr<TaskContext> task) {
    task->env().cpu_pool.Post([task] {
      if (task->done()) return;  // cancelled while queued for a worker
      const auto n = static_cast<int64_t>(NumberArg(task->args(), "n", 0));
      const int64_t count = CountPrimesBelow(n, *task);
      if (count < 0) return;  // cancelled midway; its result is already out
      HandlerOutput out;
      auto& fields = *out.output.mutable_struct_value()->mutable_fields();
      fields["n"].set_number_value(static_cast<double>(n));
      fields["count"].set_number_value(static_cast<double>(count));
      task->Finish(std::move(out));
    });
  };
  return kind;
}

}  // namespace batchexec
