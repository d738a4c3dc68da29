#include "server/core/memory_budget.h"

#include <utility>

namespace batchexec {

MemoryBudget::Reservation& MemoryBudget::Reservation::operator=(
    Reservation&& other) noexcept {
  if (this != &other) {
    Reservation old(std::move(*this));  // released at the end of scope
    budget_ = other.budget_;
    bytes_ = other.bytes_;
    other.budget_ = nullptr;
  }
  return *this;
}

MemoryBudget::Reservation::~Reservation() {
  if (budget_ != nullptr) {
    budget_->in_use_.fetch_sub(bytes_, std::memory_order_relaxed);
  }
}

std::optional<MemoryBudget::Reservation> MemoryBudget::TryReserve(
    int64_t bytes) {
  int64_t used = in_use_.load(std::memory_order_relaxed);
  do {
    if (bytes > limit_ - used) return std::nullopt;
  } while (!in_use_.compare_exchange_weak(used, used + bytes,
                                          std::memory_order_relaxed));
  return Reservation(this, bytes);
}

}  // namespace batchexec
