#include "server/core/worker_pool.h"

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

void WorkerPool::Post(const void* caller, const void* lane,
                      absl::AnyInvocable<void()> fn) {
  MutexLock lock(&mu_);
  auto& jobs = lanes_[lane];
  if (jobs.empty()) {
    auto& lanes = callers_[caller];
    if (lanes.empty()) ring_.push_back(caller);
    lanes.push_back(lane);
  }
  jobs.push_back(std::move(fn));
}

size_t WorkerPool::waiting_lanes() const {
  MutexLock lock(&mu_);
  return lanes_.size();
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
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stopping_ || !ring_.empty();
      };
      mu_.Await(absl::Condition(&ready));
      if (ring_.empty()) return;  // stopping and drained
      // One job of the caller whose turn it is, from its lane whose turn
      // it is; both go to the back of their rings if they have more.
      const void* caller = ring_.front();
      ring_.pop_front();
      auto lanes = callers_.find(caller);
      const void* lane = lanes->second.front();
      lanes->second.pop_front();
      auto jobs = lanes_.find(lane);
      fn = std::move(jobs->second.front());
      jobs->second.pop_front();
      if (jobs->second.empty()) {
        lanes_.erase(jobs);
      } else {
        lanes->second.push_back(lane);
      }
      if (lanes->second.empty()) {
        callers_.erase(lanes);
      } else {
        ring_.push_back(caller);
      }
    }
    fn();
  }
}

}  // namespace batchexec
