// The bookkeeping of one batch run as one or more parts (one Execute stream
// per server when the batch is split), without gRPC: it maps each part's
// results to request order, keeps exactly one result per task, sums progress
// across parts, fails the tasks a part ended without, and decides the
// batch's status under its failure policy. GatherCoordinator feeds it from
// the call's parts and delivers what it reports to the user's callbacks.
//
// A `part` argument is a position in the constructor's `parts`; EndPart or
// FailPart is a part's last call. Thread safety: every method may be called
// from any thread; a call is atomic with respect to the others. It never calls
// out while holding its lock, so callers may hold locks of their own around it.
#ifndef BATCHEXEC_CLIENT_INTERNAL_RESULT_MERGER_H_
#define BATCHEXEC_CLIENT_INTERNAL_RESULT_MERGER_H_

#include <cstddef>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "batchexec/v1/batch.pb.h"
#include "client/gather_options.h"
#include "client/progress.h"
#include "client/task_output.h"
#include "common/mutex.h"

namespace batchexec {

class ResultMerger {
 public:
  // Where a part's tasks sit in the batch.
  struct PartLayout {
    // Position of the part's first task in the whole batch.
    size_t first_index = 0;
    size_t size = 0;
    // Names the server in messages about this part; empty when the batch is
    // not split.
    std::string label;
  };

  // What calls changed, for the caller to report. Each call that records
  // appends to the Update it is given and refreshes its progress, so one
  // Update can collect several calls.
  struct Update {
    // Batch indexes that got their result, in the order they got it.
    std::vector<size_t> recorded;
    // The batch's counts after the last call.
    Progress progress;
    // Fail-fast tripped here: the other parts should be cancelled. Set for
    // at most one failure per merger, and only when there are other parts.
    bool cancel_other_parts = false;
  };

  // `parts` must be in order and cover the batch without gaps.
  ResultMerger(std::vector<PartLayout> parts, FailurePolicy policy);

  ResultMerger(const ResultMerger&) = delete;
  ResultMerger& operator=(const ResultMerger&) = delete;

  // An event of part `part`'s stream: records its results (moving them out
  // of `event`) and takes the server's counts. Results the merger rejects
  // (see AddResult) are left out.
  void AddEvent(size_t part, v1::ExecuteEvent& event, Update& update);

  // Records result `result` of part `part` as the task at batch index
  // first_index + result.index(). A misbehaving server's result is
  // rejected, leaving the task's recorded result as it was: OUT_OF_RANGE if
  // the index names no task of the part, ALREADY_EXISTS if the task already
  // has its result. The part's first rejection is named in the failure of
  // its tasks that end without a result.
  absl::Status AddResult(size_t part, v1::TaskResult result, Update& update);

  // Part `part`'s stream ended with `call_status`, its last event. Its tasks
  // without a result fail: INTERNAL if the call succeeded (the server owed
  // them a result), else the call's status, said in the batch's terms
  // (which tasks, which server, who cancelled).
  void EndPart(size_t part, const absl::Status& call_status, Update& update);

  // Part `part` could not be sent: its tasks without a result fail with
  // `why` as it is, and the part ends.
  void FailPart(size_t part, const absl::Status& why, Update& update);

  // The caller cancelled the batch: parts that end CANCELLED say so.
  void CancelledByCaller();

  // The batch's counts now.
  Progress progress() const;

  // Task `index`'s result, once an Update has reported it recorded. It no
  // longer changes, so the reference stays valid without the lock until
  // ForgetOutput(index) or TakeResult.
  const absl::StatusOr<TaskOutput>& recorded_result(size_t index) const
      ABSL_NO_THREAD_SAFETY_ANALYSIS;

  // Frees task `index`'s recorded output and payload, keeping the rest of
  // its result (GatherOptions::keep_outputs).
  void ForgetOutput(size_t index);

  // Ends the merge: the results in request order (UNKNOWN for a task
  // without one), the final counts and the batch's status: OK if every task
  // succeeded, else the first failure other than CANCELLED, else the
  // caller's cancellation, else the first CANCELLED. Once; `elapsed` is the
  // caller's to set.
  GatherResult TakeResult();

 private:
  struct PartState {
    PartLayout layout;
    bool heard = false;   // the server reported counts
    bool ended = false;   // the stream ended; its counts no longer apply
    v1::Progress server;  // its latest counts
    // The first result of this part that was rejected, if any: named in
    // the failures of its tasks that never got one.
    absl::Status first_rejection;
  };

  absl::Status AddResultLocked(size_t part, v1::TaskResult&& result,
                               Update& update)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Stores task `index`'s result, which must be its first. `failure` is
  // what it means for the batch's status when `result` is not OK.
  void RecordLocked(size_t index, absl::StatusOr<TaskOutput> result,
                    const absl::Status& failure, Update& update)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Ends part `part`, failing its tasks without a result.
  void EndPartLocked(size_t part, const absl::Status& why, bool as_task_failure,
                     Update& update) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The status a part's tasks get when its whole call failed.
  absl::Status CallFailureLocked(const PartState& p,
                                 const absl::Status& call_status) const
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  Progress ProgressLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const bool fail_fast_;
  const size_t total_;

  mutable Mutex mu_;
  std::vector<PartState> parts_ ABSL_GUARDED_BY(mu_);
  // results_[i] is final once received_[i]; recorded_result reads it
  // without mu_ after that.
  std::vector<absl::StatusOr<TaskOutput>> results_ ABSL_GUARDED_BY(mu_);
  std::vector<bool> received_ ABSL_GUARDED_BY(mu_);
  size_t completed_ ABSL_GUARDED_BY(mu_) = 0;
  size_t failed_ ABSL_GUARDED_BY(mu_) = 0;
  // First failure other than CANCELLED, and the first CANCELLED one.
  absl::Status first_failure_ ABSL_GUARDED_BY(mu_);
  absl::Status first_cancelled_ ABSL_GUARDED_BY(mu_);
  bool cancelled_by_caller_ ABSL_GUARDED_BY(mu_) = false;
  bool fail_fast_tripped_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_INTERNAL_RESULT_MERGER_H_
