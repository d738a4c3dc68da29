// Polling helper for integration tests: waits for a condition another
// process or thread makes true (server counters, callbacks), without a fixed
// sleep.
#ifndef BATCHEXEC_TESTS_WAIT_UNTIL_H_
#define BATCHEXEC_TESTS_WAIT_UNTIL_H_

#include <functional>

#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace batchexec {

// Polls `condition` every few milliseconds until it holds (true) or
// `timeout` passes (false).
inline bool WaitUntil(const std::function<bool()>& condition,
                      absl::Duration timeout = absl::Seconds(5)) {
  const absl::Time deadline = absl::Now() + timeout;
  while (!condition()) {
    if (absl::Now() > deadline) return false;
    absl::SleepFor(absl::Milliseconds(5));
  }
  return true;
}

}  // namespace batchexec

#endif  // BATCHEXEC_TESTS_WAIT_UNTIL_H_
