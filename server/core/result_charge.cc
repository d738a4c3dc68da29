#include "server/core/result_charge.h"

#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "server/core/limits.h"

namespace batchexec {

absl::Status ResultCharge::Hold(size_t size, int64_t* charged) {
  *charged = 0;
  MemoryBudget* budget = reservation_.budget();
  const int64_t bytes = static_cast<int64_t>(size) - kReservedBytesPerTask;
  if (budget == nullptr || bytes <= 0) return absl::OkStatus();
  const int64_t need = used_ + bytes - reservation_.bytes();
  if (need > 0) {
    MemoryBudget::Full full = MemoryBudget::Full::kNone;
    // A step ahead if it fits, else just what this result needs.
    if (!reservation_.TryGrow(std::max(need, kResultChargeStep)) &&
        !reservation_.TryGrow(need, &full)) {
      const MemoryBudget::Account* account = reservation_.account();
      return absl::ResourceExhaustedError(absl::StrCat(
          "result not kept: its ", size, " bytes would go past the budget: ",
          budget->Describe(full, account != nullptr ? account->caller() : ""),
          "; results count until they are sent (Execute) or answered "
          "(Gather): read them sooner, or ask for fewer or smaller ones"));
    }
  }
  used_ += bytes;
  *charged = bytes;
  return absl::OkStatus();
}

void ResultCharge::Release(int64_t charged) {
  used_ -= charged;
  // Keep a step for the next results; give back the rest.
  const int64_t spare = reservation_.bytes() - used_;
  if (spare > 2 * kResultChargeStep) {
    reservation_.Shrink(spare - kResultChargeStep);
  }
}

}  // namespace batchexec
