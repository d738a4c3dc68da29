#include "client/internal/result_merger.h"

#include <string>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/proto_status.h"

namespace batchexec {
namespace {

// "task 3 (id \"b\") failed: <message>", keeping the task's code.
absl::Status TaskFailure(size_t index, const std::string& id,
                         const absl::Status& status) {
  std::string who = absl::StrCat("task ", index);
  if (!id.empty()) absl::StrAppend(&who, " (id \"", id, "\")");
  return absl::Status(status.code(),
                      absl::StrCat(who, " failed: ", status.message()));
}

// "the server", or "b:50051: the server" when the batch is split.
std::string ServerName(const ResultMerger::PartLayout& p) {
  return p.label.empty() ? std::string("the server")
                         : absl::StrCat(p.label, ": the server");
}

}  // namespace

ResultMerger::ResultMerger(std::vector<PartLayout> parts, FailurePolicy policy)
    : fail_fast_(policy == FailurePolicy::kFailFast), total_([&parts] {
        size_t total = 0;
        for (const PartLayout& p : parts) total += p.size;
        return total;
      }()) {
  MutexLock lock(&mu_);
  parts_.reserve(parts.size());
  for (PartLayout& layout : parts) {
    parts_.emplace_back();
    parts_.back().layout = std::move(layout);
  }
  results_.resize(total_);  // UNKNOWN until received_; allocates no message
  received_.assign(total_, false);
}

void ResultMerger::AddEvent(size_t part, v1::ExecuteEvent& event,
                            Update& update) {
  MutexLock lock(&mu_);
  PartState& p = parts_[part];
  switch (event.event_case()) {
    case v1::ExecuteEvent::kResults: {
      v1::ResultChunk& chunk = *event.mutable_results();
      for (v1::TaskResult& r : *chunk.mutable_results()) {
        // A rejected result is the server's bug, not the task's: it is
        // remembered for the part's end and otherwise ignored.
        AddResultLocked(part, std::move(r), update).IgnoreError();
      }
      p.server = chunk.progress();
      p.heard = true;
      break;
    }
    case v1::ExecuteEvent::kProgress:
      p.server = event.progress();
      p.heard = true;
      break;
    case v1::ExecuteEvent::kSummary:
      p.server = event.summary().progress();
      p.heard = true;
      break;
    case v1::ExecuteEvent::kAccepted:
    case v1::ExecuteEvent::EVENT_NOT_SET:
      break;
  }
  update.progress = ProgressLocked();
}

absl::Status ResultMerger::AddResult(size_t part, v1::TaskResult result,
                                     Update& update) {
  MutexLock lock(&mu_);
  absl::Status status = AddResultLocked(part, std::move(result), update);
  update.progress = ProgressLocked();
  return status;
}

absl::Status ResultMerger::AddResultLocked(size_t part, v1::TaskResult&& result,
                                           Update& update) {
  PartState& p = parts_[part];
  absl::Status rejection;
  if (result.index() >= p.layout.size) {
    rejection = absl::OutOfRangeError(absl::StrCat(
        ServerName(p.layout), " sent a result for task index ", result.index(),
        " of a part of ", p.layout.size, " tasks; ignored"));
  } else if (received_[p.layout.first_index + result.index()]) {
    rejection = absl::AlreadyExistsError(absl::StrCat(
        ServerName(p.layout), " sent a second result for task ",
        p.layout.first_index + result.index(), "; kept the first"));
  }
  if (!rejection.ok()) {
    if (p.first_rejection.ok()) p.first_rejection = rejection;
    return rejection;
  }
  const size_t index = p.layout.first_index + result.index();
  absl::Status failure;
  if (result.status().code() != 0) {
    failure = TaskFailure(index, result.id(), FromProtoStatus(result.status()));
  }
  RecordLocked(index, ToTaskOutput(std::move(result), index), failure, update);
  return absl::OkStatus();
}

void ResultMerger::RecordLocked(size_t index, absl::StatusOr<TaskOutput> result,
                                const absl::Status& failure, Update& update) {
  received_[index] = true;
  ++completed_;
  if (!result.ok()) {
    ++failed_;
    if (failure.code() != absl::StatusCode::kCancelled) {
      if (first_failure_.ok()) {
        first_failure_ = failure;
        if (fail_fast_ && !fail_fast_tripped_) {
          fail_fast_tripped_ = true;
          update.cancel_other_parts = parts_.size() > 1;
        }
      }
    } else if (first_cancelled_.ok()) {
      first_cancelled_ = failure;
    }
  }
  results_[index] = std::move(result);
  update.recorded.push_back(index);
}

void ResultMerger::EndPart(size_t part, const absl::Status& call_status,
                           Update& update) {
  MutexLock lock(&mu_);
  const PartState& p = parts_[part];
  if (call_status.ok()) {
    std::string message =
        "the server ended the call without this task's result";
    if (!p.first_rejection.ok()) {
      absl::StrAppend(&message, " (it sent a result the client rejected: ",
                      p.first_rejection.message(), ")");
    }
    EndPartLocked(part, absl::InternalError(message),
                  /*as_task_failure=*/true, update);
  } else {
    // A failed call's status is the failure, not "task i failed".
    EndPartLocked(part, CallFailureLocked(p, call_status),
                  /*as_task_failure=*/false, update);
  }
  update.progress = ProgressLocked();
}

void ResultMerger::FailPart(size_t part, const absl::Status& why,
                            Update& update) {
  MutexLock lock(&mu_);
  EndPartLocked(part, why, /*as_task_failure=*/false, update);
  update.progress = ProgressLocked();
}

void ResultMerger::EndPartLocked(size_t part, const absl::Status& why,
                                 bool as_task_failure, Update& update) {
  PartState& p = parts_[part];
  p.ended = true;
  const size_t end = p.layout.first_index + p.layout.size;
  for (size_t i = p.layout.first_index; i < end; ++i) {
    if (received_[i]) continue;
    RecordLocked(i, why, as_task_failure ? TaskFailure(i, "", why) : why,
                 update);
  }
}

absl::Status ResultMerger::CallFailureLocked(
    const PartState& p, const absl::Status& call_status) const {
  std::string message(call_status.message());
  if (call_status.code() == absl::StatusCode::kCancelled) {
    if (cancelled_by_caller_) {
      message = "cancelled by the caller";
    } else if (fail_fast_tripped_) {
      message = "cancelled: another task of the batch failed";
    }
  } else if (call_status.code() == absl::StatusCode::kDeadlineExceeded) {
    message = absl::StrCat("call deadline exceeded (", message, ")");
  }
  const PartLayout& l = p.layout;
  if (!l.label.empty()) {
    message = l.size == 0 ? absl::StrCat(l.label, ": ", message)
                          : absl::StrCat("tasks ", l.first_index, "..",
                                         l.first_index + l.size - 1, " on ",
                                         l.label, ": ", message);
  }
  return absl::Status(call_status.code(), message);
}

void ResultMerger::CancelledByCaller() {
  MutexLock lock(&mu_);
  cancelled_by_caller_ = true;
}

Progress ResultMerger::progress() const {
  MutexLock lock(&mu_);
  return ProgressLocked();
}

Progress ResultMerger::ProgressLocked() const {
  Progress progress;
  progress.total = total_;
  progress.completed = completed_;
  progress.failed = failed_;
  for (const PartState& p : parts_) {
    if (p.ended) continue;
    if (p.heard) {
      progress.running += p.server.running();
      progress.queued += p.server.queued();
    } else {
      progress.queued += p.layout.size;  // not admitted yet
    }
  }
  return progress;
}

const absl::StatusOr<TaskOutput>& ResultMerger::recorded_result(
    size_t index) const {
  return results_[index];
}

void ResultMerger::ForgetOutput(size_t index) {
  MutexLock lock(&mu_);
  absl::StatusOr<TaskOutput>& result = results_[index];
  if (!result.ok()) return;
  google::protobuf::Value().Swap(&result->output);  // the temporary frees it
  std::string().swap(result->payload);
}

GatherResult ResultMerger::TakeResult() {
  MutexLock lock(&mu_);
  GatherResult result;
  result.results = std::move(results_);
  results_.clear();
  result.progress = ProgressLocked();
  if (failed_ == 0) {
    result.status = absl::OkStatus();
  } else if (!first_failure_.ok()) {
    result.status = first_failure_;
  } else if (cancelled_by_caller_) {
    result.status = absl::CancelledError("cancelled by the caller");
  } else {
    result.status = first_cancelled_;
  }
  return result;
}

}  // namespace batchexec
