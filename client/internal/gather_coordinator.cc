#include "client/internal/gather_coordinator.h"

#include <utility>
#include <vector>

namespace batchexec {

GatherCoordinator::GatherCoordinator(
    std::vector<ResultMerger::PartLayout> layout, GatherOptions options,
    absl::Time start_time, Parts& parts)
    : options_(std::move(options)),
      policy_(options_.failure_policy.value_or(FailurePolicy::kFailFast)),
      start_time_(start_time),
      parts_(parts),
      merger_(std::move(layout), policy_) {
  misuse_.status = absl::FailedPreconditionError(
      "GatherCall::Wait or TakeResult (or a synchronous Gather) was called "
      "from inside an SDK callback (on_result, on_progress, on_accepted, or "
      "another call's on_done): it would wait for callbacks that cannot run "
      "until this one returns. Wait on another thread; only on_done may "
      "wait for its own call");
}

namespace {

// The call whose user callback this thread runs, if any: Wait() from there
// would wait for itself (or block a gRPC thread another call needs).
thread_local const GatherCoordinator* t_in_callback_of = nullptr;

// Marks this thread as running a callback of `call` while it lives.
class InCallback {
 public:
  explicit InCallback(const GatherCoordinator* call)
      : previous_(t_in_callback_of) {
    t_in_callback_of = call;
  }
  ~InCallback() { t_in_callback_of = previous_; }

 private:
  const GatherCoordinator* const previous_;
};

}  // namespace

bool GatherCoordinator::Begin(const std::vector<bool>& sendable) {
  started_ = sendable;
  bool any_started = false;
  bool cancel_all = false;
  {
    MutexLock callbacks(&callback_mu_);
    begin_thread_.store(std::this_thread::get_id());
    ResultMerger::Update update;
    for (size_t i = 0; i < started_.size(); ++i) {
      if (started_[i]) continue;
      merger_.FailPart(i,
                       absl::FailedPreconditionError(
                           "the client has no channel to send the batch to"),
                       update);
    }
    {
      MutexLock lock(&mu_);
      for (bool s : started_) open_parts_ += s ? 1 : 0;
      any_started = open_parts_ > 0;
      started_parts_ = open_parts_;
    }
    cancel_all = update.cancel_other_parts;
    if (!update.recorded.empty()) pending_.push_back({std::move(update)});
    if (!any_started) finish_pending_ = true;
  }
  // Fail-fast already tripped: the parts start cancelled.
  if (cancel_all) CancelPartsExcept(std::nullopt);
  // Outside the locks: a part may end and report inline, its callbacks
  // queued (DeliverPendingLocked leaves them to another thread).
  for (size_t i = 0; i < started_.size(); ++i) {
    if (started_[i]) parts_.StartPart(i);
  }
  begin_thread_.store(std::thread::id());
  // Another thread holding callback_mu_ is a reaction, which delivers
  // everything queued (what reactions here left too) before it lets go:
  // this thread must not wait for it, since the user callback it may be
  // running can itself wait for StartGather to return.
  if (!callback_mu_.TryLock()) return false;
  const bool deferred = !pending_.empty() || finish_pending_;
  callback_mu_.Unlock();
  // Alive until DeliverDeferred has run, like a reaction.
  if (deferred) Enter();
  return deferred;
}

GatherCoordinator::AfterReaction GatherCoordinator::DeliverDeferred() {
  {
    MutexLock callbacks(&callback_mu_);
    DeliverPendingLocked();
  }
  return Leave();
}

void GatherCoordinator::Enter() {
  MutexLock lock(&mu_);
  ++active_reactions_;
}

GatherCoordinator::AfterReaction GatherCoordinator::Leave() {
  MutexLock lock(&mu_);
  const bool released = --active_reactions_ == 0 && open_parts_ == 0;
  if (released && orphaned_) return AfterReaction::kDestroy;
  // The handle may destroy us once this lock is released.
  if (released) released_ = true;
  return AfterReaction::kKeep;
}

GatherCoordinator::AfterReaction GatherCoordinator::OnPartEvent(
    size_t part, v1::ExecuteEvent& event) {
  Enter();
  bool cancel_others = false;
  {
    MutexLock callbacks(&callback_mu_);
    Pending pending;
    if (event.event_case() == v1::ExecuteEvent::kAccepted) {
      pending.accepted = ++accepted_parts_ == started_parts_;
    }
    merger_.AddEvent(part, event, pending.update);
    cancel_others = pending.update.cancel_other_parts;
    pending_.push_back(std::move(pending));
    DeliverPendingLocked();
  }
  if (cancel_others) CancelPartsExcept(part);
  return Leave();
}

GatherCoordinator::AfterReaction GatherCoordinator::OnPartDone(
    size_t part, const absl::Status& status) {
  Enter();
  bool cancel_others = false;
  {
    MutexLock callbacks(&callback_mu_);
    Pending pending;
    merger_.EndPart(part, status, pending.update);
    cancel_others = pending.update.cancel_other_parts;
    pending_.push_back(std::move(pending));
    {
      MutexLock lock(&mu_);
      if (--open_parts_ == 0) finish_pending_ = true;
    }
    DeliverPendingLocked();
  }
  if (cancel_others) CancelPartsExcept(part);
  return Leave();
}

void GatherCoordinator::DeliverPendingLocked() {
  // Inside StartGather: the caller's thread runs no callback.
  if (begin_thread_.load() == std::this_thread::get_id()) return;
  if (pending_.empty() && !finish_pending_) return;
  std::vector<Pending> pending;
  pending.swap(pending_);
  {
    MutexLock lock(&mu_);
    callback_thread_ = std::this_thread::get_id();
  }
  for (const Pending& p : pending) {
    if (p.accepted && options_.on_accepted) {
      InCallback marked(this);
      options_.on_accepted();
    }
    Deliver(p.update);
  }
  if (finish_pending_) {
    finish_pending_ = false;
    Finish();
  } else {
    MutexLock lock(&mu_);
    callback_thread_ = std::thread::id();
  }
}

void GatherCoordinator::Deliver(const ResultMerger::Update& update) {
  InCallback marked(this);
  if (options_.on_result) {
    for (size_t index : update.recorded) {
      options_.on_result(index, merger_.recorded_result(index));
      if (!options_.keep_outputs) merger_.ForgetOutput(index);
    }
  }
  if (update.progress != last_progress_) {
    last_progress_ = update.progress;
    if (options_.on_progress) options_.on_progress(update.progress);
  }
}

void GatherCoordinator::Finish() {
  const GatherResult* result;
  {
    MutexLock lock(&mu_);
    result_ = merger_.TakeResult();
    result_.elapsed = absl::Now() - start_time_;
    finished_ = true;
    callback_thread_ = std::this_thread::get_id();
    result = &result_;
  }
  // result_ changes no more until complete_ lets TakeResult move it.
  if (options_.on_done) {
    InCallback marked(this);
    options_.on_done(*result);
  }
  MutexLock lock(&mu_);
  callback_thread_ = std::thread::id();
  complete_ = true;
}

void GatherCoordinator::Cancel() {
  {
    MutexLock lock(&mu_);
    if (finished_) return;
    merger_.CancelledByCaller();
  }
  CancelPartsExcept(std::nullopt);
}

void GatherCoordinator::CancelPartsExcept(std::optional<size_t> part) {
  for (size_t i = 0; i < started_.size(); ++i) {
    if (part != i && started_[i]) parts_.CancelPart(i);
  }
}

bool GatherCoordinator::DetachIfInCallback() {
  MutexLock lock(&mu_);
  if (OnCallbackThreadLocked()) {
    // This reaction is still running, so Leave() has yet to see it.
    orphaned_ = true;
    return true;
  }
  mu_.Await(absl::Condition(&released_));
  return false;
}

bool GatherCoordinator::done() const {
  MutexLock lock(&mu_);
  return complete_;
}

bool GatherCoordinator::WaitFor(absl::Duration timeout) {
  MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&complete_), timeout);
}

bool GatherCoordinator::WaitingForItself() const {
  mu_.AssertHeld();
  if (t_in_callback_of == nullptr) return false;
  // on_done of this call: the result is built.
  return !(t_in_callback_of == this && finished_);
}

const GatherResult& GatherCoordinator::Wait() {
  MutexLock lock(&mu_);
  if (WaitingForItself()) return misuse_;
  if (!(finished_ && OnCallbackThreadLocked())) {  // on_done: already built
    mu_.Await(absl::Condition(&complete_));
  }
  return result_;
}

GatherResult GatherCoordinator::TakeResult() {
  MutexLock lock(&mu_);
  if (WaitingForItself()) return misuse_;
  if (!(finished_ && OnCallbackThreadLocked())) {
    mu_.Await(absl::Condition(&complete_));
  }
  return std::move(result_);
}

}  // namespace batchexec
