#include "server/fair_semaphore.h"

#include <algorithm>
#include <utility>

namespace batchexec {

FairSemaphore::FairSemaphore(int64_t limit, Defer defer, int inline_budget,
                             int64_t slots_per_turn)
    : limit_(limit),
      defer_(std::move(defer)),
      inline_budget_(inline_budget),
      slots_per_turn_(std::max<int64_t>(1, slots_per_turn)) {}

int64_t FairSemaphore::in_use() const {
  MutexLock lock(&mu_);
  return in_use_;
}

size_t FairSemaphore::waiting_clients() const {
  MutexLock lock(&mu_);
  return ring_.size();
}

void FairSemaphore::Request(std::shared_ptr<Client> client) {
  {
    MutexLock lock(&mu_);
    switch (client->state_) {
      case Client::State::kQueued:
        return;
      case Client::State::kOffered:
        // It may be declining right now; make it stay in line.
        client->requested_again_ = true;
        return;
      case Client::State::kIdle:
        client->state_ = Client::State::kQueued;
        ring_.push_back(std::move(client));
        break;
    }
  }
  Dispatch();
}

void FairSemaphore::Release(int64_t n) {
  {
    MutexLock lock(&mu_);
    in_use_ -= n;
  }
  Dispatch();
}

void FairSemaphore::Withdraw(const Client& client) {
  std::shared_ptr<Client> removed;  // released outside the lock
  MutexLock lock(&mu_);
  if (client.state_ != Client::State::kQueued) return;
  auto it = std::find_if(ring_.begin(), ring_.end(),
                         [&](const auto& c) { return c.get() == &client; });
  if (it == ring_.end()) return;
  removed = std::move(*it);
  ring_.erase(it);
  removed->state_ = Client::State::kIdle;
}

void FairSemaphore::Dispatch() {
  {
    MutexLock lock(&mu_);
    if (dispatching_) {
      dispatch_again_ = true;
      return;
    }
    dispatching_ = true;
  }
  DispatchLoop();
}

void FairSemaphore::DispatchLoop() {
  int64_t handed_out = 0;
  for (;;) {
    std::shared_ptr<Client> client;
    int64_t offered;
    {
      MutexLock lock(&mu_);
      if (in_use_ >= limit_ || ring_.empty()) {
        if (!dispatch_again_) {
          dispatching_ = false;
          return;
        }
        dispatch_again_ = false;
        continue;
      }
      if (defer_ && handed_out >= inline_budget_) {
        // Keep dispatching_ set: the deferred loop is the dispatcher now.
        defer_([this] { DispatchLoop(); });
        return;
      }
      client = std::move(ring_.front());
      ring_.pop_front();
      client->state_ = Client::State::kOffered;
      client->requested_again_ = false;
      offered = std::min(limit_ - in_use_, slots_per_turn_);
      in_use_ += offered;
    }
    const int64_t taken = client->OnSlots(offered);
    handed_out += taken;
    MutexLock lock(&mu_);
    in_use_ -= offered - taken;
    if (taken == offered || client->requested_again_) {
      // Round-robin: back of the line, behind every other waiting batch.
      client->state_ = Client::State::kQueued;
      ring_.push_back(std::move(client));
    } else {
      client->state_ = Client::State::kIdle;
    }
  }
}

}  // namespace batchexec
