// Failure handling, side by side: three tasks of which the second fails.
// Gather (fail-fast, like asyncio.gather) fails as a whole with the failing
// task's index and cancels the sibling still running; GatherAll (like
// return_exceptions=True) returns success, error, success.
#ifndef BATCHEXEC_EXAMPLES_RESILIENT_H_
#define BATCHEXEC_EXAMPLES_RESILIENT_H_

#include <ostream>
#include <string>

namespace batchexec {

struct ResilientOptions {
  // Server to use; empty starts one in process.
  std::string target;
  // Multiplies the third task's 2 s sleep.
  double latency_scale = 1.0;
};

// Runs both calls, printing to `out`. Returns 0 if they behaved as
// described, 1 if not, 2 if they could not run.
int RunResilient(const ResilientOptions& options, std::ostream& out);

}  // namespace batchexec

#endif  // BATCHEXEC_EXAMPLES_RESILIENT_H_
