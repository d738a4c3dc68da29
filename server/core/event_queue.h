// The outgoing events of one Execute stream, between the batch that makes
// them and the writer that sends them one at a time. It decides what each
// message holds and when it is due:
//  - results are written straight into chunks (ResultChunk events on
//    per-chunk arenas: no allocation per result); a chunk takes results up
//    to kMaxChunkBytes, and a result that would take it past that starts the
//    next chunk, so no message exceeds kMaxExecuteEventBytes;
//  - a result larger than kMaxStreamedResultBytes fits in no message: it is
//    replaced by a RESOURCE_EXHAUSTED result naming its size and the limit;
//  - results and progress wait up to kFlushInterval to share a message,
//    unless kMinChunkResults are ready, a chunk is full or the batch is done;
//  - past kMaxUnsentResults or kMaxUnsentBytes unsent, Backlogged() asks the
//    batch to start no more tasks; Take() says when it may resume;
//  - unsent results are charged to the caller's request memory (ChargeTo,
//    Hold) until their chunk is taken or dropped.
// Results go out in the order OnResult saw them (completion order).
//
// gRPC-free. Thread-safe, with one rule: a NewResult/OnResult pair must not
// interleave with another (the batch's lock serializes them).
#ifndef BATCHEXEC_SERVER_CORE_EVENT_QUEUE_H_
#define BATCHEXEC_SERVER_CORE_EVENT_QUEUE_H_

#include <cstdint>
#include <deque>
#include <memory>
#include <optional>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "common/mutex.h"
#include "google/protobuf/arena.h"
#include "server/core/memory_budget.h"
#include "server/core/result_charge.h"
#include "server/core/result_size.h"

namespace batchexec {

// One message of the stream, and the storage it lives in (a chunk's arena,
// freed with it).
class OutgoingEvent {
 public:
  OutgoingEvent() = default;
  OutgoingEvent(OutgoingEvent&&) = default;
  OutgoingEvent& operator=(OutgoingEvent&&) = default;

  const v1::ExecuteEvent& message() const { return *message_; }
  // A chunk's results as serialized, framing included; 0 for the other
  // events (a few dozen bytes each).
  int64_t bytes() const { return bytes_; }

 private:
  friend class EventQueue;
  std::shared_ptr<google::protobuf::Arena> arena_;  // a chunk's, else null
  std::unique_ptr<v1::ExecuteEvent> owned_;         // when not on arena_
  v1::ExecuteEvent* message_ = nullptr;
  int64_t bytes_ = 0;
};

class EventQueue {
 public:
  EventQueue() = default;
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  // Charges unsent results to `reservation`'s budgets (ResultCharge) from
  // now on. Call before the batch starts.
  void ChargeTo(MemoryBudget::Reservation reservation);

  // --- The batch's side (BatchSink, under the batch's lock) --------------

  // Queues Accepted, the first event; nothing goes out before it.
  void Accept(v1::Accepted accepted);
  // Latest counts; sent alone only if no result carries them first.
  void OnProgress(const v1::Progress& progress);
  // Where the next result is to be written; OnResult(that result) follows
  // before any other NewResult.
  v1::TaskResult* NewResult();
  // Charges the result from NewResult, of `fit.bytes` (BatchSink::Hold):
  // RESOURCE_EXHAUSTED naming the budget if it does not fit.
  absl::Status Hold(const ResultFit& fit);
  // The result from NewResult is complete; `sized` is its size as the batch
  // measured it (BatchSink::OnResult).
  void OnResult(v1::TaskResult* result, const ResultFit& sized,
                const v1::Progress& progress);
  // Queues the summary, the last event.
  void OnBatchDone(const v1::Summary& summary);
  // True while the batch should start no more tasks.
  bool Backlogged() const;

  // --- The writer's side ---------------------------------------------------

  struct Step {
    // The message to write now, if one is due.
    std::optional<OutgoingEvent> event;
    // With no event: when one will be due (the writer calls Take again
    // then); InfiniteFuture if it waits for the batch.
    absl::Time wake = absl::InfiniteFuture();
    // The backlog drained: the batch may start tasks again (once per pause).
    bool resume = false;
    // Everything was taken, the summary included (or the queue was dropped
    // and the batch is done): the stream may end.
    bool end = false;
  };
  // What to do next, as of `now`. Call with no write in flight.
  Step Take(absl::Time now);

  // The reader is gone: forgets what is queued, and discards what comes.
  void Drop();

  // Unsent results and their bytes (serialized, framing included, plus the
  // arena space of oversize results, until their chunk is sent).
  int64_t unsent_results() const;
  int64_t unsent_bytes() const;
  // Bytes charged to the budgets for unsent results (ChargeTo).
  int64_t charged_bytes() const;

 private:
  // Results wait in chunks, each a ResultChunk event on an arena: one free
  // per chunk once it is sent. A chunk shares its arena only with the one
  // its last result overflowed into.
  struct Chunk {
    std::shared_ptr<google::protobuf::Arena> arena;
    v1::ExecuteEvent* event = nullptr;  // on arena
    int64_t results = 0;
    int64_t bytes = 0;    // its results, serialized with their framing
    int64_t waste = 0;    // arena space of oversize results replaced
    int64_t charged = 0;  // its results' charge (ResultCharge)
    bool closed = false;  // takes no more results
  };
  static Chunk NewChunk();
  // Moves the last result of chunks_.back() into a new chunk; closes both.
  void MoveLastToNewChunkLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool BackloggedLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  bool NextEventLocked(absl::Time now, Step* step)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropUnsentLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable Mutex mu_;
  std::optional<v1::Accepted> accepted_ ABSL_GUARDED_BY(mu_);  // unsent
  bool accepted_queued_ ABSL_GUARDED_BY(mu_) = false;
  // back() is where NewResult writes, unless closed.
  std::deque<Chunk> chunks_ ABSL_GUARDED_BY(mu_);
  int64_t unsent_results_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t unsent_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  ResultCharge charge_ ABSL_GUARDED_BY(mu_);
  // Charged for the result between Hold and OnResult (not yet in a chunk).
  int64_t pending_charge_ ABSL_GUARDED_BY(mu_) = 0;
  // Between NewResult and OnResult the batch writes into chunks_.back()
  // outside mu_: that chunk must not be sent, dropped or moved meanwhile.
  bool filling_ ABSL_GUARDED_BY(mu_) = false;
  v1::Progress progress_ ABSL_GUARDED_BY(mu_);
  bool progress_changed_ ABSL_GUARDED_BY(mu_) = false;
  // When the oldest unsent result or progress arrived; InfiniteFuture if
  // none.
  absl::Time pending_since_ ABSL_GUARDED_BY(mu_) = absl::InfiniteFuture();
  std::optional<v1::Summary> summary_ ABSL_GUARDED_BY(mu_);  // unsent
  bool done_ ABSL_GUARDED_BY(mu_) = false;                   // OnBatchDone seen
  bool paused_ ABSL_GUARDED_BY(mu_) = false;  // Backlogged() turned true
  bool dropped_ ABSL_GUARDED_BY(mu_) = false;
  // Where results nobody will read are written (by the batch, outside mu_).
  v1::TaskResult discarded_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_EVENT_QUEUE_H_
