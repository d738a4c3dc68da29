// One batch in flight: the SDK's asynchronous form. It runs the batch as one
// or more Execute streams (one per server when the batch is split), merges
// their events into request order, and reports as-completed results and
// progress through the callbacks of GatherOptions. Client::Gather and
// GatherAll are this call plus Wait, so every form shares this one path.
//
//   auto call = client.StartGather(tasks, options);  // returns at once
//   ...
//   call->Cancel();                                  // optional
//   const batchexec::GatherResult& r = call->Wait();
//
// Thread safety: every method may be called from any thread. Callbacks run
// as GatherOptions describes; within one call they never run concurrently,
// on_result runs exactly once per index, and on_done runs once, last.
#ifndef BATCHEXEC_CLIENT_GATHER_CALL_H_
#define BATCHEXEC_CLIENT_GATHER_CALL_H_

#include <cstddef>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "batchexec/v1/batch.pb.h"
#include "client/gather_options.h"

namespace batchexec {
inline namespace sdk {

class GatherCall {
 public:
  // One contiguous slice of the batch and the server that runs it.
  struct Part {
    std::shared_ptr<v1::BatchExecutor::Stub> stub;
    // Names the server in messages about this part; empty when the batch is
    // not split.
    std::string label;
    // Position of the part's first task in the whole batch.
    size_t first_index = 0;
    // The part's tasks. The call sets the other fields from the options.
    v1::ExecuteRequest request;
  };

  // Starts every part and returns without waiting for any of them. Parts
  // must be in order and cover the batch without gaps. An unset
  // failure_policy means kFailFast. A part without a stub fails its tasks
  // with FAILED_PRECONDITION at once, on this thread, callbacks included.
  // Most callers use Client::StartGather, which makes the parts.
  static std::unique_ptr<GatherCall> Start(std::vector<Part> parts,
                                           GatherOptions options);

  // Cancels the call if it is still running and waits until on_done has
  // returned and gRPC is done with the call, so that no callback runs
  // afterwards. From inside one of the call's callbacks it only cancels and
  // does not wait; the remaining callbacks still run, and the call's
  // resources (it holds references to its channels) are released when they
  // are done.
  ~GatherCall();

  GatherCall(const GatherCall&) = delete;
  GatherCall& operator=(const GatherCall&) = delete;

  // Cancels every part: the servers cancel what still runs and tasks without
  // a result end CANCELLED. Returns at once; idempotent; harmless after the
  // end. Callbacks may run on this thread before it returns.
  void Cancel();

  // True once on_done has returned (or there was none) and Wait() would not
  // block.
  bool done() const;

  // Waits up to `timeout` for done(); returns done().
  bool WaitFor(absl::Duration timeout);

  // Waits for the end and returns the result, valid as long as this object
  // (and until TakeResult). Must not be called from on_progress or on_result
  // of this call (it would wait for itself); from on_done it returns at once.
  const GatherResult& Wait();

  // Waits like Wait() and moves the result out; later calls see it empty.
  GatherResult TakeResult();

 private:
  class State;
  explicit GatherCall(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace sdk
}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_GATHER_CALL_H_
