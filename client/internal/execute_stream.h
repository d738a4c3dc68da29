// One Execute call as a gRPC callback-API reactor: sends one (sub-)batch and
// hands every event of the stream to a Listener. Internal to the SDK; the
// public asynchronous form is GatherCall.
//
// It never waits forever on a silent server: once the server has accepted
// the batch, a read that gets nothing for `idle_timeout` (servers send a
// heartbeat every 10 s, kStreamHeartbeatInterval) cancels the call, which
// ends UNAVAILABLE; and a server that sent its Summary but does not close
// the stream within kSummaryCloseGrace is cut off, the call ending as if it
// had closed it (OK: the batch's results are all in).
//
// Threading: reactions run on gRPC's callback threads, the watchdog's on
// gRPC's executor threads. The read reactions of a stream never overlap
// each other; OnStreamDone comes after all, once the watchdog is done too.
// Cancel() may be called from any thread at any time while the stream
// object exists, also before Start() and after the stream ended.
#ifndef BATCHEXEC_CLIENT_INTERNAL_EXECUTE_STREAM_H_
#define BATCHEXEC_CLIENT_INTERNAL_EXECUTE_STREAM_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>

#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "batchexec/v1/batch.pb.h"
#include "common/mutex.h"
#include "google/protobuf/arena.h"
#include "grpcpp/alarm.h"
#include "grpcpp/grpcpp.h"

namespace batchexec {

class ExecuteStream final : public grpc::ClientReadReactor<v1::ExecuteEvent> {
 public:
  class Listener {
   public:
    virtual ~Listener() = default;
    // An event of stream `part`, which the listener may move from.
    virtual void OnStreamEvent(size_t part, v1::ExecuteEvent& event) = 0;
    // Stream `part` ended with `status`; its last call. The listener may
    // destroy the stream from here.
    virtual void OnStreamDone(size_t part, const grpc::Status& status) = 0;
  };

  // How long a server that sent its Summary has to close the stream.
  static constexpr absl::Duration kSummaryCloseGrace = absl::Seconds(2);

  // `listener` must outlive the stream's OnStreamDone. An infinite
  // `idle_timeout` turns the idle watchdog off.
  ExecuteStream(std::shared_ptr<v1::BatchExecutor::Stub> stub,
                v1::ExecuteRequest request, absl::Time deadline,
                bool wait_for_ready, const std::string& auth_token,
                absl::Duration idle_timeout, size_t part, Listener* listener);
  ~ExecuteStream() override;

  ExecuteStream(const ExecuteStream&) = delete;
  ExecuteStream& operator=(const ExecuteStream&) = delete;

  // Starts the call. Once. Reactions, even OnStreamDone, may run before it
  // returns.
  void Start();

  // Asks gRPC to cancel the call (the server sees it and cancels the batch);
  // the stream still ends through OnStreamDone, with CANCELLED unless it had
  // already ended.
  void Cancel() { context_.TryCancel(); }

  // grpc::ClientReadReactor
  void OnReadDone(bool ok) override;
  void OnDone(const grpc::Status& status) override;

 private:
  // Why the stream cancelled its own call.
  enum class SelfCancel { kNone, kUnparseable, kIdle, kSummaryNotClosed };

  // Reads into event_ after marking it, so that OnReadDone(false) can tell
  // an event gRPC could not parse from the end of the stream.
  void ReadNext();

  // The watchdog: one alarm at a time, armed at the next moment something
  // may be overdue; each alarm's callback checks and re-arms.
  void ArmLocked(absl::Time at) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnAlarm(uint64_t generation, bool fired);
  // The next check: the read's idle limit or the summary's grace.
  absl::Time NextCheckLocked(absl::Time now) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Reports the end to the listener: the stream's last touch of itself.
  void ReportDone(const grpc::Status& status, SelfCancel why);

  const std::shared_ptr<v1::BatchExecutor::Stub> stub_;
  const size_t part_;
  const absl::Duration idle_timeout_;
  Listener* const listener_;
  grpc::ClientContext context_;  // thread-safe for TryCancel
  // request_: only Start() touches it, and empties it once gRPC has
  // serialized it. event_: only the read reactions, one at a time, then
  // OnDone.
  v1::ExecuteRequest request_;
  // event_ lives on arena_, emptied before each read: parsing each result
  // onto the heap, then freeing the parts the SDK does not keep, cost a
  // third of Gather's throughput on big batches.
  google::protobuf::Arena arena_;
  v1::ExecuteEvent* event_ = nullptr;

  // The watchdog's view of the stream, shared by reactions and alarms.
  Mutex mu_;
  bool accepted_ ABSL_GUARDED_BY(mu_) = false;  // the server sent an event
  // When the pending read was started; InfiniteFuture while none is (a
  // read reaction runs: time in the user's callbacks is not the server's).
  absl::Time read_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  // When the Summary arrived; InfiniteFuture until then.
  absl::Time summary_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  SelfCancel self_cancel_ ABSL_GUARDED_BY(mu_) = SelfCancel::kNone;
  std::unique_ptr<grpc::Alarm> alarm_ ABSL_GUARDED_BY(mu_);
  absl::Time alarm_at_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  uint64_t alarm_generation_ ABSL_GUARDED_BY(mu_) = 0;
  // Alarm callbacks armed and not yet returned: OnStreamDone waits for
  // them, so that none touches a destroyed stream.
  int alarms_pending_ ABSL_GUARDED_BY(mu_) = 0;
  // OnDone's status, kept while alarms are pending.
  std::optional<grpc::Status> done_status_ ABSL_GUARDED_BY(mu_);
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_INTERNAL_EXECUTE_STREAM_H_
