// ExecuteEvents as a server sends them, for the tests of what consumes them
// (result_merger_test, gather_coordinator_test).
#ifndef BATCHEXEC_CLIENT_INTERNAL_TEST_EVENTS_H_
#define BATCHEXEC_CLIENT_INTERNAL_TEST_EVENTS_H_

#include <cstdint>
#include <utility>
#include <vector>

#include "batchexec/v1/batch.pb.h"

namespace batchexec::testing {

// A result chunk with the server's counts.
inline v1::ExecuteEvent Chunk(std::vector<v1::TaskResult> results,
                              uint32_t running, uint32_t queued) {
  v1::ExecuteEvent event;
  v1::ResultChunk& chunk = *event.mutable_results();
  for (v1::TaskResult& r : results) *chunk.add_results() = std::move(r);
  chunk.mutable_progress()->set_running(running);
  chunk.mutable_progress()->set_queued(queued);
  return event;
}

// A progress-only event.
inline v1::ExecuteEvent ServerProgress(uint32_t running, uint32_t queued) {
  v1::ExecuteEvent event;
  event.mutable_progress()->set_running(running);
  event.mutable_progress()->set_queued(queued);
  return event;
}

}  // namespace batchexec::testing

#endif  // BATCHEXEC_CLIENT_INTERNAL_TEST_EVENTS_H_
