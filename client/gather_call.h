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
// as GatherOptions describes: on gRPC's threads (or the SDK's, or inside
// Cancel), never on the thread inside StartGather; within one call they never
// run concurrently, on_result runs exactly once per index, and on_done runs
// once, last.
#ifndef BATCHEXEC_CLIENT_GATHER_CALL_H_
#define BATCHEXEC_CLIENT_GATHER_CALL_H_

#include <memory>

#include "absl/time/time.h"
#include "client/gather_options.h"

namespace batchexec {

namespace gather_internal {
class GatherCallFactory;  // client/internal/gather_call_factory.h
}  // namespace gather_internal

// Made by Client::StartGather (and Gather, GatherAll).
class GatherCall {
 public:
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
  // (and until TakeResult). From on_done of this call it returns at once.
  // From any other SDK callback (on_result, on_progress, on_accepted of any
  // call, on_done of another) it would wait for itself, so it returns at
  // once a result with no results and FAILED_PRECONDITION naming the misuse.
  const GatherResult& Wait();

  // Waits like Wait() and moves the result out; later calls see it empty.
  GatherResult TakeResult();

 private:
  friend class gather_internal::GatherCallFactory;
  class State;
  explicit GatherCall(std::unique_ptr<State> state);

  std::unique_ptr<State> state_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_GATHER_CALL_H_
