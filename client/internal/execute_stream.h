// One Execute call as a gRPC callback-API reactor: sends one (sub-)batch and
// hands every event of the stream to a Listener. Internal to the SDK; the
// public asynchronous form is GatherCall.
//
// Threading: reactions run on gRPC's callback threads. The read reactions of
// a stream never overlap each other; OnDone comes after all. Cancel() may be
// called from any thread at any time while the stream object exists, also
// before Start() and after the stream ended.
#ifndef BATCHEXEC_CLIENT_INTERNAL_EXECUTE_STREAM_H_
#define BATCHEXEC_CLIENT_INTERNAL_EXECUTE_STREAM_H_

#include <cstddef>
#include <memory>

#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "batchexec/v1/batch.pb.h"
#include "google/protobuf/arena.h"
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

  // `listener` must outlive the stream's OnStreamDone.
  ExecuteStream(std::shared_ptr<v1::BatchExecutor::Stub> stub,
                v1::ExecuteRequest request, absl::Time deadline,
                bool wait_for_ready, const std::string& auth_token, size_t part,
                Listener* listener);

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
  // Reads into event_ after marking it, so that OnReadDone(false) can tell
  // an event gRPC could not parse from the end of the stream.
  void ReadNext();

  const std::shared_ptr<v1::BatchExecutor::Stub> stub_;
  const size_t part_;
  Listener* const listener_;
  grpc::ClientContext context_;  // thread-safe for TryCancel
  // request_: only Start() touches it, and empties it once gRPC has
  // serialized it. event_ and unparseable_: only the read reactions, one at
  // a time, then OnDone.
  v1::ExecuteRequest request_;
  // event_ lives on arena_, emptied before each read: parsing each result
  // onto the heap, then freeing the parts the SDK does not keep, cost a
  // third of Gather's throughput on big batches.
  google::protobuf::Arena arena_;
  v1::ExecuteEvent* event_ = nullptr;
  bool unparseable_ = false;  // an event failed to parse; we cancelled
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_INTERNAL_EXECUTE_STREAM_H_
