#include "client/gather_call.h"

#include <algorithm>
#include <optional>
#include <string>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "client/internal/execute_stream.h"
#include "client/internal/gather_call_factory.h"
#include "client/internal/result_merger.h"
#include "common/grpc_status.h"
#include "common/mutex.h"
#include "common/proto_time.h"

namespace batchexec {
namespace {

v1::FailurePolicy ToProto(FailurePolicy policy) {
  return policy == FailurePolicy::kCollectAll ? v1::COLLECT_ALL : v1::FAIL_FAST;
}

}  // namespace

// Owned by the handle; the streams' reactions reach it by pointer. gRPC (1.51)
// must not drop a channel's last reference on its callback threads (the
// channel's destructor would join the thread it runs on), and the streams'
// ClientContexts hold channel references; so the state, streams included,
// is destroyed on the handle's thread once the last reaction has left it
// (released_), not by whichever reaction ends last. Only a handle destroyed
// inside one of its own callbacks leaves the state to delete itself, off
// gRPC's threads.
class GatherCall::State final : public ExecuteStream::Listener {
 public:
  State(GatherOptions options, std::string auth_token,
        std::vector<ResultMerger::PartLayout> layout)
      : options_(std::move(options)),
        auth_token_(std::move(auth_token)),
        policy_(options_.failure_policy.value_or(FailurePolicy::kFailFast)),
        start_time_(absl::Now()),
        merger_(std::move(layout), policy_) {}

  void Begin(std::vector<gather_internal::Part> parts);
  void Cancel();
  bool done() const;
  bool WaitFor(absl::Duration timeout);
  const GatherResult& Wait();
  GatherResult TakeResult();
  // Before the handle goes: true if called from one of this call's
  // callbacks, in which case the state now deletes itself after its last
  // reaction; otherwise waits until no reaction uses the state any more.
  bool DetachIfInCallback();

  // ExecuteStream::Listener
  void OnStreamEvent(size_t part, v1::ExecuteEvent& event) override;
  void OnStreamDone(size_t part, const grpc::Status& status) override;

 private:
  // Bracket every reaction: while one runs, the state stays alive. Leave()
  // is a reaction's last touch of the state.
  void Enter();
  void Leave();

  // Runs on_result/on_progress for what the merger recorded. Call with
  // callback_mu_ held and mu_ not held.
  void Deliver(const ResultMerger::Update& update)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(callback_mu_);
  // Builds result_ and runs on_done: the end of the call.
  void Finish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(callback_mu_);
  void CancelStreamsExcept(std::optional<size_t> part);
  bool OnCallbackThreadLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return callback_thread_ == std::this_thread::get_id();
  }

  const GatherOptions options_;
  const std::string auth_token_;
  const FailurePolicy policy_;
  const absl::Time start_time_;
  // Set in Begin, before any stream starts; fixed afterwards. Each stream
  // lives as long as this state, so Cancel() can always reach it.
  std::vector<std::unique_ptr<ExecuteStream>> streams_;

  // Serializes the user's callbacks, and with them the reactions that
  // produce them, so callbacks see events in the order they were recorded.
  // Taken before mu_, never while calling into gRPC.
  Mutex callback_mu_ ABSL_ACQUIRED_BEFORE(mu_);
  Progress last_progress_ ABSL_GUARDED_BY(callback_mu_);

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
  // Every stream ended and no reaction runs: the handle may delete us.
  bool released_ ABSL_GUARDED_BY(mu_) = false;
};

void GatherCall::State::Begin(std::vector<gather_internal::Part> parts) {
  const absl::Time deadline =
      std::min(options_.deadline, start_time_ + options_.timeout);
  const v1::FailurePolicy policy = ToProto(policy_);
  {
    MutexLock lock(&mu_);
    for (size_t i = 0; i < parts.size(); ++i) {
      v1::ExecuteRequest& request = parts[i].request;
      request.set_max_concurrency(options_.max_concurrency);
      request.set_failure_policy(policy);
      if (options_.task_timeout != absl::InfiniteDuration()) {
        *request.mutable_task_timeout() =
            ToProtoDuration(options_.task_timeout);
      }
      if (options_.retry.has_value()) {
        *request.mutable_retry_policy() = options_.retry->ToProto();
      }
      request.set_max_starts_per_second(options_.max_starts_per_second);
      if (parts[i].stub == nullptr) {
        streams_.push_back(nullptr);
        continue;
      }
      streams_.push_back(std::make_unique<ExecuteStream>(
          std::move(parts[i].stub), std::move(request), deadline,
          options_.wait_for_ready, auth_token_, i, this));
      ++open_parts_;
    }
  }
  // Parts without a server fail at once, here, on the caller's thread.
  bool started = false;
  ResultMerger::Update update;
  {
    MutexLock callbacks(&callback_mu_);
    for (size_t i = 0; i < streams_.size(); ++i) {
      if (streams_[i] != nullptr) continue;
      merger_.FailPart(i,
                       absl::FailedPreconditionError(
                           "the client has no channel to send the batch to"),
                       update);
    }
    update.progress = merger_.progress();
    {
      MutexLock lock(&mu_);
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
  // Fail-fast already tripped: the streams start cancelled.
  if (update.cancel_other_parts) CancelStreamsExcept(std::nullopt);
  // Outside the locks: a stream may fail and report inline.
  for (auto& stream : streams_) {
    if (stream != nullptr) stream->Start();
  }
}

void GatherCall::State::Enter() {
  MutexLock lock(&mu_);
  ++active_reactions_;
}

void GatherCall::State::Leave() {
  bool released;
  bool orphaned;
  {
    MutexLock lock(&mu_);
    released = --active_reactions_ == 0 && open_parts_ == 0;
    orphaned = orphaned_;
    // The handle may delete us once this lock is released.
    if (released && !orphaned) released_ = true;
  }
  if (!released || !orphaned) return;
  // No handle will delete us, and this is a gRPC callback thread, where the
  // streams' channel references must not be dropped (see above): a thread
  // of its own does it. Only a handle destroyed inside its own callback
  // costs this thread.
  std::thread([state = std::unique_ptr<State>(this)]() mutable {
    state.reset();
  }).detach();
}

void GatherCall::State::OnStreamEvent(size_t part, v1::ExecuteEvent& event) {
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
  if (update.cancel_other_parts) CancelStreamsExcept(part);
  Leave();
}

void GatherCall::State::OnStreamDone(size_t part, const grpc::Status& status) {
  Enter();
  bool last = false;
  ResultMerger::Update update;
  {
    MutexLock callbacks(&callback_mu_);
    merger_.EndPart(part, FromGrpcStatus(status), update);
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
  if (update.cancel_other_parts) CancelStreamsExcept(part);
  Leave();
}

void GatherCall::State::Deliver(const ResultMerger::Update& update) {
  if (options_.on_result) {
    for (size_t index : update.recorded) {
      options_.on_result(index, merger_.recorded_result(index));
    }
  }
  if (update.progress != last_progress_) {
    last_progress_ = update.progress;
    if (options_.on_progress) options_.on_progress(update.progress);
  }
}

void GatherCall::State::Finish() {
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

void GatherCall::State::Cancel() {
  {
    MutexLock lock(&mu_);
    if (finished_) return;
    merger_.CancelledByCaller();
  }
  CancelStreamsExcept(std::nullopt);
}

void GatherCall::State::CancelStreamsExcept(std::optional<size_t> part) {
  for (size_t i = 0; i < streams_.size(); ++i) {
    if (part != i && streams_[i] != nullptr) streams_[i]->Cancel();
  }
}

bool GatherCall::State::DetachIfInCallback() {
  {
    MutexLock lock(&mu_);
    if (OnCallbackThreadLocked()) {
      // This reaction is still running, so Leave() has yet to see it.
      orphaned_ = true;
      return true;
    }
  }
  MutexLock lock(&mu_);
  mu_.Await(absl::Condition(&released_));
  return false;
}

bool GatherCall::State::done() const {
  MutexLock lock(&mu_);
  return complete_;
}

bool GatherCall::State::WaitFor(absl::Duration timeout) {
  MutexLock lock(&mu_);
  return mu_.AwaitWithTimeout(absl::Condition(&complete_), timeout);
}

const GatherResult& GatherCall::State::Wait() {
  MutexLock lock(&mu_);
  if (!(finished_ && OnCallbackThreadLocked())) {  // on_done: already built
    mu_.Await(absl::Condition(&complete_));
  }
  return result_;
}

GatherResult GatherCall::State::TakeResult() {
  MutexLock lock(&mu_);
  if (!(finished_ && OnCallbackThreadLocked())) {
    mu_.Await(absl::Condition(&complete_));
  }
  return std::move(result_);
}

std::unique_ptr<GatherCall> gather_internal::GatherCallFactory::Start(
    std::vector<Part> parts, GatherOptions options, std::string auth_token) {
  std::vector<ResultMerger::PartLayout> layout;
  layout.reserve(parts.size());
  for (const Part& part : parts) {
    layout.push_back({part.first_index,
                      static_cast<size_t>(part.request.tasks_size()),
                      part.label});
  }
  auto state = std::make_unique<GatherCall::State>(
      std::move(options), std::move(auth_token), std::move(layout));
  state->Begin(std::move(parts));
  return std::unique_ptr<GatherCall>(new GatherCall(std::move(state)));
}

GatherCall::GatherCall(std::unique_ptr<State> state)
    : state_(std::move(state)) {}

GatherCall::~GatherCall() {
  state_->Cancel();
  if (state_->DetachIfInCallback()) {
    state_.release();  // it deletes itself after its last reaction
  }
}

void GatherCall::Cancel() { state_->Cancel(); }
bool GatherCall::done() const { return state_->done(); }
bool GatherCall::WaitFor(absl::Duration timeout) {
  return state_->WaitFor(timeout);
}
const GatherResult& GatherCall::Wait() { return state_->Wait(); }
GatherResult GatherCall::TakeResult() { return state_->TakeResult(); }

}  // namespace batchexec
