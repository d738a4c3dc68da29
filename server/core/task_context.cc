#include "server/core/task_context.h"

#include <utility>

namespace batchexec {

TaskContext::TaskContext(std::shared_ptr<Owner> owner, uint32_t index,
                         const v1::Task& task, absl::Time deadline,
                         TaskEnvironment& env)
    : owner_(std::move(owner)),
      task_(&task),
      env_(env),
      deadline_ns_(deadline == absl::InfiniteFuture()
                       ? kNoDeadline
                       : absl::ToUnixNanos(deadline)),
      started_at_ns_(absl::ToUnixNanos(absl::Now())),
      index_(index) {}

void TaskContext::WithSocket(const std::shared_ptr<TaskContext>& task,
                             absl::AnyInvocable<void(SocketBudget::Lease)> fn) {
  // The ticket, for a cancel that may come before Acquire returns it.
  struct Wait {
    TinyMutex mu;
    std::shared_ptr<SocketBudget::Ticket> ticket ABSL_GUARDED_BY(mu);
    bool cancelled ABSL_GUARDED_BY(mu) = false;
  };
  SocketBudget& budget = task->env().sockets;
  auto wait = std::make_shared<Wait>();
  // Before Acquire: a socket granted inside it lets `fn` register the
  // task's own OnCancel, which this must not replace.
  task->OnCancel([wait, &budget] {
    std::shared_ptr<SocketBudget::Ticket> ticket;
    {
      TinyMutexLock lock(&wait->mu);
      wait->cancelled = true;
      ticket = wait->ticket;
    }
    if (ticket != nullptr) budget.Cancel(*ticket);
  });
  if (task->done()) return;
  const Owner& owner = *task->owner_;
  auto ticket = budget.Acquire(
      {owner.caller_key(), owner.caller_weight(), &owner},
      [task, fn = std::move(fn)](SocketBudget::Lease lease) mutable {
        // Cancelled while being granted: the lease goes back at once.
        if (task->done()) return;
        fn(std::move(lease));
      });
  bool cancelled;
  {
    TinyMutexLock lock(&wait->mu);
    cancelled = wait->cancelled;
    if (!cancelled) wait->ticket = ticket;
  }
  if (cancelled) budget.Cancel(*ticket);
}

bool TaskContext::Claim() {
  return !ended_.exchange(true, std::memory_order_acq_rel);
}

void TaskContext::OnCancel(absl::AnyInvocable<void()> fn) {
  {
    TinyMutexLock lock(&mu_);
    if (!cancelled_) {
      // After Finish the callback would never run: drop it, since it usually
      // holds a reference to this context. (Cancel claims under mu_, so
      // done() here means Finish.)
      if (!done()) on_cancel_ = std::move(fn);
      return;
    }
  }
  fn();
}

void TaskContext::Finish(absl::StatusOr<HandlerOutput> result) {
  if (!Claim()) return;
  absl::AnyInvocable<void()> dropped;
  {
    TinyMutexLock lock(&mu_);
    dropped = std::move(on_cancel_);  // breaks the context <-> callback cycle
  }
  owner_->OnTaskEnded(*this, std::move(result));
}

bool TaskContext::Cancel(absl::Status status) {
  absl::AnyInvocable<void()> fn;
  {
    // Claim and mark cancelled in one step: an OnCancel seeing the task
    // ended but not cancelled must mean Finish ended it, or it would drop a
    // callback that should run.
    TinyMutexLock lock(&mu_);
    if (!Claim()) return false;
    cancelled_ = true;
    fn = std::move(on_cancel_);
  }
  owner_->OnTaskEnded(*this, std::move(status));
  if (fn) fn();
  return true;
}

}  // namespace batchexec
