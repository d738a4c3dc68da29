#include "client/gather_call.h"

#include <algorithm>
#include <memory>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "client/internal/execute_stream.h"
#include "client/internal/gather_call_factory.h"
#include "client/internal/gather_coordinator.h"
#include "client/internal/result_merger.h"
#include "common/grpc_status.h"
#include "common/proto_time.h"

namespace batchexec {
namespace {

v1::FailurePolicy ToProto(FailurePolicy policy) {
  return policy == FailurePolicy::kCollectAll ? v1::COLLECT_ALL : v1::FAIL_FAST;
}

std::vector<ResultMerger::PartLayout> LayoutOf(
    const std::vector<gather_internal::Part>& parts) {
  std::vector<ResultMerger::PartLayout> layout;
  layout.reserve(parts.size());
  for (const gather_internal::Part& part : parts) {
    layout.push_back({part.first_index,
                      static_cast<size_t>(part.request.tasks_size()),
                      part.label});
  }
  return layout;
}

}  // namespace

// The gRPC side of one call: its streams, whose reactions reach this state
// by pointer and hand what they report to the coordinator
// (internal/gather_coordinator.h), which holds all the rest. Owned by the
// handle. gRPC (1.51) must not drop a channel's last reference on its
// callback threads (the channel's destructor would join the thread it runs
// on), and the streams' ClientContexts hold channel references; so the
// state, streams included, is destroyed on the handle's thread once the
// coordinator has released it, not by whichever reaction ends last. Only a
// handle destroyed inside one of its own callbacks leaves the state to
// delete itself, off gRPC's threads.
class GatherCall::State final : public ExecuteStream::Listener,
                                public GatherCoordinator::Parts {
 public:
  // A part without a stub gets no stream: Begin fails it.
  State(std::vector<gather_internal::Part> parts, GatherOptions options,
        const std::string& auth_token, absl::Duration stream_idle_timeout);

  void Begin();
  GatherCoordinator& coordinator() { return coordinator_; }

  // ExecuteStream::Listener
  void OnStreamEvent(size_t part, v1::ExecuteEvent& event) override {
    After(coordinator_.OnPartEvent(part, event));
  }
  void OnStreamDone(size_t part, const grpc::Status& status) override {
    After(coordinator_.OnPartDone(part, FromGrpcStatus(status)));
  }

  // GatherCoordinator::Parts
  void StartPart(size_t part) override { streams_[part]->Start(); }
  void CancelPart(size_t part) override { streams_[part]->Cancel(); }

 private:
  // A reaction's last step: on kDestroy no handle will delete us, and this
  // is a gRPC callback thread, where the streams' channel references must
  // not be dropped (see above): a thread of its own does it. Only a handle
  // destroyed inside its own callback costs this thread.
  void After(GatherCoordinator::AfterReaction next) {
    if (next != GatherCoordinator::AfterReaction::kDestroy) return;
    std::thread([state = std::unique_ptr<State>(this)]() mutable {
      state.reset();
    }).detach();
  }

  GatherCoordinator coordinator_;
  // Made in the constructor, before any part starts; fixed afterwards. Each
  // stream lives as long as this state, so Cancel() can always reach it.
  std::vector<std::unique_ptr<ExecuteStream>> streams_;
};

GatherCall::State::State(std::vector<gather_internal::Part> parts,
                         GatherOptions options, const std::string& auth_token,
                         absl::Duration stream_idle_timeout)
    : coordinator_(LayoutOf(parts), std::move(options), absl::Now(), *this) {
  const GatherOptions& o = coordinator_.options();
  const absl::Time deadline =
      std::min(o.deadline, coordinator_.start_time() + o.timeout);
  const v1::FailurePolicy policy = ToProto(coordinator_.policy());
  for (size_t i = 0; i < parts.size(); ++i) {
    v1::ExecuteRequest& request = parts[i].request;
    request.set_max_concurrency(o.max_concurrency);
    request.set_failure_policy(policy);
    if (o.task_timeout != absl::InfiniteDuration()) {
      *request.mutable_task_timeout() = ToProtoDuration(o.task_timeout);
    }
    if (o.retry.has_value()) {
      *request.mutable_retry_policy() = o.retry->ToProto();
    }
    request.set_max_starts_per_second(o.max_starts_per_second);
    if (parts[i].stub == nullptr) {
      streams_.push_back(nullptr);
      continue;
    }
    streams_.push_back(std::make_unique<ExecuteStream>(
        std::move(parts[i].stub), std::move(request), deadline,
        o.wait_for_ready, auth_token, stream_idle_timeout, i, this));
  }
}

void GatherCall::State::Begin() {
  std::vector<bool> sendable;
  sendable.reserve(streams_.size());
  for (const auto& stream : streams_) sendable.push_back(stream != nullptr);
  if (coordinator_.Begin(sendable)) {
    // Callbacks wait: not on the caller's thread, which is in StartGather.
    std::thread([this] { After(coordinator_.DeliverDeferred()); }).detach();
  }
}

std::unique_ptr<GatherCall> gather_internal::GatherCallFactory::Start(
    std::vector<Part> parts, GatherOptions options, std::string auth_token,
    absl::Duration stream_idle_timeout) {
  auto state = std::make_unique<GatherCall::State>(
      std::move(parts), std::move(options), auth_token, stream_idle_timeout);
  state->Begin();
  return std::unique_ptr<GatherCall>(new GatherCall(std::move(state)));
}

GatherCall::GatherCall(std::unique_ptr<State> state)
    : state_(std::move(state)) {}

GatherCall::~GatherCall() {
  state_->coordinator().Cancel();
  if (state_->coordinator().DetachIfInCallback()) {
    state_.release();  // it deletes itself after its last reaction
  }
}

void GatherCall::Cancel() { state_->coordinator().Cancel(); }
bool GatherCall::done() const { return state_->coordinator().done(); }
bool GatherCall::WaitFor(absl::Duration timeout) {
  return state_->coordinator().WaitFor(timeout);
}
const GatherResult& GatherCall::Wait() { return state_->coordinator().Wait(); }
GatherResult GatherCall::TakeResult() {
  return state_->coordinator().TakeResult();
}

}  // namespace batchexec
