// Why the CLI must stop a batch before its end, told from outside the run:
// a signal (SIGINT, SIGTERM; main's signal thread) or stdout's reader gone
// (main's stdout watcher). Telling never blocks and runs nothing else; the
// run waits for it on a thread of its own and cancels the batch from there.
//
// Thread-safe.
#ifndef BATCHEXEC_CLI_STOP_REQUEST_H_
#define BATCHEXEC_CLI_STOP_REQUEST_H_

#include "absl/base/thread_annotations.h"
#include "common/mutex.h"

namespace batchexec {

class StopRequest {
 public:
  // A signal asks to stop: cancel the batch, print what is left and the
  // summary, exit 128 + signo. The first one counts.
  void Interrupt(int signo);
  // stdout can take nothing more (`error` an errno, e.g. EPIPE).
  void OutputLost(int error);
  // The run needs no stop any more: Wait() returns false.
  void Finish();

  // Waits for a stop (true) or Finish() (false), whichever comes first.
  bool Wait();

  bool stopped() const;
  int signal() const;        // 0 if none
  int output_error() const;  // 0 if none

 private:
  bool Told() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return signal_ != 0 || output_error_ != 0 || finished_;
  }

  mutable Mutex mu_;
  int signal_ ABSL_GUARDED_BY(mu_) = 0;
  int output_error_ ABSL_GUARDED_BY(mu_) = 0;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_STOP_REQUEST_H_
