// A server-wide budget of bytes for what callers make the server hold:
// parsed requests and the results kept for them. A call reserves its
// estimate before anything is built and gets RESOURCE_EXHAUSTED when the
// budget is full, so a few huge requests cannot take the machine down.
// Lock-free; thread-safe.
#ifndef BATCHEXEC_SERVER_CORE_MEMORY_BUDGET_H_
#define BATCHEXEC_SERVER_CORE_MEMORY_BUDGET_H_

#include <atomic>
#include <cstdint>
#include <optional>

namespace batchexec {

class MemoryBudget {
 public:
  // Bytes held from TryReserve until destroyed. Move-only.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept
        : budget_(other.budget_), bytes_(other.bytes_) {
      other.budget_ = nullptr;
    }
    Reservation& operator=(Reservation&& other) noexcept;
    ~Reservation();
    int64_t bytes() const { return budget_ == nullptr ? 0 : bytes_; }

   private:
    friend class MemoryBudget;
    Reservation(MemoryBudget* budget, int64_t bytes)
        : budget_(budget), bytes_(bytes) {}
    MemoryBudget* budget_ = nullptr;
    int64_t bytes_ = 0;
  };

  explicit MemoryBudget(int64_t limit) : limit_(limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // `bytes` if they fit beside what is reserved; nullopt if not.
  std::optional<Reservation> TryReserve(int64_t bytes);

  int64_t limit() const { return limit_; }
  int64_t in_use() const { return in_use_.load(std::memory_order_relaxed); }

 private:
  const int64_t limit_;
  std::atomic<int64_t> in_use_{0};
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_MEMORY_BUDGET_H_
