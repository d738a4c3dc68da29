#include "client/internal/execute_stream.h"

#include <algorithm>
#include <cstdint>
#include <utility>

#include "absl/strings/str_cat.h"
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
                             absl::Duration idle_timeout, size_t part,
                             Listener* listener)
    : stub_(std::move(stub)),
      part_(part),
      idle_timeout_(idle_timeout),
      listener_(listener),
      request_(std::move(request)) {
  if (deadline != absl::InfiniteFuture()) {
    context_.set_deadline(absl::ToChronoTime(deadline));
  }
  context_.set_wait_for_ready(wait_for_ready);
  AddBearerToken(context_, auth_token);
}

// No alarm callback is pending once OnStreamDone has run (ReportDone waits
// for them), and the listener destroys the stream only after it.
ExecuteStream::~ExecuteStream() = default;

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
  {
    MutexLock lock(&mu_);
    read_since_ = absl::Now();
    if (!done_status_.has_value() && self_cancel_ == SelfCancel::kNone) {
      const absl::Time next = NextCheckLocked(read_since_);
      if (next < alarm_at_) ArmLocked(next);
    }
  }
  StartRead(event_);
}

absl::Time ExecuteStream::NextCheckLocked(absl::Time now) const {
  // Before the server's first event the batch may wait for admission:
  // keepalive alone watches the connection then.
  absl::Time next = summary_at_ + kSummaryCloseGrace;
  if (accepted_ && read_since_ != absl::InfiniteFuture()) {
    next = std::min(next, read_since_ + idle_timeout_);
  }
  return next == absl::InfiniteFuture() ? next : std::max(next, now);
}

void ExecuteStream::ArmLocked(absl::Time at) {
  // The replaced alarm is cancelled: its callback still comes, with
  // fired = false, and is counted until then. gRPC runs alarm callbacks on
  // its executor threads, never inside Set or Cancel.
  const uint64_t generation = ++alarm_generation_;
  ++alarms_pending_;
  alarm_at_ = at;
  alarm_ = std::make_unique<grpc::Alarm>();
  alarm_->Set(absl::ToChronoTime(at),
              [this, generation](bool fired) { OnAlarm(generation, fired); });
}

void ExecuteStream::OnAlarm(uint64_t generation, bool fired) {
  bool cancel = false;
  {
    MutexLock lock(&mu_);
    const bool current = generation == alarm_generation_;
    if (current) alarm_at_ = absl::InfiniteFuture();
    if (current && fired && !done_status_.has_value() &&
        self_cancel_ == SelfCancel::kNone) {
      const absl::Time now = absl::Now();
      if (now >= summary_at_ + kSummaryCloseGrace) {
        self_cancel_ = SelfCancel::kSummaryNotClosed;
        cancel = true;
      } else if (accepted_ && now >= read_since_ + idle_timeout_) {
        self_cancel_ = SelfCancel::kIdle;
        cancel = true;
      } else if (const absl::Time next = NextCheckLocked(now);
                 next != absl::InfiniteFuture()) {
        ArmLocked(next);
      }
    }
  }
  // OnDone may run inline here; it sees this callback still pending.
  if (cancel) context_.TryCancel();
  std::optional<grpc::Status> done;
  SelfCancel why = SelfCancel::kNone;
  {
    MutexLock lock(&mu_);
    if (--alarms_pending_ == 0 && done_status_.has_value()) {
      done = done_status_;
      why = self_cancel_;
    }
  }
  if (done.has_value()) ReportDone(*done, why);
}

void ExecuteStream::OnReadDone(bool ok) {
  if (!ok) {
    // gRPC reports an event it could not parse like the end of the stream,
    // and would then leave the call open until its deadline: end it now.
    // At the real end the mark is still there, and OnDone follows with the
    // server's status.
    bool unparseable = !HasUnreadMark(*event_);
    {
      MutexLock lock(&mu_);
      read_since_ = absl::InfiniteFuture();
      if (unparseable && self_cancel_ == SelfCancel::kNone) {
        self_cancel_ = SelfCancel::kUnparseable;
      }
    }
    if (unparseable) context_.TryCancel();
    return;
  }
  {
    MutexLock lock(&mu_);
    read_since_ = absl::InfiniteFuture();  // the user's time, not the server's
    accepted_ = true;
    if (event_->has_summary()) summary_at_ = absl::Now();
  }
  listener_->OnStreamEvent(part_, *event_);
  ReadNext();
}

void ExecuteStream::OnDone(const grpc::Status& status) {
  SelfCancel why = SelfCancel::kNone;
  {
    MutexLock lock(&mu_);
    done_status_ = status;
    read_since_ = absl::InfiniteFuture();
    why = self_cancel_;
    if (alarms_pending_ > 0) {
      // The pending callback reports, soon: its alarm is cancelled.
      if (alarm_ != nullptr) alarm_->Cancel();
      return;
    }
  }
  ReportDone(status, why);
}

void ExecuteStream::ReportDone(const grpc::Status& status, SelfCancel why) {
  const bool cut = status.error_code() == grpc::StatusCode::CANCELLED;
  switch (why) {
    case SelfCancel::kUnparseable:
      // The results it carried are lost; its tasks fail with this.
      listener_->OnStreamDone(
          part_,
          grpc::Status(grpc::StatusCode::INTERNAL,
                       "could not parse an ExecuteEvent from the server (not "
                       "a valid batchexec.v1.ExecuteEvent: a value nested "
                       "past protobuf's 100-level limit, or text that is not "
                       "valid UTF-8); the results it carried are lost and "
                       "the call was cancelled"));
      return;
    case SelfCancel::kIdle:
      if (!cut) break;
      listener_->OnStreamDone(
          part_,
          grpc::Status(
              grpc::StatusCode::UNAVAILABLE,
              absl::StrCat("the server sent nothing for ",
                           absl::FormatDuration(idle_timeout_),
                           " (ClientOptions::stream_idle_timeout; a live "
                           "server sends a heartbeat every 10 s): it or the "
                           "network stopped; the call was cancelled")));
      return;
    case SelfCancel::kSummaryNotClosed:
      // The batch's results are all in: end as if the server had closed.
      if (cut) {
        listener_->OnStreamDone(part_, grpc::Status::OK);
        return;
      }
      break;
    case SelfCancel::kNone:
      break;
  }
  listener_->OnStreamDone(part_, status);
}

}  // namespace batchexec
