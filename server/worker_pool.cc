#include "server/worker_pool.h"

#include <atomic>
#include <memory>
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

void WorkerPool::RunBoth(absl::FunctionRef<void()> first,
                         absl::FunctionRef<void()> second) {
  // Shared: a worker may pick the job up after this call returned; it then
  // finds the job claimed and touches nothing else.
  struct Job {
    explicit Job(absl::FunctionRef<void()> fn) : fn(fn) {}
    absl::FunctionRef<void()> fn;
    std::atomic<bool> claimed{false};
    Mutex mu;
    bool done ABSL_GUARDED_BY(mu) = false;
    void Run() {
      if (claimed.exchange(true, std::memory_order_acq_rel)) return;
      fn();
      MutexLock lock(&mu);
      done = true;
    }
    void Wait() {
      MutexLock lock(&mu);
      mu.Await(absl::Condition(&done));
    }
  };
  auto job = std::make_shared<Job>(second);
  Post([job] { job->Run(); });
  first();
  job->Run();
  job->Wait();
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
