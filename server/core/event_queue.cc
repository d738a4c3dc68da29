#include "server/core/event_queue.h"

#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "common/arena_blocks.h"
#include "google/protobuf/io/coded_stream.h"
#include "server/core/limits.h"
#include "server/core/result_size.h"

namespace batchexec {
namespace {

// What a ResultChunk event adds around its results: the event's tag and
// length (6 bytes at most) and the progress (tag, length and five varint32
// fields: 32 bytes at most).
constexpr int64_t kChunkFramingBytes = 6 + 32;

// A result's size inside its chunk: tag, length, bytes.
int64_t FramedSize(size_t size) {
  return 1 + google::protobuf::io::CodedOutputStream::VarintSize64(size) +
         static_cast<int64_t>(size);
}

// Both a full chunk and a chunk of one largest result fit in a message.
static_assert(kMaxChunkBytes + kChunkFramingBytes <= kMaxExecuteEventBytes);
static_assert(1 + 5 + kMaxStreamedResultBytes + kChunkFramingBytes <=
              kMaxExecuteEventBytes);

}  // namespace

EventQueue::Chunk EventQueue::NewChunk() {
  Chunk chunk;
  chunk.arena = std::make_shared<google::protobuf::Arena>(CachedArenaOptions());
  chunk.event = google::protobuf::Arena::CreateMessage<v1::ExecuteEvent>(
      chunk.arena.get());
  return chunk;
}

void EventQueue::ChargeTo(MemoryBudget::Reservation reservation) {
  MutexLock lock(&mu_);
  charge_ = ResultCharge(std::move(reservation));
}

absl::Status EventQueue::Hold(const ResultFit& fit) {
  MutexLock lock(&mu_);
  pending_charge_ = 0;
  if (dropped_) return absl::OkStatus();  // discarded: nothing is held
  return charge_.Hold(fit.bytes, &pending_charge_);
}

void EventQueue::Accept(v1::Accepted accepted) {
  MutexLock lock(&mu_);
  accepted_ = std::move(accepted);
  accepted_queued_ = true;
}

void EventQueue::OnProgress(const v1::Progress& progress) {
  MutexLock lock(&mu_);
  progress_ = progress;
  progress_changed_ = true;
  if (pending_since_ == absl::InfiniteFuture()) pending_since_ = absl::Now();
}

v1::TaskResult* EventQueue::NewResult() {
  MutexLock lock(&mu_);
  if (dropped_) {
    discarded_.Clear();
    return &discarded_;
  }
  if (chunks_.empty() || chunks_.back().closed) chunks_.push_back(NewChunk());
  filling_ = true;
  return chunks_.back().event->mutable_results()->add_results();
}

void EventQueue::MoveLastToNewChunkLocked() {
  Chunk& old = chunks_.back();
  old.closed = true;
  Chunk next;
  // Same arena: the result moves without a copy. Closed, so that the arena
  // takes nothing more and goes once both chunks are sent.
  next.arena = old.arena;
  next.event = google::protobuf::Arena::CreateMessage<v1::ExecuteEvent>(
      next.arena.get());
  next.closed = true;
  next.event->mutable_results()->mutable_results()->UnsafeArenaAddAllocated(
      old.event->mutable_results()
          ->mutable_results()
          ->UnsafeArenaReleaseLast());
  chunks_.push_back(std::move(next));
}

void EventQueue::OnResult(v1::TaskResult* result, const ResultFit& sized,
                          const v1::Progress& progress) {
  MutexLock lock(&mu_);
  filling_ = false;
  progress_ = progress;
  progress_changed_ = true;
  if (pending_since_ == absl::InfiniteFuture()) pending_since_ = absl::Now();
  if (result == &discarded_) return;
  if (dropped_) {  // dropped while the result was written: drop it all now
    DropUnsentLocked();
    return;
  }
  // The batch fitted an output; a failed result too large (its id, its
  // message) is fitted here.
  ResultFit fit = sized;
  if (fit.bytes > static_cast<size_t>(kMaxStreamedResultBytes)) {
    fit = FitResult(result);
  }
  const size_t size = fit.bytes;
  // Arena space an oversize result leaves behind: unsent bytes until its
  // chunk is sent.
  const auto waste = static_cast<int64_t>(fit.dropped);
  const int64_t framed = FramedSize(size);
  if (chunks_.back().results > 0 &&
      chunks_.back().bytes + framed > kMaxChunkBytes) {
    // It would overflow its chunk: close that chunk before it.
    MoveLastToNewChunkLocked();
  }
  Chunk& chunk = chunks_.back();
  ++chunk.results;
  chunk.bytes += framed;
  chunk.charged += pending_charge_;
  pending_charge_ = 0;
  if (waste > 0) {
    // The arena's last chunk: it goes with it. Closed chunks are due, so
    // the space is freed at the writer's next turn.
    chunk.waste += waste;
    chunk.closed = true;
  }
  if (chunk.bytes >= kMaxChunkBytes) chunk.closed = true;
  ++unsent_results_;
  unsent_bytes_ += framed + waste;
  if (BackloggedLocked()) paused_ = true;
}

void EventQueue::OnBatchDone(const v1::Summary& summary) {
  MutexLock lock(&mu_);
  summary_ = summary;
  done_ = true;
}

bool EventQueue::BackloggedLocked() const {
  return unsent_results_ >= kMaxUnsentResults ||
         unsent_bytes_ >= kMaxUnsentBytes;
}

bool EventQueue::Backlogged() const {
  MutexLock lock(&mu_);
  return BackloggedLocked();
}

int64_t EventQueue::unsent_results() const {
  MutexLock lock(&mu_);
  return unsent_results_;
}

int64_t EventQueue::unsent_bytes() const {
  MutexLock lock(&mu_);
  return unsent_bytes_;
}

int64_t EventQueue::charged_bytes() const {
  MutexLock lock(&mu_);
  return charge_.held();
}

void EventQueue::Drop() {
  MutexLock lock(&mu_);
  dropped_ = true;
  DropUnsentLocked();
}

void EventQueue::DropUnsentLocked() {
  if (filling_) return;  // OnResult drops it, once the batch is out
  for (const Chunk& chunk : chunks_) charge_.Release(chunk.charged);
  charge_.Release(pending_charge_);
  pending_charge_ = 0;
  chunks_.clear();
  unsent_results_ = 0;
  unsent_bytes_ = 0;
}

bool EventQueue::NextEventLocked(absl::Time now, Step* step) {
  OutgoingEvent out;
  if (accepted_) {
    out.owned_ = std::make_unique<v1::ExecuteEvent>();
    *out.owned_->mutable_accepted() = std::move(*accepted_);
    accepted_.reset();
    out.message_ = out.owned_.get();
    step->event = std::move(out);
    return true;
  }
  // A closed chunk takes no more results: waiting would gain nothing.
  const bool full =
      chunks_.size() > 1 || (!chunks_.empty() && chunks_.front().closed);
  const bool due = done_ || unsent_results_ >= kMinChunkResults || full ||
                   now - pending_since_ >= kFlushInterval;
  if (!due && (unsent_results_ > 0 || progress_changed_)) {
    step->wake = pending_since_ + kFlushInterval;
    return false;
  }
  if (unsent_results_ > 0 && filling_ && chunks_.size() == 1) {
    // The batch is writing into the only chunk; its OnResult is followed by
    // a Flush that comes back here.
    return false;
  }
  pending_since_ = absl::InfiniteFuture();
  if (unsent_results_ > 0) {
    Chunk chunk = std::move(chunks_.front());
    chunks_.pop_front();
    unsent_results_ -= chunk.results;
    unsent_bytes_ -= chunk.bytes + chunk.waste;
    charge_.Release(chunk.charged);
    *chunk.event->mutable_results()->mutable_progress() = progress_;
    progress_changed_ = false;
    if (unsent_results_ > 0) pending_since_ = now - kFlushInterval;  // due
    out.arena_ = std::move(chunk.arena);
    out.message_ = chunk.event;
    out.bytes_ = chunk.bytes;
    step->event = std::move(out);
    return true;
  }
  if (progress_changed_ && !done_) {
    out.owned_ = std::make_unique<v1::ExecuteEvent>();
    *out.owned_->mutable_progress() = progress_;
    progress_changed_ = false;
    out.message_ = out.owned_.get();
    step->event = std::move(out);
    return true;
  }
  if (summary_) {
    out.owned_ = std::make_unique<v1::ExecuteEvent>();
    *out.owned_->mutable_summary() = std::move(*summary_);
    summary_.reset();
    out.message_ = out.owned_.get();
    step->event = std::move(out);
    return true;
  }
  return false;
}

EventQueue::Step EventQueue::Take(absl::Time now) {
  Step step;
  MutexLock lock(&mu_);
  if (!accepted_queued_) return step;  // nothing goes out before Accepted
  if (dropped_) {
    step.end = done_;
  } else if (!NextEventLocked(now, &step)) {
    step.end = done_ && step.wake == absl::InfiniteFuture() && !summary_ &&
               unsent_results_ == 0;
  }
  if (paused_ && unsent_results_ < kMaxUnsentResults / 2 &&
      unsent_bytes_ < kMaxUnsentBytes / 2) {
    paused_ = false;
    step.resume = true;
  }
  return step;
}

}  // namespace batchexec
