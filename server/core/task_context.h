// What a task handler gets: its arguments, a deadline, a cancellation signal
// and a way to finish. Handlers are asynchronous: they return at once and
// call Finish later, exactly once, from any thread.
#ifndef BATCHEXEC_SERVER_CORE_TASK_CONTEXT_H_
#define BATCHEXEC_SERVER_CORE_TASK_CONTEXT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "common/mutex.h"
#include "google/protobuf/struct.pb.h"
#include "server/core/socket_budget.h"
#include "server/core/timer_queue.h"
#include "server/core/worker_pool.h"

namespace batchexec {

// What a task produced.
struct HandlerOutput {
  google::protobuf::Value output;  // JSON-shaped result
  std::string payload;             // binary result, if any
  // Instead of `output`: the output is the task's args as an object (echo).
  // The result points at the request's copy where the sink allows it
  // (BatchSink::ResultsMayBorrowFromRequest), so nothing is copied.
  bool output_is_args = false;
};

// Shared facilities a handler may use instead of holding a thread.
struct TaskEnvironment {
  TimerQueue& timers;     // sleeps and other waits
  WorkerPool& cpu_pool;   // CPU-bound work (bounded, --cpu_workers threads)
  SocketBudget& sockets;  // sockets network kinds hold (WithSocket)
};

class TaskContext {
 public:
  // Told once when the task has ended, by whichever came first: the
  // handler's Finish or a Cancel. Runs on that caller's thread.
  class Owner {
   public:
    virtual ~Owner() = default;
    virtual void OnTaskEnded(TaskContext& task,
                             absl::StatusOr<HandlerOutput> result) = 0;
    // Names the caller whose turn CPU work and sockets take (PostCpu,
    // WithSocket), and its weight.
    virtual const void* caller_key() const { return this; }
    virtual int caller_weight() const { return 1; }
  };

  TaskContext(std::shared_ptr<Owner> owner, uint32_t index,
              const v1::Task& task, absl::Time deadline, TaskEnvironment& env);

  TaskContext(const TaskContext&) = delete;
  TaskContext& operator=(const TaskContext&) = delete;

  uint32_t index() const { return index_; }
  // The task as the request gave it. For a kind with
  // TaskKind::reads_task_only_at_start, only until its handler returns: the
  // task's parsed copy is freed then, and these read an empty Task.
  const v1::Task& task() const {
    return *task_.load(std::memory_order_acquire);
  }
  const google::protobuf::Struct& args() const { return task().args(); }
  const std::string& payload() const { return task().payload(); }
  // When the task will be ended with DEADLINE_EXCEEDED if still running.
  absl::Time deadline() const {
    return deadline_ns_ == kNoDeadline ? absl::InfiniteFuture()
                                       : absl::FromUnixNanos(deadline_ns_);
  }
  absl::Time started_at() const { return absl::FromUnixNanos(started_at_ns_); }
  // Which run of the task this is: 1, then 2 for its first retry (its
  // RetryPolicy), and so on.
  int64_t attempt() const { return attempt_; }
  TaskEnvironment& env() const { return env_; }
  // Runs `fn` on the CPU pool in the turn of this task's caller and batch,
  // so CPU work is shared round-robin between callers, then batches.
  // Thread-safe.
  void PostCpu(absl::AnyInvocable<void()> fn) const {
    env_.cpu_pool.Post(owner_->caller_key(), owner_.get(), std::move(fn));
  }

  // Runs `fn` with a lease on one of env().sockets once one is free, in the
  // turn of `task`'s caller and batch (SocketBudget): at once on this thread
  // if one is free and nobody waits, else later on the thread that gives
  // one back (a kind's poller, timer or curl thread). Until then the task
  // holds no descriptor; if it ends meanwhile (timeout, fail-fast, client
  // cancel) it leaves the queue and `fn` never runs. `fn` must not block,
  // holds the lease until its socket is closed, and registers its own
  // OnCancel (this replaces an earlier one while the task waits).
  static void WithSocket(const std::shared_ptr<TaskContext>& task,
                         absl::AnyInvocable<void(SocketBudget::Lease)> fn);

  // True once the task has ended (Finish or Cancel); a handler doing long
  // work polls it to stop early.
  bool done() const { return ended_.load(std::memory_order_acquire); }

  // Registers `fn` to run once if the task is cancelled (timeout, fail-fast,
  // client cancel, shutdown); runs it at once if that already happened. It
  // runs on the cancelling thread and must not block. Replaces an earlier
  // callback.
  void OnCancel(absl::AnyInvocable<void()> fn);

  // Ends the task. Handlers call it once, from any thread; once the task was
  // cancelled the call is ignored and may be skipped.
  void Finish(absl::StatusOr<HandlerOutput> result);

  // Ends the task with `status` unless it already ended, and runs the cancel
  // callback. Returns true if this call ended it.
  bool Cancel(absl::Status status);

 private:
  friend class Batch;  // links running tasks through the fields below
  friend class TaskContextTestPeer;  // holds mu_ to force interleavings

  // Claims the right to report the result; true for the first caller only.
  bool Claim();
  // The handler returned and the task's parsed copy is about to be freed:
  // task() reads an empty Task from now on (atomic: a misbehaving handler
  // may still read it from another thread).
  void ReleaseTask() {
    task_.store(&v1::Task::default_instance(), std::memory_order_release);
  }

  // One exists per sleeping or waiting task, so its fields are packed:
  // times as Unix nanoseconds, the small ones together.
  static constexpr int64_t kNoDeadline = INT64_MAX;

  const std::shared_ptr<Owner> owner_;  // keeps the batch (and task_) alive
  std::atomic<const v1::Task*> task_;
  TaskEnvironment& env_;
  const int64_t deadline_ns_;  // kNoDeadline: none
  const int64_t started_at_ns_;
  const uint32_t index_;
  std::atomic<bool> ended_{false};
  TinyMutex mu_;  // see TinyMutex for why not absl::Mutex
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  absl::AnyInvocable<void()> on_cancel_ ABSL_GUARDED_BY(mu_);

  // The owning batch's list of running tasks, guarded by the batch's lock:
  // an intrusive list costs no allocation per task. `self_` keeps a running
  // task alive even if its handler dropped every reference.
  TaskContext* prev_ = nullptr;
  TaskContext* next_ = nullptr;
  std::shared_ptr<TaskContext> self_;
  TimerQueue::TimerId timeout_timer_ = 0;  // 0: no per-task timeout
  uint32_t attempt_ = 1;                   // set by the batch before running
};

// A task kind's implementation. Called on the thread that admits the task;
// must return quickly (hand waits to timers, CPU work to the cpu pool).
// Throwing ends the task with INTERNAL.
using TaskHandler = std::function<void(std::shared_ptr<TaskContext>)>;

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_TASK_CONTEXT_H_
