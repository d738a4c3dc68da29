#include "client/execute_stream.h"

#include <utility>

namespace batchexec {
inline namespace sdk {

ExecuteStream::ExecuteStream(std::shared_ptr<v1::BatchExecutor::Stub> stub,
                             v1::ExecuteRequest request, absl::Time deadline,
                             bool wait_for_ready, const std::string& auth_token,
                             size_t part, Listener* listener)
    : stub_(std::move(stub)),
      part_(part),
      listener_(listener),
      request_(std::move(request)) {
  if (deadline != absl::InfiniteFuture()) {
    context_.set_deadline(absl::ToChronoTime(deadline));
  }
  context_.set_wait_for_ready(wait_for_ready);
  if (!auth_token.empty()) {
    context_.AddMetadata("authorization", "Bearer " + auth_token);
  }
}

void ExecuteStream::Start() {
  stub_->async()->Execute(&context_, &request_, this);
  StartRead(&event_);
  StartCall();
}

void ExecuteStream::OnReadDone(bool ok) {
  // !ok: the stream is over; OnDone follows with its status.
  if (!ok) return;
  listener_->OnStreamEvent(part_, event_);
  StartRead(&event_);
}

void ExecuteStream::OnDone(const grpc::Status& status) {
  // The batch is no longer needed; release it before the listener, which
  // may destroy this stream.
  request_.Clear();
  listener_->OnStreamDone(part_, status);
}

}  // namespace sdk
}  // namespace batchexec
