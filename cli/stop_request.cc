#include "cli/stop_request.h"

namespace batchexec {

void StopRequest::Interrupt(int signo) {
  MutexLock lock(&mu_);
  if (signal_ == 0) signal_ = signo;
}

void StopRequest::OutputLost(int error) {
  MutexLock lock(&mu_);
  if (output_error_ == 0) output_error_ = error;
}

void StopRequest::Finish() {
  MutexLock lock(&mu_);
  finished_ = true;
}

bool StopRequest::Wait() {
  MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &StopRequest::Told));
  return signal_ != 0 || output_error_ != 0;
}

bool StopRequest::stopped() const {
  MutexLock lock(&mu_);
  return signal_ != 0 || output_error_ != 0;
}

int StopRequest::signal() const {
  MutexLock lock(&mu_);
  return signal_;
}

int StopRequest::output_error() const {
  MutexLock lock(&mu_);
  return output_error_;
}

}  // namespace batchexec
