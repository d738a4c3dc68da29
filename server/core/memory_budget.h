// A budget of bytes for what callers make the server hold: parsed requests,
// and the results held for them (an Execute stream's unsent backlog, a
// Gather's kept results). Two levels: the server's limit, and each caller's
// share of it, so that one caller cannot take the bytes every other caller
// needs. A call reserves its estimate before anything is built and gets
// RESOURCE_EXHAUSTED naming the budget when either is full; results grow a
// reservation as they are held and shrink it as they go (ResultCharge).
// Reserving and growing are lock-free; finding a caller's account (once per
// call) takes a lock. Thread-safe.
#ifndef BATCHEXEC_SERVER_CORE_MEMORY_BUDGET_H_
#define BATCHEXEC_SERVER_CORE_MEMORY_BUDGET_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "common/mutex.h"

namespace batchexec {

class MemoryBudget {
 public:
  // Which budget refused bytes.
  enum class Full { kNone, kCaller, kServer };

  // One caller's bytes, shared by its reservations; gone with the last.
  class Account {
   public:
    Account(MemoryBudget* budget, std::string caller)
        : budget_(budget), caller_(std::move(caller)) {}
    ~Account();
    Account(const Account&) = delete;
    Account& operator=(const Account&) = delete;
    const std::string& caller() const { return caller_; }
    int64_t in_use() const { return in_use_.load(std::memory_order_relaxed); }

   private:
    friend class MemoryBudget;
    MemoryBudget* const budget_;
    const std::string caller_;
    std::atomic<int64_t> in_use_{0};
  };

  // Bytes held from TryReserve until destroyed; they may grow and shrink.
  // Move-only; one thread at a time.
  class Reservation {
   public:
    Reservation() = default;
    Reservation(Reservation&& other) noexcept
        : budget_(other.budget_),
          account_(std::move(other.account_)),
          bytes_(other.bytes_) {
      other.budget_ = nullptr;
    }
    Reservation& operator=(Reservation&& other) noexcept;
    ~Reservation();
    int64_t bytes() const { return budget_ == nullptr ? 0 : bytes_; }
    // The caller charged, or null (a server-wide reservation).
    const Account* account() const { return account_.get(); }
    MemoryBudget* budget() const { return budget_; }

    // Takes `bytes` more if both budgets have room; else false, and `full`
    // (if given) says which is full. An empty Reservation takes nothing.
    bool TryGrow(int64_t bytes, Full* full = nullptr);
    // Gives back `bytes` (at most what it holds).
    void Shrink(int64_t bytes);

   private:
    friend class MemoryBudget;
    Reservation(MemoryBudget* budget, std::shared_ptr<Account> account,
                int64_t bytes)
        : budget_(budget), account_(std::move(account)), bytes_(bytes) {}
    MemoryBudget* budget_ = nullptr;
    std::shared_ptr<Account> account_;
    int64_t bytes_ = 0;
  };

  // `per_caller_limit`: what one caller may hold (see limits.h); by default
  // the whole budget. Reservations must not outlive the budget.
  explicit MemoryBudget(int64_t limit, int64_t per_caller_limit = 0)
      : limit_(limit),
        per_caller_limit_(per_caller_limit > 0 ? per_caller_limit : limit) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  // `bytes` against the server's budget alone; nullopt if they don't fit.
  std::optional<Reservation> TryReserve(int64_t bytes);
  // `bytes` for `caller`, against its share and the server's budget; nullopt
  // if they don't fit, with `full` (if given) saying which budget is full.
  // Zero bytes always fit: a reservation to grow later.
  std::optional<Reservation> TryReserve(const std::string& caller,
                                        int64_t bytes, Full* full = nullptr);

  // Which budget is full, and its figures and flag, for an error message:
  // "caller 'a' holds 120 MiB of its 128 MiB share of request memory
  // (--max_request_memory_per_caller)".
  std::string Describe(Full full, const std::string& caller) const;

  int64_t limit() const { return limit_; }
  int64_t per_caller_limit() const { return per_caller_limit_; }
  int64_t in_use() const { return in_use_.load(std::memory_order_relaxed); }
  // What `caller` holds now (0 if nothing).
  int64_t in_use(const std::string& caller) const;

 private:
  // Takes `bytes` from `account` (if any) and the server; false if either
  // is full.
  bool Take(Account* account, int64_t bytes, Full* full);
  void Give(Account* account, int64_t bytes);

  const int64_t limit_;
  const int64_t per_caller_limit_;
  std::atomic<int64_t> in_use_{0};
  mutable Mutex mu_;
  // Callers holding reservations. An entry outlives its account for a moment
  // (expired, until the account's destructor erases it).
  absl::flat_hash_map<std::string, std::weak_ptr<Account>> accounts_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_MEMORY_BUDGET_H_
