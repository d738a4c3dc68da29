#include "server/core/socket_budget.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace batchexec {

void SocketBudget::Lease::Release() {
  if (budget_ == nullptr) return;
  std::shared_ptr<SocketBudget> budget = std::move(budget_);
  budget_ = nullptr;
  budget->semaphore_.Release(1);
}

// One socket per turn: a caller's turn is short, so waiters of every caller
// are served within a round even while sockets free up one at a time.
SocketBudget::SocketBudget(int64_t limit)
    : semaphore_(std::max<int64_t>(1, limit), /*defer=*/nullptr,
                 /*inline_budget=*/1 << 30, /*slots_per_turn=*/1) {}

int64_t SocketBudget::waiting() const {
  MutexLock lock(&mu_);
  return waiting_;
}

std::shared_ptr<SocketBudget::Ticket> SocketBudget::Acquire(
    const Turn& turn, absl::AnyInvocable<void(Lease)> granted) {
  auto ticket = std::make_shared<Ticket>();
  std::shared_ptr<Line> line;
  {
    MutexLock lock(&mu_);
    std::shared_ptr<Line>& slot = lines_[turn.batch];
    // An emptied line keeps its place in line for the batch's next waiter;
    // but a batch at a freed batch's address is someone else's.
    if (slot == nullptr ||
        (QueueOf(*slot).live == 0 &&
         (slot->caller_ != turn.caller || slot->weight_ != turn.weight))) {
      slot = std::make_shared<Line>(*this, turn);
    }
    line = slot;
    StateOf(*ticket).granted = std::move(granted);
    ticket->line_ = line.get();
    Line::Queue& queue = QueueOf(*line);
    queue.tickets.push_back(ticket);
    ++queue.live;
    ++waiting_;
  }
  // May grant this ticket (or others) here, outside mu_.
  semaphore_.Request(std::move(line));
  return ticket;
}

bool SocketBudget::Cancel(Ticket& ticket) {
  absl::AnyInvocable<void(Lease)> dropped;  // destroyed outside mu_
  std::shared_ptr<Line> withdrawn;
  {
    MutexLock lock(&mu_);
    Ticket::State& state = StateOf(ticket);
    if (!state.waiting) return false;
    state.waiting = false;
    dropped = std::move(state.granted);
    --waiting_;
    // A waiting ticket's line is in lines_ (it has a live ticket).
    Line& line = *ticket.line_;
    if (--QueueOf(line).live == 0) withdrawn = DropLineLocked(line);
  }
  if (withdrawn != nullptr) semaphore_.Withdraw(*withdrawn);
  return true;
}

std::shared_ptr<SocketBudget::Line> SocketBudget::DropLineLocked(Line& line) {
  // Cancelled tickets left in it go now, not when it is next offered.
  QueueOf(line).tickets.clear();
  auto it = lines_.find(line.batch_);
  if (it == lines_.end() || it->second.get() != &line) return nullptr;
  std::shared_ptr<Line> dropped = std::move(it->second);
  lines_.erase(it);
  return dropped;
}

int64_t SocketBudget::Grant(Line& line, int64_t offered) {
  std::vector<absl::AnyInvocable<void(Lease)>> granted;
  std::shared_ptr<Line> dropped;  // released outside mu_
  {
    MutexLock lock(&mu_);
    Line::Queue& queue = QueueOf(line);
    while (static_cast<int64_t>(granted.size()) < offered &&
           !queue.tickets.empty()) {
      std::shared_ptr<Ticket> ticket = std::move(queue.tickets.front());
      queue.tickets.pop_front();
      Ticket::State& state = StateOf(*ticket);
      if (!state.waiting) continue;  // cancelled
      state.waiting = false;
      granted.push_back(std::move(state.granted));
      --queue.live;
      --waiting_;
    }
    // A line that took every socket offered stays in line (and in lines_),
    // so the batch's next waiter keeps the batch's place; one that has none
    // to take leaves both.
    if (queue.live == 0 && granted.empty()) dropped = DropLineLocked(line);
  }
  for (auto& fn : granted) fn(Lease(shared_from_this()));
  return static_cast<int64_t>(granted.size());
}

}  // namespace batchexec
