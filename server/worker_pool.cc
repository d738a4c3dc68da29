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

void WorkerPool::Post(const void* lane, absl::AnyInvocable<void()> fn) {
  MutexLock lock(&mu_);
  auto& jobs = lanes_[lane];
  if (jobs.empty()) ring_.push_back(lane);
  jobs.push_back(std::move(fn));
}

size_t WorkerPool::waiting_lanes() const {
  MutexLock lock(&mu_);
  return ring_.size();
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
      auto ready = [this] { return stopping_ || !ring_.empty(); };
      mu_.Await(absl::Condition(&ready));
      if (ring_.empty()) return;  // stopping and drained
      // One job from the lane whose turn it is; the lane goes to the back.
      const void* lane = ring_.front();
      ring_.pop_front();
      auto it = lanes_.find(lane);
      fn = std::move(it->second.front());
      it->second.pop_front();
      if (it->second.empty()) {
        lanes_.erase(it);
      } else {
        ring_.push_back(lane);
      }
    }
    fn();
  }
}

}  // namespace batchexec
