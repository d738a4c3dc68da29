#include "server/core/memory_budget.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"

namespace batchexec {
namespace {

// A CAS loop: adds `bytes` to `counter` if it stays within `limit`.
bool TryAdd(std::atomic<int64_t>& counter, int64_t limit, int64_t bytes) {
  int64_t used = counter.load(std::memory_order_relaxed);
  do {
    if (bytes > limit - used) return false;
  } while (!counter.compare_exchange_weak(used, used + bytes,
                                          std::memory_order_relaxed));
  return true;
}

// "12 MiB", or bytes under 1 MiB.
std::string Amount(int64_t bytes) {
  if (bytes < (1 << 20)) return absl::StrCat(bytes, " bytes");
  return absl::StrCat(bytes >> 20, " MiB");
}

}  // namespace

MemoryBudget::Account::~Account() {
  MutexLock lock(&budget_->mu_);
  auto it = budget_->accounts_.find(caller_);
  // A new account for the same caller may have replaced this one already.
  if (it != budget_->accounts_.end() && it->second.expired()) {
    budget_->accounts_.erase(it);
  }
}

MemoryBudget::Reservation& MemoryBudget::Reservation::operator=(
    Reservation&& other) noexcept {
  if (this != &other) {
    Reservation old(std::move(*this));  // released at the end of scope
    budget_ = other.budget_;
    account_ = std::move(other.account_);
    bytes_ = other.bytes_;
    other.budget_ = nullptr;
  }
  return *this;
}

MemoryBudget::Reservation::~Reservation() {
  if (budget_ != nullptr) budget_->Give(account_.get(), bytes_);
}

bool MemoryBudget::Reservation::TryGrow(int64_t bytes, Full* full) {
  if (budget_ == nullptr || bytes <= 0) return budget_ != nullptr;
  if (!budget_->Take(account_.get(), bytes, full)) return false;
  bytes_ += bytes;
  return true;
}

void MemoryBudget::Reservation::Shrink(int64_t bytes) {
  if (budget_ == nullptr) return;
  bytes = std::min(bytes, bytes_);
  if (bytes <= 0) return;
  budget_->Give(account_.get(), bytes);
  bytes_ -= bytes;
}

bool MemoryBudget::Take(Account* account, int64_t bytes, Full* full) {
  if (account != nullptr &&
      !TryAdd(account->in_use_, per_caller_limit_, bytes)) {
    if (full != nullptr) *full = Full::kCaller;
    return false;
  }
  if (!TryAdd(in_use_, limit_, bytes)) {
    if (account != nullptr) {
      account->in_use_.fetch_sub(bytes, std::memory_order_relaxed);
    }
    if (full != nullptr) *full = Full::kServer;
    return false;
  }
  return true;
}

void MemoryBudget::Give(Account* account, int64_t bytes) {
  if (account != nullptr) {
    account->in_use_.fetch_sub(bytes, std::memory_order_relaxed);
  }
  in_use_.fetch_sub(bytes, std::memory_order_relaxed);
}

std::optional<MemoryBudget::Reservation> MemoryBudget::TryReserve(
    int64_t bytes) {
  if (!Take(nullptr, bytes, nullptr)) return std::nullopt;
  return Reservation(this, nullptr, bytes);
}

std::optional<MemoryBudget::Reservation> MemoryBudget::TryReserve(
    const std::string& caller, int64_t bytes, Full* full) {
  std::shared_ptr<Account> account;
  {
    MutexLock lock(&mu_);
    std::weak_ptr<Account>& entry = accounts_[caller];
    account = entry.lock();
    if (account == nullptr) {
      account = std::make_shared<Account>(this, caller);
      entry = account;
    }
  }
  if (!Take(account.get(), bytes, full)) return std::nullopt;
  return Reservation(this, std::move(account), bytes);
}

int64_t MemoryBudget::in_use(const std::string& caller) const {
  std::shared_ptr<Account> account;
  {
    MutexLock lock(&mu_);
    auto it = accounts_.find(caller);
    if (it == accounts_.end()) return 0;
    account = it->second.lock();
  }
  return account == nullptr ? 0 : account->in_use();
}

std::string MemoryBudget::Describe(Full full, const std::string& caller) const {
  if (full == Full::kCaller) {
    return absl::StrCat("caller '", caller, "' holds ", Amount(in_use(caller)),
                        " of its ", Amount(per_caller_limit_),
                        " share of request memory "
                        "(--max_request_memory_per_caller)");
  }
  return absl::StrCat("the server holds ", Amount(in_use()), " of its ",
                      Amount(limit_),
                      " for requests and results of all callers "
                      "(--max_request_memory)");
}

}  // namespace batchexec
