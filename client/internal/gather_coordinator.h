// The coordination of one GatherCall, without gRPC: it starts and cancels
// the call's parts (one Execute stream per server) through Parts, merges
// what they report (ResultMerger), runs the user's callbacks one at a time,
// lets Wait() block until on_done has returned, and decides who destroys
// the call when its handle goes. GatherCall's state adapts its streams to
// this class, so that unit tests and TSan reach all of it.
//
// Threading: reactions (OnPartEvent, OnPartDone) may run on any thread, those
// of different parts concurrently; the other methods may be called from any
// thread, also from inside a callback (see each method). Callbacks run on
// the thread of the reaction or Cancel that produced them, never on the
// thread inside Begin: what Begin or a reaction inline in it produced waits
// for DeliverDeferred, which the caller runs on another thread.
#ifndef BATCHEXEC_CLIENT_INTERNAL_GATHER_COORDINATOR_H_
#define BATCHEXEC_CLIENT_INTERNAL_GATHER_COORDINATOR_H_

#include <atomic>
#include <cstddef>
#include <optional>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "client/gather_options.h"
#include "client/internal/result_merger.h"
#include "client/progress.h"
#include "common/mutex.h"

namespace batchexec {

class GatherCoordinator {
 public:
  // The call's parts, as the coordinator reaches them. Each started part
  // ends with exactly one OnPartDone.
  class Parts {
   public:
    virtual ~Parts() = default;
    // Starts part `part`. Once, from Begin. Its reactions, even OnPartDone,
    // may run before it returns.
    virtual void StartPart(size_t part) = 0;
    // Asks part `part` to end early; it still ends through OnPartDone. May
    // come before StartPart, after the part ended, and more than once.
    virtual void CancelPart(size_t part) = 0;
  };

  // What the caller of a reaction does once it returns.
  enum class AfterReaction {
    kKeep,  // the handle still owns the coordinator
    // The handle went from inside a callback and this was the last
    // reaction: the caller now owns the coordinator and must destroy it.
    kDestroy,
  };

  // `layout` as ResultMerger takes it. An unset options.failure_policy
  // means kFailFast. `start_time` is when the call began (for
  // GatherResult::elapsed). `parts` must outlive the coordinator.
  GatherCoordinator(std::vector<ResultMerger::PartLayout> layout,
                    GatherOptions options, absl::Time start_time, Parts& parts);

  GatherCoordinator(const GatherCoordinator&) = delete;
  GatherCoordinator& operator=(const GatherCoordinator&) = delete;

  const GatherOptions& options() const { return options_; }
  FailurePolicy policy() const { return policy_; }
  absl::Time start_time() const { return start_time_; }

  // Starts the call, once, before anything else: the parts `sendable` marks
  // false (they have no server) fail at once with FAILED_PRECONDITION; then
  // the others start (cancelled first if that tripped fail-fast). Runs no
  // callback: returns true if callbacks are waiting (a part ended already,
  // or none started), and then the caller must run DeliverDeferred once, on
  // another thread.
  [[nodiscard]] bool Begin(const std::vector<bool>& sendable);

  // Runs the callbacks Begin left waiting; a reaction's last step.
  [[nodiscard]] AfterReaction DeliverDeferred();

  // Reactions of a started part: an event (which may be moved from), and
  // its end, its last reaction. Those of one part never overlap.
  [[nodiscard]] AfterReaction OnPartEvent(size_t part, v1::ExecuteEvent& event);
  [[nodiscard]] AfterReaction OnPartDone(size_t part,
                                         const absl::Status& status);

  // Cancels every part unless the call has finished. Returns at once;
  // idempotent. Callbacks may run on this thread before it returns.
  void Cancel();

  // As GatherCall's: on_done has returned (or there was none).
  bool done() const;
  bool WaitFor(absl::Duration timeout);
  // Wait() and TakeResult() return at once from on_done; from any other
  // SDK callback (of this call or another) they would wait for themselves
  // or hold a thread callbacks need, and return at once a result whose
  // status is FAILED_PRECONDITION naming the misuse, and no results.
  const GatherResult& Wait();
  GatherResult TakeResult();

  // The handle is going. From one of the call's callbacks: returns true, and
  // the last reaction reports kDestroy. Otherwise waits until every part
  // has ended and no reaction uses the coordinator any more, and returns
  // false: the handle may destroy it.
  bool DetachIfInCallback();

 private:
  // Bracket every reaction: while one runs, the coordinator stays alive.
  // Leave() is a reaction's last touch of it.
  void Enter();
  AfterReaction Leave();

  // What a reaction recorded, waiting for its callbacks.
  struct Pending {
    ResultMerger::Update update;
    bool accepted = false;  // the last part's Accepted: run on_accepted
  };

  // Runs the callbacks of pending_ in order, then on_done if the call
  // finished, unless this is Begin's thread (they then wait for another).
  void DeliverPendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(callback_mu_);
  // Runs on_result/on_progress for what the merger recorded, on this
  // thread, marked as the callback thread.
  void Deliver(const ResultMerger::Update& update)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(callback_mu_);
  // Builds result_ and runs on_done: the end of the call.
  void Finish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(callback_mu_);
  // Wait() from a callback (see Wait).
  bool WaitingForItself() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void CancelPartsExcept(std::optional<size_t> part);
  bool OnCallbackThreadLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return callback_thread_ == std::this_thread::get_id();
  }

  const GatherOptions options_;
  const FailurePolicy policy_;
  const absl::Time start_time_;
  Parts& parts_;
  // Set in Begin, fixed afterwards.
  std::vector<bool> started_;

  // Serializes the user's callbacks, and with them the reactions that
  // produce them, so callbacks see events in the order they were recorded.
  // Taken before mu_. Begin and the reactions release it before calling
  // into Parts.
  Mutex callback_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  Progress last_progress_ ABSL_GUARDED_BY(callback_mu_);
  // Recorded, callbacks not yet run: in order, by the next thread allowed.
  std::vector<Pending> pending_ ABSL_GUARDED_BY(callback_mu_);
  bool finish_pending_ ABSL_GUARDED_BY(callback_mu_) = false;
  // The thread inside Begin, while it is.
  std::atomic<std::thread::id> begin_thread_;
  size_t started_parts_ ABSL_GUARDED_BY(callback_mu_) = 0;
  size_t accepted_parts_ ABSL_GUARDED_BY(callback_mu_) = 0;
  // What Wait() returns when called from a callback; fixed.
  GatherResult misuse_;

  // Results, progress and the batch's status. Thread-safe on its own; the
  // reactions that feed it hold callback_mu_, so callbacks see what it
  // recorded in order. Its lock is a leaf, taken inside callback_mu_ or mu_.
  ResultMerger merger_;

  mutable Mutex mu_;
  size_t open_parts_ ABSL_GUARDED_BY(mu_) = 0;
  // The thread running a user callback of this call, if any.
  std::thread::id callback_thread_ ABSL_GUARDED_BY(mu_);
  bool finished_ ABSL_GUARDED_BY(mu_) = false;  // result_ is built
  bool complete_ ABSL_GUARDED_BY(mu_) = false;  // on_done returned
  GatherResult result_ ABSL_GUARDED_BY(mu_);
  int active_reactions_ ABSL_GUARDED_BY(mu_) = 0;
  bool orphaned_ ABSL_GUARDED_BY(mu_) = false;  // the handle is gone
  // Every part ended and no reaction runs: the handle may destroy us.
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_INTERNAL_GATHER_COORDINATOR_H_
