#include "client/internal/gather_coordinator.h"

#include <utility>

namespace batchexec {

GatherCoordinator::GatherCoordinator(
    std::vector<ResultMerger::PartLayout> layout, GatherOptions options,
    absl::Time start_time, Parts& parts)
    : options_(std::move(options)),
      policy_(options_.failure_policy.value_or(FailurePolicy::kFailFast)),
      start_time_(start_time),
      parts_(parts),
      merger_(std::move(layout), policy_) {}

void GatherCoordinator::Begin(const std::vector<bool>& sendable) {
  started_ = sendable;
  bool started = false;
  ResultMerger::Update update;
  {
    MutexLock callbacks(&callback_mu_);
    for (size_t i = 0; i < started_.size(); ++i) {
      if (started_[i]) continue;
      merger_.FailPart(i,
                       absl::FailedPreconditionError(
                           "the client has no channel to send the batch to"),
                       update);
    }
    update.progress = merger_.progress();
    {
      MutexLock lock(&mu_);
      for (bool s : started_) open_parts_ += s ? 1 : 0;
      callback_thread_ = std::this_thread::get_id();
      started = open_parts_ > 0;
    }
    Deliver(update);
    if (!started) {
      Finish();
    } else {
      MutexLock lock(&mu_);
      callback_thread_ = std::thread::id();
    }
  }
  if (!started) {
    MutexLock lock(&mu_);
    released_ = true;
    return;
  }
  // Fail-fast already tripped: the parts start cancelled.
  if (update.cancel_other_parts) CancelPartsExcept(std::nullopt);
  // Outside the locks: a part may end and report inline.
  for (size_t i = 0; i < started_.size(); ++i) {
    if (started_[i]) parts_.StartPart(i);
  }
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
  ResultMerger::Update update;
  {
    MutexLock callbacks(&callback_mu_);
    merger_.AddEvent(part, event, update);
    {
      MutexLock lock(&mu_);
      callback_thread_ = std::this_thread::get_id();
    }
    Deliver(update);
    MutexLock lock(&mu_);
    callback_thread_ = std::thread::id();
  }
  if (update.cancel_other_parts) CancelPartsExcept(part);
  return Leave();
}

GatherCoordinator::AfterReaction GatherCoordinator::OnPartDone(
    size_t part, const absl::Status& status) {
  Enter();
  bool last = false;
  ResultMerger::Update update;
  {
    MutexLock callbacks(&callback_mu_);
    merger_.EndPart(part, status, update);
    {
      MutexLock lock(&mu_);
      last = --open_parts_ == 0;
      callback_thread_ = std::this_thread::get_id();
    }
    Deliver(update);
    if (last) {
      Finish();
    } else {
      MutexLock lock(&mu_);
      callback_thread_ = std::thread::id();
    }
  }
  if (update.cancel_other_parts) CancelPartsExcept(part);
  return Leave();
}

void GatherCoordinator::Deliver(const ResultMerger::Update& update) {
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
  if (options_.on_done) options_.on_done(*result);
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

const GatherResult& GatherCoordinator::Wait() {
  MutexLock lock(&mu_);
  if (!(finished_ && OnCallbackThreadLocked())) {  // on_done: already built
    mu_.Await(absl::Condition(&complete_));
  }
  return result_;
}

GatherResult GatherCoordinator::TakeResult() {
  MutexLock lock(&mu_);
  if (!(finished_ && OnCallbackThreadLocked())) {
    mu_.Await(absl::Condition(&complete_));
  }
  return std::move(result_);
}

}  // namespace batchexec
