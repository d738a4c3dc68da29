// A BatchSink for tests: records every event, and lets a test wait for the
// batch's end.
#ifndef BATCHEXEC_SERVER_TEST_UTIL_RECORDING_SINK_H_
#define BATCHEXEC_SERVER_TEST_UTIL_RECORDING_SINK_H_

#include <vector>

#include "absl/time/time.h"
#include "common/mutex.h"
#include "server/core/batch.h"

namespace batchexec {

class RecordingSink : public BatchSink {
 public:
  void OnProgress(const v1::Progress& p) override {
    MutexLock lock(&mu_);
    max_running_ = std::max<int64_t>(max_running_, p.running());
  }
  v1::TaskResult* NewResult(uint32_t) override {
    next_.Clear();
    return &next_;
  }
  void OnResult(v1::TaskResult* r, const ResultFit&,
                const v1::Progress& p) override {
    MutexLock lock(&mu_);
    max_running_ = std::max<int64_t>(max_running_, p.running());
    results_.push_back(*r);
  }
  void OnBatchDone(const v1::Summary& s, const absl::Status&) override {
    MutexLock lock(&mu_);
    summary_ = s;
    ++done_calls_;
  }

  // Waits for OnBatchDone; false on timeout.
  bool WaitDone(absl::Duration timeout = absl::Seconds(30)) {
    MutexLock lock(&mu_);
    auto done = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return done_calls_ > 0;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  // Results ordered by index (the sink sees them in completion order).
  std::vector<v1::TaskResult> ByIndex() const {
    MutexLock lock(&mu_);
    std::vector<v1::TaskResult> out(results_.size());
    for (const auto& r : results_) {
      if (r.index() < out.size()) out[r.index()] = r;
    }
    return out;
  }
  std::vector<v1::TaskResult> InCompletionOrder() const {
    MutexLock lock(&mu_);
    return results_;
  }
  v1::Summary summary() const {
    MutexLock lock(&mu_);
    return summary_;
  }
  int done_calls() const {
    MutexLock lock(&mu_);
    return done_calls_;
  }
  int64_t max_running() const {
    MutexLock lock(&mu_);
    return max_running_;
  }

 private:
  mutable Mutex mu_;
  v1::TaskResult next_;  // written under the batch's lock
  std::vector<v1::TaskResult> results_ ABSL_GUARDED_BY(mu_);
  v1::Summary summary_ ABSL_GUARDED_BY(mu_);
  int done_calls_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t max_running_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TEST_UTIL_RECORDING_SINK_H_
