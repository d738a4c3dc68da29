#include "server/core/fair_semaphore.h"

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
  return queued_clients_;
}

size_t FairSemaphore::waiting_callers() const {
  MutexLock lock(&mu_);
  return ring_.size();
}

void FairSemaphore::EnqueueLocked(std::shared_ptr<Client> client) {
  Caller& caller = callers_[client->caller_];
  caller.weight = client->weight_;
  client->state_ = Client::State::kQueued;
  caller.clients.push_back(std::move(client));
  ++queued_clients_;
  if (!caller.in_ring) {
    caller.in_ring = true;
    ring_.push_back(caller.clients.back()->caller_);
  }
}

void FairSemaphore::LeaveLocked(const void* key) {
  auto it = callers_.find(key);
  if (--it->second.members == 0) callers_.erase(it);
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
        ++callers_[client->caller_].members;
        EnqueueLocked(std::move(client));
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
  auto caller = callers_.find(client.caller_);
  auto& line = caller->second.clients;
  auto it = std::find_if(line.begin(), line.end(),
                         [&](const auto& c) { return c.get() == &client; });
  removed = std::move(*it);
  line.erase(it);
  --queued_clients_;
  removed->state_ = Client::State::kIdle;
  if (line.empty() && caller->second.in_ring) {
    ring_.erase(std::find(ring_.begin(), ring_.end(), client.caller_));
    caller->second.in_ring = false;
  }
  LeaveLocked(client.caller_);
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
      // The caller whose turn it is offers to its first batch; the caller
      // goes to the back of the ring at once if it has others waiting.
      const void* key = ring_.front();
      ring_.pop_front();
      Caller& caller = callers_[key];
      client = std::move(caller.clients.front());
      caller.clients.pop_front();
      --queued_clients_;
      caller.in_ring = !caller.clients.empty();
      if (caller.in_ring) ring_.push_back(key);
      client->state_ = Client::State::kOffered;
      client->requested_again_ = false;
      offered = std::min(limit_ - in_use_, slots_per_turn_ * caller.weight);
      in_use_ += offered;
    }
    const int64_t taken = client->OnSlots(offered);
    handed_out += taken;
    MutexLock lock(&mu_);
    in_use_ -= offered - taken;
    if (taken == offered || client->requested_again_) {
      // Round-robin: back of its caller's line, behind its other batches.
      EnqueueLocked(std::move(client));
    } else {
      client->state_ = Client::State::kIdle;
      LeaveLocked(client->caller_);
    }
  }
}

}  // namespace batchexec
