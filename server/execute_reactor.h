// The Execute call: a server-streaming reactor that is also the batch's
// sink. It keeps one write in flight and coalesces what arrives meanwhile:
// results pile into the next chunk (at most kMaxChunkBytes), progress keeps
// only its latest counts. A reader that falls kMaxUnsentResults behind
// pauses the batch (back-pressure), so a stalled reader costs bounded memory.
#ifndef BATCHEXEC_SERVER_EXECUTE_REACTOR_H_
#define BATCHEXEC_SERVER_EXECUTE_REACTOR_H_

#include <deque>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "common/mutex.h"
#include "google/protobuf/arena.h"
#include "grpcpp/grpcpp.h"
#include "server/batch.h"
#include "server/executor.h"

namespace batchexec {

class ExecuteReactor final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer>,
      public BatchSink,
      public std::enable_shared_from_this<ExecuteReactor> {
 public:
  // Starts the call; the reactor keeps itself alive until gRPC's OnDone and
  // the batch's last Flush.
  // Raw method: parses `request` onto an arena of the call's own and
  // serializes each event itself.
  static ExecuteReactor* Start(Executor& executor,
                               grpc::CallbackServerContext* context,
                               const grpc::ByteBuffer* request);

  // BatchSink (On* under the batch's lock; they only buffer).
  void OnProgress(const v1::Progress& progress) override;
  v1::TaskResult* NewResult(uint32_t index) override;
  void OnResult(v1::TaskResult* result, const v1::Progress& progress) override;
  void OnDone(const v1::Summary& summary,
              const absl::Status& call_status) override;
  bool Backlogged() const override;
  void Flush() override;

  // grpc::ServerWriteReactor
  void OnWriteDone(bool ok) override;
  void OnCancel() override;
  void OnDone() override;

 private:
  ExecuteReactor() = default;
  void Begin(Executor& executor, grpc::CallbackServerContext* context,
             const grpc::ByteBuffer& request);
  // Fills event_ with what is due now; false if nothing is. Sets `*wake`
  // when results or progress wait to be coalesced.
  bool NextEventLocked(absl::Time now, absl::Time* wake)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void MarkPendingLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Forgets the results nobody will read (the client is gone).
  void DropUnsentLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Starts the next write, or Finish once everything was sent.
  void Pump();

  std::shared_ptr<ExecuteReactor> self_;  // dropped in OnDone
  TimerQueue* timers_ = nullptr;          // the executor's, for coalescing
  mutable Mutex mu_;
  std::shared_ptr<Batch> batch_ ABSL_GUARDED_BY(mu_);
  std::optional<v1::Accepted> accepted_ ABSL_GUARDED_BY(mu_);  // unsent
  // Results wait in chunks, each an ExecuteEvent on an arena of its own: no
  // allocation per result, and one free per chunk once it is serialized.
  struct Chunk {
    std::unique_ptr<google::protobuf::Arena> arena;
    v1::ExecuteEvent* event = nullptr;  // on arena
    int64_t results = 0;
    size_t bytes = 0;
  };
  static Chunk NewChunk();
  // back() takes new results until it holds kMaxChunkBytes.
  std::deque<Chunk> chunks_ ABSL_GUARDED_BY(mu_);
  int64_t unsent_ ABSL_GUARDED_BY(mu_) = 0;  // results in chunks_
  // Between NewResult and OnResult the batch writes into chunks_.back()
  // under its own lock: the chunk must not be sent or dropped meanwhile.
  bool filling_ ABSL_GUARDED_BY(mu_) = false;
  v1::Progress progress_ ABSL_GUARDED_BY(mu_);
  bool progress_changed_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<v1::Summary> summary_ ABSL_GUARDED_BY(mu_);  // unsent
  bool started_ ABSL_GUARDED_BY(mu_) = false;                // Accepted queued
  bool writing_ ABSL_GUARDED_BY(mu_) = false;  // a write is in flight
  bool broken_ ABSL_GUARDED_BY(mu_) = false;   // a write failed
  bool batch_done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status call_status_ ABSL_GUARDED_BY(mu_);  // set by OnDone
  bool finished_ ABSL_GUARDED_BY(mu_) = false;     // Finish called
  bool paused_ ABSL_GUARDED_BY(mu_) = false;       // told the batch to wait
  // When the oldest unsent result or progress arrived; InfiniteFuture if none.
  absl::Time pending_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  bool flush_timer_armed_ ABSL_GUARDED_BY(mu_) = false;
  // The write in flight: sent_chunk_'s event if it has one (results), else
  // event_ (accepted, progress, summary); wire_event_ is it serialized.
  v1::ExecuteEvent event_;
  Chunk sent_chunk_;
  grpc::ByteBuffer wire_event_;
  // Where results nobody will read are written (under the batch's lock).
  v1::TaskResult discarded_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_EXECUTE_REACTOR_H_
