#include "server/worker_pool.h"

#include <utility>

namespace batchexec {

WorkerPool::WorkerPool(int threads) {
  if (threads <= 0) threads = std::max(1u, std::thread::hardware_concurrency());
  threads_.reserve(threads);
  for (int i = 0; i < threads; ++i) threads_.emplace_back([this] { Work(); });
}

WorkerPool::~WorkerPool() {
  {
    MutexLock lock(&mu_);
    stopping_ = true;
  }
  for (auto& t : threads_) t.join();
}

void WorkerPool::Post(absl::AnyInvocable<void()> fn) {
  MutexLock lock(&mu_);
  queue_.push_back(std::move(fn));
}

void WorkerPool::Work() {
  for (;;) {
    absl::AnyInvocable<void()> fn;
    {
      MutexLock lock(&mu_);
      auto ready = [this] { return stopping_ || !queue_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (queue_.empty()) return;  // stopping and drained
      fn = std::move(queue_.front());
      queue_.pop_front();
    }
    fn();
  }
}

}  // namespace batchexec
