#include "server/execute_reactor.h"

#include <utility>

#include "common/arena_blocks.h"
#include "common/grpc_status.h"
#include "server/call_util.h"
#include "server/limits.h"

namespace batchexec {

ExecuteReactor* ExecuteReactor::Start(Executor& executor,
                                      grpc::CallbackServerContext* context,
                                      const grpc::ByteBuffer* request) {
  std::shared_ptr<ExecuteReactor> reactor(new ExecuteReactor());
  reactor->self_ = reactor;
  reactor->Begin(executor, context, *request);
  return reactor.get();
}

void ExecuteReactor::Begin(Executor& executor,
                           grpc::CallbackServerContext* context,
                           const grpc::ByteBuffer& wire) {
  timers_ = &executor.environment().timers;
  std::shared_ptr<google::protobuf::Arena> arena = NewCallArena();
  absl::StatusOr<v1::ExecuteRequest*> request =
      ParseWireRequest(wire, arena.get(), &executor.environment().cpu_pool);
  std::string note;
  absl::StatusOr<std::shared_ptr<Batch>> batch =
      request.ok()
          ? executor.Start(
                std::shared_ptr<const v1::ExecuteRequest>(arena, *request),
                CallDeadline(*context), shared_from_this(), &note)
          : request.status();
  if (!batch.ok()) {
    {
      MutexLock lock(&mu_);
      finished_ = true;
    }
    Finish(ToGrpcStatus(batch.status()));
    return;
  }
  const uint32_t task_count = (*request)->tasks_size();
  {
    MutexLock lock(&mu_);
    batch_ = *batch;
    v1::Accepted& accepted = accepted_.emplace();
    accepted.set_batch_id((*batch)->id());
    accepted.set_task_count(task_count);
    accepted.set_max_concurrency(static_cast<uint32_t>(
        std::min<int64_t>((*batch)->max_concurrency(), UINT32_MAX)));
    accepted.set_note(note);
    started_ = true;
  }
  Pump();
}

void ExecuteReactor::MarkPendingLocked() {
  if (pending_since_ == absl::InfiniteFuture()) pending_since_ = absl::Now();
}

void ExecuteReactor::OnProgress(const v1::Progress& progress) {
  MutexLock lock(&mu_);
  progress_ = progress;
  progress_changed_ = true;
  MarkPendingLocked();
}

ExecuteReactor::Chunk ExecuteReactor::NewChunk() {
  Chunk chunk;
  chunk.arena = std::make_unique<google::protobuf::Arena>(CachedArenaOptions());
  chunk.event = google::protobuf::Arena::CreateMessage<v1::ExecuteEvent>(
      chunk.arena.get());
  return chunk;
}

v1::TaskResult* ExecuteReactor::NewResult(uint32_t) {
  MutexLock lock(&mu_);
  if (broken_) {
    discarded_.Clear();
    return &discarded_;
  }
  if (chunks_.empty() || chunks_.back().bytes >= kMaxChunkBytes) {
    chunks_.push_back(NewChunk());
  }
  filling_ = true;
  return chunks_.back().event->mutable_results()->add_results();
}

void ExecuteReactor::OnResult(v1::TaskResult* result,
                              const v1::Progress& progress) {
  MutexLock lock(&mu_);
  filling_ = false;
  progress_ = progress;
  progress_changed_ = true;
  MarkPendingLocked();
  if (result == &discarded_) return;
  if (broken_) {  // broke while the result was written: drop it all now
    DropUnsentLocked();
    return;
  }
  Chunk& chunk = chunks_.back();
  ++chunk.results;
  chunk.bytes += result->ByteSizeLong() + 8;
  if (++unsent_ >= kMaxUnsentResults) paused_ = true;
}

void ExecuteReactor::DropUnsentLocked() {
  if (filling_) return;  // OnResult drops it, once the batch is out
  chunks_.clear();
  unsent_ = 0;
}

void ExecuteReactor::OnDone(const v1::Summary& summary,
                            const absl::Status& call_status) {
  MutexLock lock(&mu_);
  summary_ = summary;
  call_status_ = ToGrpcStatus(call_status);
  batch_done_ = true;
}

bool ExecuteReactor::Backlogged() const {
  MutexLock lock(&mu_);
  return unsent_ >= kMaxUnsentResults;
}

void ExecuteReactor::Flush() { Pump(); }

bool ExecuteReactor::NextEventLocked(absl::Time now, absl::Time* wake) {
  event_.Clear();
  if (accepted_) {
    *event_.mutable_accepted() = std::move(*accepted_);
    accepted_.reset();
    return true;
  }
  const bool due = batch_done_ || unsent_ >= kMinChunkResults ||
                   now - pending_since_ >= kFlushInterval;
  if (!due && (unsent_ > 0 || progress_changed_)) {
    *wake = pending_since_ + kFlushInterval;
    return false;
  }
  if (unsent_ > 0 && filling_ && chunks_.size() == 1) {
    // The batch is writing into the only chunk; its OnResult is followed by
    // a Flush that comes back here.
    return false;
  }
  pending_since_ = absl::InfiniteFuture();
  if (unsent_ > 0) {
    sent_chunk_ = std::move(chunks_.front());
    chunks_.pop_front();
    unsent_ -= sent_chunk_.results;
    *sent_chunk_.event->mutable_results()->mutable_progress() = progress_;
    progress_changed_ = false;
    if (unsent_ > 0) pending_since_ = now - kFlushInterval;  // still due
    return true;
  }
  if (progress_changed_ && !batch_done_) {
    *event_.mutable_progress() = progress_;
    progress_changed_ = false;
    return true;
  }
  if (summary_) {
    *event_.mutable_summary() = std::move(*summary_);
    summary_.reset();
    return true;
  }
  return false;
}

void ExecuteReactor::Pump() {
  enum class Next { kNothing, kWrite, kFinish } next = Next::kNothing;
  std::shared_ptr<Batch> resume;
  grpc::Status status;
  absl::Time wake = absl::InfiniteFuture();
  {
    MutexLock lock(&mu_);
    if (!started_ || writing_ || finished_) return;
    if (!broken_ && NextEventLocked(absl::Now(), &wake)) {
      writing_ = true;
      next = Next::kWrite;
    } else if (batch_done_ && wake == absl::InfiniteFuture()) {
      finished_ = true;
      next = Next::kFinish;
      // A cancelled or expired call ends as such, after its summary.
      status = broken_ ? grpc::Status(grpc::StatusCode::CANCELLED,
                                      "the client stopped reading")
                       : call_status_;
    } else if (wake != absl::InfiniteFuture() && !flush_timer_armed_) {
      flush_timer_armed_ = true;
      std::weak_ptr<ExecuteReactor> weak = shared_from_this();
      timers_->Schedule(wake, [weak] {
        if (auto self = weak.lock()) {
          {
            MutexLock lock(&self->mu_);
            self->flush_timer_armed_ = false;
          }
          self->Pump();
        }
      });
    }
    if (paused_ && unsent_ < kMaxUnsentResults / 2) {
      paused_ = false;
      resume = batch_;
    }
  }
  // Outside the lock: a write may complete inline and re-enter Pump.
  if (resume != nullptr) resume->Resume();
  if (next == Next::kWrite) {
    const bool serialized =
        SerializeTo(sent_chunk_.event != nullptr ? *sent_chunk_.event : event_,
                    &wire_event_);
    sent_chunk_ = Chunk();  // its arena goes at once, before the write ends
    if (!serialized) {
      // Cannot happen: chunks stay under kMaxChunkBytes plus one result.
      Finish(grpc::Status(grpc::StatusCode::INTERNAL, "event too large"));
      return;
    }
    StartWrite(&wire_event_);
  }
  if (next == Next::kFinish) Finish(status);
}

void ExecuteReactor::OnWriteDone(bool ok) {
  {
    MutexLock lock(&mu_);
    writing_ = false;
    if (!ok) {
      broken_ = true;  // the client is gone; OnCancel cancels the batch
      DropUnsentLocked();
    }
  }
  Pump();
}

void ExecuteReactor::OnCancel() {
  std::shared_ptr<Batch> batch;
  {
    MutexLock lock(&mu_);
    batch = batch_;
    // Nobody will read the rest: drop it rather than buffer a result for
    // every task the cancellation ends.
    broken_ = true;
    DropUnsentLocked();
  }
  if (batch != nullptr) {
    batch->Cancel(absl::CancelledError("call cancelled by the client"));
  }
}

void ExecuteReactor::OnDone() {
  std::shared_ptr<ExecuteReactor> self = std::move(self_);
  MutexLock lock(&mu_);
  batch_.reset();  // the batch ended; break the batch <-> sink cycle
  // `self` goes last, after the lock: the batch may still hold us until its
  // final Flush.
}

}  // namespace batchexec
