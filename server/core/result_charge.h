// Charges the results a sink holds (an Execute stream's unsent backlog, a
// Gather's kept results) to its caller's request memory (MemoryBudget): what
// a result takes beyond the kReservedBytesPerTask its request already
// reserved for it. The reservation grows and shrinks in steps of
// kResultChargeStep, so most results touch no atomic. Not thread-safe: its
// owner serializes the calls (the batch's lock, the queue's).
#ifndef BATCHEXEC_SERVER_CORE_RESULT_CHARGE_H_
#define BATCHEXEC_SERVER_CORE_RESULT_CHARGE_H_

#include <cstddef>
#include <cstdint>

#include "absl/status/status.h"
#include "server/core/memory_budget.h"

namespace batchexec {

class ResultCharge {
 public:
  // Charges nothing: every result fits (a sink without a budget).
  ResultCharge() = default;
  // Grows `reservation` (a caller's, usually empty) as results are held.
  explicit ResultCharge(MemoryBudget::Reservation reservation)
      : reservation_(std::move(reservation)) {}

  // Holds a result serialized to `size` bytes: sets `charged` to the bytes
  // charged for it (0 if it fits in its task's reserve), for Release later.
  // RESOURCE_EXHAUSTED naming the full budget (the caller's share or the
  // server's) if they don't fit; nothing is charged then.
  absl::Status Hold(size_t size, int64_t* charged);
  // Gives back bytes Hold charged, once their results are sent or freed.
  void Release(int64_t charged);

  // Bytes charged for results held now.
  int64_t held() const { return used_; }

 private:
  MemoryBudget::Reservation reservation_;
  int64_t used_ = 0;  // <= reservation_.bytes() when there is a budget
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_RESULT_CHARGE_H_
