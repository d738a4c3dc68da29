#include "client/gather_call.h"

#include <algorithm>
#include <optional>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "client/execute_stream.h"
#include "common/grpc_status.h"
#include "common/mutex.h"
#include "common/proto_status.h"
#include "common/proto_time.h"

namespace batchexec {
inline namespace sdk {
namespace {

v1::FailurePolicy ToProto(FailurePolicy policy) {
  return policy == FailurePolicy::kCollectAll ? v1::COLLECT_ALL : v1::FAIL_FAST;
}

// "task 3 (id \"b\") failed: <message>", keeping the task's code.
absl::Status TaskFailure(size_t index, const std::string& id,
                         const absl::Status& status) {
  std::string who = absl::StrCat("task ", index);
  if (!id.empty()) absl::StrAppend(&who, " (id \"", id, "\")");
  return absl::Status(status.code(),
                      absl::StrCat(who, " failed: ", status.message()));
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
  State(GatherOptions options, size_t total)
      : options_(std::move(options)),
        fail_fast_(options_.failure_policy.value_or(FailurePolicy::kFailFast) ==
                   FailurePolicy::kFailFast),
        total_(total),
        start_time_(absl::Now()),
        results_(total),  // UNKNOWN until received_; allocates no message
        received_(total, false) {}

  void Begin(std::vector<Part> parts);
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
  struct PartState {
    size_t first_index = 0;
    size_t size = 0;
    std::string label;
    bool heard = false;   // the server reported counts
    bool done = false;    // the stream ended
    v1::Progress server;  // its latest counts
  };

  // What a reaction has to tell the user once mu_ is released.
  struct Delivery {
    std::vector<size_t> results;  // indexes that got their result
    Progress progress;
    bool cancel_others = false;  // fail-fast tripped on this event
  };

  // Bracket every reaction: while one runs, the state stays alive. Leave()
  // is a reaction's last touch of the state.
  void Enter();
  void Leave();

  // Stores task `index`'s result unless it already has one.
  void RecordLocked(size_t index, absl::StatusOr<TaskOutput> result,
                    absl::Status failure, Delivery& delivery)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void AddResultLocked(size_t part, v1::TaskResult result, Delivery& delivery)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The status a part's tasks get when its whole call failed.
  absl::Status CallFailureLocked(size_t part, const grpc::Status& status) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Progress ProgressLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs on_result/on_progress for `delivery`. Call with callback_mu_ held
  // and mu_ not held.
  void Deliver(const Delivery& delivery)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(callback_mu_);
  // Builds result_ and runs on_done: the end of the call.
  void Finish() ABSL_EXCLUSIVE_LOCKS_REQUIRED(callback_mu_);
  void CancelStreamsExcept(std::optional<size_t> part);
  bool OnCallbackThreadLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return callback_thread_ == std::this_thread::get_id();
  }
  // results_[index] once recorded: final, and read only by its writer and
  // then by Deliver under callback_mu_, which also orders the final move.
  const absl::StatusOr<TaskOutput>& RecordedResult(size_t index) const
      ABSL_NO_THREAD_SAFETY_ANALYSIS {
    return results_[index];
  }

  const GatherOptions options_;
  const bool fail_fast_;
  const size_t total_;
  const absl::Time start_time_;
  // Set in Begin, before any stream starts; fixed afterwards. Each stream
  // lives as long as this state, so Cancel() can always reach it.
  std::vector<std::unique_ptr<ExecuteStream>> streams_;

  // Serializes the user's callbacks, and with them the reactions that
  // produce them, so callbacks see events in the order they were recorded.
  // Taken before mu_, never while calling into gRPC.
  Mutex callback_mu_;
  Progress last_progress_ ABSL_GUARDED_BY(callback_mu_);

  mutable Mutex mu_;
  std::vector<PartState> parts_ ABSL_GUARDED_BY(mu_);
  // results_[i] is final once received_[i]; only its writer and, after
  // that, the callback holding callback_mu_ read it without mu_.
  std::vector<absl::StatusOr<TaskOutput>> results_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> received_ ABSL_GUARDED_BY(mu_);
  size_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  size_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  size_t open_parts_ ABSL_GUARDED_BY(mu_) = 0;
  // First failure other than CANCELLED, and the first CANCELLED one.
  absl::Status first_failure_ ABSL_GUARDED_BY(mu_);
  absl::Status first_cancelled_ ABSL_GUARDED_BY(mu_);
  bool cancelled_by_caller_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_fast_tripped_ ABSL_GUARDED_BY(mu_) = false;
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

void GatherCall::State::Begin(std::vector<Part> parts) {
  const absl::Time deadline =
      std::min(options_.deadline, start_time_ + options_.timeout);
  const v1::FailurePolicy policy = ToProto(
      fail_fast_ ? FailurePolicy::kFailFast : FailurePolicy::kCollectAll);
  {
    MutexLock lock(&mu_);
    parts_.resize(parts.size());
    for (size_t i = 0; i < parts.size(); ++i) {
      v1::ExecuteRequest& request = parts[i].request;
      request.set_max_concurrency(options_.max_concurrency);
      request.set_failure_policy(policy);
      if (options_.task_timeout != absl::InfiniteDuration()) {
        *request.mutable_task_timeout() =
            ToProtoDuration(options_.task_timeout);
      }
      parts_[i].first_index = parts[i].first_index;
      parts_[i].size = static_cast<size_t>(request.tasks_size());
      parts_[i].label = parts[i].label;
      if (parts[i].stub == nullptr) {
        streams_.push_back(nullptr);
        continue;
      }
      streams_.push_back(std::make_unique<ExecuteStream>(
          std::move(parts[i].stub), std::move(request), deadline,
          options_.wait_for_ready, options_.auth_token, i, this));
      ++open_parts_;
    }
  }
  // Parts without a server fail at once, here, on the caller's thread.
  bool started = false;
  Delivery delivery;
  {
    MutexLock callbacks(&callback_mu_);
    {
      MutexLock lock(&mu_);
      for (size_t i = 0; i < parts_.size(); ++i) {
        if (streams_[i] != nullptr) continue;
        PartState& p = parts_[i];
        p.done = true;
        const absl::Status why = absl::FailedPreconditionError(
            "the client has no channel to send the batch to");
        for (size_t t = p.first_index; t < p.first_index + p.size; ++t) {
          RecordLocked(t, why, why, delivery);
        }
      }
      delivery.progress = ProgressLocked();
      callback_thread_ = std::this_thread::get_id();
      started = open_parts_ > 0;
    }
    Deliver(delivery);
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
  if (delivery.cancel_others) CancelStreamsExcept(std::nullopt);
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
  Delivery delivery;
  {
    MutexLock callbacks(&callback_mu_);
    {
      MutexLock lock(&mu_);
      PartState& p = parts_[part];
      switch (event.event_case()) {
        case v1::ExecuteEvent::kResults: {
          v1::ResultChunk& chunk = *event.mutable_results();
          for (v1::TaskResult& r : *chunk.mutable_results()) {
            AddResultLocked(part, std::move(r), delivery);
          }
          p.server = chunk.progress();
          p.heard = true;
          break;
        }
        case v1::ExecuteEvent::kProgress:
          p.server = event.progress();
          p.heard = true;
          break;
        case v1::ExecuteEvent::kSummary:
          p.server = event.summary().progress();
          p.heard = true;
          break;
        case v1::ExecuteEvent::kAccepted:
        case v1::ExecuteEvent::EVENT_NOT_SET:
          break;
      }
      delivery.progress = ProgressLocked();
      callback_thread_ = std::this_thread::get_id();
    }
    Deliver(delivery);
    MutexLock lock(&mu_);
    callback_thread_ = std::thread::id();
  }
  if (delivery.cancel_others) CancelStreamsExcept(part);
  Leave();
}

void GatherCall::State::OnStreamDone(size_t part, const grpc::Status& status) {
  Enter();
  bool last = false;
  Delivery delivery;
  {
    MutexLock callbacks(&callback_mu_);
    {
      MutexLock lock(&mu_);
      PartState& p = parts_[part];
      p.done = true;
      const absl::Status why =
          status.ok() ? absl::InternalError(
                            "the server ended the call without this task's "
                            "result")
                      : CallFailureLocked(part, status);
      for (size_t i = p.first_index; i < p.first_index + p.size; ++i) {
        if (received_[i]) continue;
        // A failed call's status is the failure, not "task i failed".
        RecordLocked(i, why, status.ok() ? TaskFailure(i, "", why) : why,
                     delivery);
      }
      last = --open_parts_ == 0;
      delivery.progress = ProgressLocked();
      callback_thread_ = std::this_thread::get_id();
    }
    Deliver(delivery);
    if (last) {
      Finish();
    } else {
      MutexLock lock(&mu_);
      callback_thread_ = std::thread::id();
    }
  }
  if (delivery.cancel_others) CancelStreamsExcept(part);
  Leave();
}

void GatherCall::State::AddResultLocked(size_t part, v1::TaskResult result,
                                        Delivery& delivery) {
  const PartState& p = parts_[part];
  // A result naming no task of this part is a server bug; the task it
  // should have named ends INTERNAL when the stream ends without it.
  if (result.index() >= p.size) return;
  const size_t index = p.first_index + result.index();
  absl::Status failure;
  if (result.status().code() != 0) {
    failure = TaskFailure(index, result.id(), FromProtoStatus(result.status()));
  }
  RecordLocked(index, ToTaskOutput(std::move(result), index), failure,
               delivery);
}

void GatherCall::State::RecordLocked(size_t index,
                                     absl::StatusOr<TaskOutput> result,
                                     absl::Status failure, Delivery& delivery) {
  if (received_[index]) return;  // a duplicate: keep the first
  received_[index] = true;
  ++completed_;
  if (!result.ok()) {
    ++failed_;
    if (failure.code() != absl::StatusCode::kCancelled) {
      if (first_failure_.ok()) {
        first_failure_ = failure;
        if (fail_fast_ && !fail_fast_tripped_) {
          fail_fast_tripped_ = true;
          delivery.cancel_others = parts_.size() > 1;
        }
      }
    } else if (first_cancelled_.ok()) {
      first_cancelled_ = failure;
    }
  }
  results_[index] = std::move(result);
  delivery.results.push_back(index);
}

absl::Status GatherCall::State::CallFailureLocked(
    size_t part, const grpc::Status& status) const {
  const PartState& p = parts_[part];
  absl::Status s = FromGrpcStatus(status);
  std::string message(s.message());
  if (s.code() == absl::StatusCode::kCancelled) {
    if (cancelled_by_caller_) {
      message = "cancelled by the caller";
    } else if (fail_fast_tripped_) {
      message = "cancelled: another task of the batch failed";
    }
  } else if (s.code() == absl::StatusCode::kDeadlineExceeded) {
    message = absl::StrCat("call deadline exceeded (", message, ")");
  }
  if (!p.label.empty()) {
    message = p.size == 0 ? absl::StrCat(p.label, ": ", message)
                          : absl::StrCat("tasks ", p.first_index, "..",
                                         p.first_index + p.size - 1, " on ",
                                         p.label, ": ", message);
  }
  return absl::Status(s.code(), message);
}

Progress GatherCall::State::ProgressLocked() const {
  Progress progress;
  progress.total = total_;
  progress.completed = completed_;
  progress.failed = failed_;
  for (const PartState& p : parts_) {
    if (p.done) continue;
    if (p.heard) {
      progress.running += p.server.running();
      progress.queued += p.server.queued();
    } else {
      progress.queued += p.size;  // not admitted yet
    }
  }
  return progress;
}

void GatherCall::State::Deliver(const Delivery& delivery) {
  if (options_.on_result) {
    for (size_t index : delivery.results) {
      options_.on_result(index, RecordedResult(index));
    }
  }
  if (delivery.progress != last_progress_) {
    last_progress_ = delivery.progress;
    if (options_.on_progress) options_.on_progress(delivery.progress);
  }
}

void GatherCall::State::Finish() {
  const GatherResult* result;
  {
    MutexLock lock(&mu_);
    result_.results = std::move(results_);
    results_.clear();
    result_.progress = ProgressLocked();
    result_.elapsed = absl::Now() - start_time_;
    if (failed_ == 0) {
      result_.status = absl::OkStatus();
    } else if (!first_failure_.ok()) {
      result_.status = first_failure_;
    } else if (cancelled_by_caller_) {
      result_.status = absl::CancelledError("cancelled by the caller");
    } else {
      result_.status = first_cancelled_;
    }
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
    cancelled_by_caller_ = true;
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

std::unique_ptr<GatherCall> GatherCall::Start(std::vector<Part> parts,
                                              GatherOptions options) {
  size_t total = 0;
  for (const Part& part : parts) total += part.request.tasks_size();
  auto state = std::make_unique<State>(std::move(options), total);
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

}  // namespace sdk
}  // namespace batchexec
