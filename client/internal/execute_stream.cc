#include "client/internal/execute_stream.h"

#include <cstdint>
#include <utility>

#include "client/credentials.h"
#include "google/protobuf/message.h"
#include "google/protobuf/unknown_field_set.h"

namespace batchexec {
namespace {

// An unknown field no server sends: event_ holds it until a message is
// parsed into event_, which starts by clearing it.
constexpr int kUnreadMark = 536'870'911;  // the largest field number
constexpr uint64_t kUnreadValue = 0xbe11ed;

bool HasUnreadMark(const v1::ExecuteEvent& event) {
  const google::protobuf::UnknownFieldSet& unknown =
      event.GetReflection()->GetUnknownFields(event);
  return unknown.field_count() == 1 &&
         unknown.field(0).number() == kUnreadMark &&
         unknown.field(0).type() ==
             google::protobuf::UnknownField::TYPE_VARINT &&
         unknown.field(0).varint() == kUnreadValue;
}

}  // namespace

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
  AddBearerToken(context_, auth_token);
}

void ExecuteStream::Start() {
  stub_->async()->Execute(&context_, &request_, this);
  ReadNext();
  StartCall();
  // StartCall serialized the request (gRPC 1.51's CallOpSendMessage::AddOp;
  // no interceptors here read it later): free it now, on the caller's
  // thread, which then only waits. Freed on a callback thread, 100k tasks
  // held up the first results by tens of ms. Start runs inside StartGather,
  // before its handle exists, so no reaction can destroy this stream yet.
  v1::ExecuteRequest().Swap(&request_);  // the temporary frees it
}

void ExecuteStream::ReadNext() {
  arena_.Reset();  // the listener is done with the last event
  event_ = google::protobuf::Arena::CreateMessage<v1::ExecuteEvent>(&arena_);
  event_->GetReflection()->MutableUnknownFields(event_)->AddVarint(
      kUnreadMark, kUnreadValue);
  StartRead(event_);
}

void ExecuteStream::OnReadDone(bool ok) {
  if (!ok) {
    // gRPC reports an event it could not parse (e.g. nested past protobuf's
    // recursion limit) like the end of the stream, and would then leave the
    // call open until its deadline: end it now. At the real end the mark is
    // still there, and OnDone follows with the server's status.
    if (!HasUnreadMark(*event_)) {
      unparseable_ = true;
      context_.TryCancel();
    }
    return;
  }
  listener_->OnStreamEvent(part_, *event_);
  ReadNext();
}

void ExecuteStream::OnDone(const grpc::Status& status) {
  if (unparseable_) {
    // The results it carried are lost; its tasks fail with this.
    listener_->OnStreamDone(
        part_, grpc::Status(grpc::StatusCode::INTERNAL,
                            "could not parse an ExecuteEvent from the server "
                            "(a result nested deeper than protobuf's "
                            "100-level limit?); the call was cancelled"));
    return;
  }
  listener_->OnStreamDone(part_, status);
}

}  // namespace batchexec
