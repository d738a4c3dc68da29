#include "server/fair_semaphore.h"

#include <utility>

namespace batchexec {

FairSemaphore::FairSemaphore(int64_t limit, Defer defer, int inline_budget)
    : limit_(limit), defer_(std::move(defer)), inline_budget_(inline_budget) {}

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

void FairSemaphore::Release() {
  {
    MutexLock lock(&mu_);
    --in_use_;
  }
  Dispatch();
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
  int offers = 0;
  for (;;) {
    std::shared_ptr<Client> client;
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
      if (defer_ && offers >= inline_budget_) {
        // Keep dispatching_ set: the deferred loop is the dispatcher now.
        defer_([this] { DispatchLoop(); });
        return;
      }
      client = std::move(ring_.front());
      ring_.pop_front();
      client->state_ = Client::State::kOffered;
      client->requested_again_ = false;
      ++in_use_;
    }
    ++offers;
    bool took = client->OnSlot();
    MutexLock lock(&mu_);
    if (!took) --in_use_;
    if (took || client->requested_again_) {
      // Round-robin: back of the line, behind every other waiting batch.
      client->state_ = Client::State::kQueued;
      ring_.push_back(std::move(client));
    } else {
      client->state_ = Client::State::kIdle;
    }
  }
}

}  // namespace batchexec
