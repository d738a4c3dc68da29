#include "server/core/executor.h"

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/proto_time.h"
#include "google/protobuf/arena.h"
#include "gtest/gtest.h"
#include "server/tasks/kinds.h"
#include "server/test_util/recording_sink.h"

namespace batchexec {
namespace {

constexpr int kOk = 0;
constexpr int kCancelled = static_cast<int>(absl::StatusCode::kCancelled);
constexpr int kDeadline = static_cast<int>(absl::StatusCode::kDeadlineExceeded);
constexpr int kInternal = static_cast<int>(absl::StatusCode::kInternal);

v1::Task MakeTask(const std::string& kind, const std::string& key = "",
                  double value = 0) {
  v1::Task t;
  t.set_kind(kind);
  if (!key.empty())
    (*t.mutable_args()->mutable_fields())[key].set_number_value(value);
  return t;
}

v1::Task Sleep(double seconds) { return MakeTask("sleep", "seconds", seconds); }

std::unique_ptr<v1::ExecuteRequest> Request(std::vector<v1::Task> tasks,
                                            uint32_t max_concurrency = 0,
                                            bool collect_all = false) {
  auto r = std::make_unique<v1::ExecuteRequest>();
  for (auto& t : tasks) *r->add_tasks() = std::move(t);
  r->set_max_concurrency(max_concurrency);
  if (collect_all) r->set_failure_policy(v1::COLLECT_ALL);
  return r;
}

class ExecutorTest : public ::testing::Test {
 protected:
  ExecutorTest() {
    EXPECT_TRUE(RegisterBuiltinKinds(registry_).ok());
    TaskKind thrower;
    thrower.name = "throw";
    thrower.description = "throws";
    thrower.handler = [](std::shared_ptr<TaskContext>) {
      throw std::runtime_error("boom");
    };
    EXPECT_TRUE(registry_.Register(std::move(thrower)).ok());
    TaskKind hang;  // never finishes on its own; counts its cancellations
    hang.name = "hang";
    hang.description = "waits for cancellation";
    hang.handler = [this](std::shared_ptr<TaskContext> task) {
      task->OnCancel([this] { hang_cancelled_.fetch_add(1); });
    };
    EXPECT_TRUE(registry_.Register(std::move(hang)).ok());
    TaskKind finish_then_throw;  // an embedder's buggy handler
    finish_then_throw.name = "finish_then_throw";
    finish_then_throw.description = "finishes, drops its context, throws";
    finish_then_throw.handler = [](std::shared_ptr<TaskContext> task) {
      task->Finish(HandlerOutput());
      task.reset();
      throw std::runtime_error("after finishing");
    };
    EXPECT_TRUE(registry_.Register(std::move(finish_then_throw)).ok());
  }

  std::unique_ptr<Executor> MakeExecutor(ExecutorOptions options = {}) {
    options.cpu_workers = 2;
    return std::make_unique<Executor>(options, registry_);
  }

  // Runs a batch to its end and returns the sink.
  std::shared_ptr<RecordingSink> Run(
      Executor& ex, std::unique_ptr<v1::ExecuteRequest> req,
      absl::Time deadline = absl::InfiniteFuture()) {
    auto sink = std::make_shared<RecordingSink>();
    auto batch = ex.Start(std::move(req), deadline, sink);
    EXPECT_TRUE(batch.ok()) << batch.status();
    EXPECT_TRUE(sink->WaitDone());
    return sink;
  }

  TaskRegistry registry_;
  std::atomic<int> hang_cancelled_{0};
};

TEST_F(ExecutorTest, ResultsComeBackInRequestOrderWhateverTheFinishOrder) {
  auto ex = MakeExecutor();
  auto sink = Run(*ex, Request({Sleep(0.3), Sleep(0.2), Sleep(0.1), Sleep(0)}));
  auto completion = sink->InCompletionOrder();
  ASSERT_EQ(completion.size(), 4u);
  EXPECT_EQ(completion.front().index(), 3u);  // the shortest ends first
  EXPECT_EQ(completion.back().index(), 0u);
  auto ordered = sink->ByIndex();
  for (uint32_t i = 0; i < 4; ++i) {
    EXPECT_EQ(ordered[i].index(), i);
    EXPECT_EQ(ordered[i].status().code(), kOk);
  }
  EXPECT_EQ(sink->summary().succeeded(), 4u);
  EXPECT_EQ(sink->summary().outcome().code(), kOk);
  EXPECT_EQ(sink->done_calls(), 1);
}

TEST_F(ExecutorTest, TasksRunConcurrentlyNotOneByOne) {
  auto ex = MakeExecutor();
  const absl::Time start = absl::Now();
  Run(*ex, Request({Sleep(0.5), Sleep(0.5), Sleep(0.5), Sleep(0.5)}));
  EXPECT_LT(absl::Now() - start, absl::Seconds(1.9));  // sum would be 2 s
}

TEST_F(ExecutorTest, PerBatchLimitIsNeverExceeded) {
  auto ex = MakeExecutor();
  std::vector<v1::Task> tasks(40, Sleep(0.01));
  auto sink = Run(*ex, Request(tasks, /*max_concurrency=*/3));
  EXPECT_LE(sink->max_running(), 3);
  EXPECT_EQ(sink->summary().succeeded(), 40u);
}

TEST_F(ExecutorTest, ServerWideLimitIsNeverExceeded) {
  ExecutorOptions options;
  options.max_inflight_tasks = 4;
  auto ex = MakeExecutor(options);
  std::vector<std::shared_ptr<RecordingSink>> sinks;
  std::vector<v1::Task> tasks(20, Sleep(0.01));
  std::atomic<bool> stop{false};
  std::atomic<int64_t> peak{0};
  std::thread watcher([&] {
    while (!stop) {
      int64_t n = ex->Stats().inflight_tasks();
      if (n > peak) peak = n;
    }
  });
  for (int i = 0; i < 5; ++i) {
    sinks.push_back(std::make_shared<RecordingSink>());
    ASSERT_TRUE(
        ex->Start(Request(tasks), absl::InfiniteFuture(), sinks.back()).ok());
  }
  for (auto& s : sinks) EXPECT_TRUE(s->WaitDone());
  stop = true;
  watcher.join();
  EXPECT_LE(peak.load(), 4);
  EXPECT_EQ(ex->Stats().inflight_tasks(), 0u);
}

TEST_F(ExecutorTest, SmallBatchIsNotStarvedByAHugeOne) {
  ExecutorOptions options;
  options.max_inflight_tasks = 10;
  auto ex = MakeExecutor(options);
  auto huge = std::make_shared<RecordingSink>();
  std::vector<v1::Task> many(100'000, Sleep(0.01));
  ASSERT_TRUE(ex->Start(Request(many), absl::InfiniteFuture(), huge).ok());
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Time start = absl::Now();
  auto small = Run(*ex, Request({Sleep(0.01), Sleep(0.01), Sleep(0.01)}));
  // Alone it takes ~10 ms; behind the huge batch (FIFO) it would take
  // 100k / 10 * 10 ms = 100 s. Round-robin admission serves it at once.
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_EQ(small->summary().succeeded(), 3u);
  EXPECT_FALSE(huge->WaitDone(absl::ZeroDuration()));
}

TEST_F(ExecutorTest, FailFastCancelsQueuedAndRunningSiblings) {
  auto ex = MakeExecutor();
  std::vector<v1::Task> tasks = {MakeTask("hang"), MakeTask("hang"),
                                 MakeTask("fail")};
  for (int i = 0; i < 10; ++i) tasks.push_back(Sleep(1));
  const absl::Time start = absl::Now();
  auto sink = Run(*ex, Request(tasks, /*max_concurrency=*/3));
  EXPECT_LT(absl::Now() - start, absl::Seconds(0.9));
  auto r = sink->ByIndex();
  EXPECT_EQ(r[2].status().code(), static_cast<int>(absl::StatusCode::kUnknown));
  EXPECT_EQ(r[0].status().code(), kCancelled);
  EXPECT_EQ(r[1].status().code(), kCancelled);
  for (size_t i = 3; i < r.size(); ++i) {
    EXPECT_EQ(r[i].status().code(), kCancelled) << i;
    EXPECT_FALSE(r[i].has_started_after()) << "queued task " << i << " ran";
  }
  EXPECT_EQ(hang_cancelled_.load(), 2);
  // The failure is reported before the cancellations it caused.
  EXPECT_EQ(sink->InCompletionOrder().front().index(), 2u);
  EXPECT_NE(sink->summary().outcome().message().find("task 2"),
            std::string::npos);
  EXPECT_EQ(ex->Stats().inflight_tasks(), 0u);
}

TEST_F(ExecutorTest, CollectAllRunsEveryTaskToItsEnd) {
  auto ex = MakeExecutor();
  auto sink = Run(*ex, Request({Sleep(0.05), MakeTask("fail"), Sleep(0.1)}, 0,
                               /*collect_all=*/true));
  auto r = sink->ByIndex();
  EXPECT_EQ(r[0].status().code(), kOk);
  EXPECT_NE(r[1].status().code(), kOk);
  EXPECT_EQ(r[2].status().code(), kOk);
  EXPECT_EQ(sink->summary().succeeded(), 2u);
  EXPECT_EQ(sink->summary().progress().failed(), 1u);
}

TEST_F(ExecutorTest, TaskTimeoutEndsOnlyThatTask) {
  auto ex = MakeExecutor();
  auto req = Request({Sleep(5), Sleep(0.01)}, 0, /*collect_all=*/true);
  req->mutable_tasks(0)->mutable_timeout()->set_nanos(50'000'000);
  auto sink = Run(*ex, std::move(req));
  auto r = sink->ByIndex();
  EXPECT_EQ(r[0].status().code(), kDeadline);
  EXPECT_EQ(r[1].status().code(), kOk);
}

TEST_F(ExecutorTest, RequestTaskTimeoutAppliesToEveryTask) {
  auto ex = MakeExecutor();
  auto req = Request({Sleep(5), MakeTask("hang")}, 0, true);
  req->mutable_task_timeout()->set_nanos(50'000'000);
  auto sink = Run(*ex, std::move(req));
  for (const auto& r : sink->ByIndex()) EXPECT_EQ(r.status().code(), kDeadline);
}

TEST_F(ExecutorTest, CallDeadlineEndsTheBatch) {
  auto ex = MakeExecutor();
  const absl::Time start = absl::Now();
  auto sink = Run(*ex, Request({Sleep(5), Sleep(5)}, 1),
                  absl::Now() + absl::Milliseconds(100));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  auto r = sink->ByIndex();
  EXPECT_EQ(r[0].status().code(), kDeadline);
  EXPECT_EQ(r[1].status().code(), kDeadline);
  EXPECT_EQ(sink->summary().outcome().code(), kDeadline);
}

TEST_F(ExecutorTest, HandlerExceptionBecomesInternalNotACrash) {
  auto ex = MakeExecutor();
  auto sink = Run(*ex, Request({MakeTask("throw"), MakeTask("echo")}, 0, true));
  auto r = sink->ByIndex();
  EXPECT_EQ(r[0].status().code(), kInternal);
  EXPECT_NE(r[0].status().message().find("boom"), std::string::npos);
  EXPECT_EQ(r[1].status().code(), kOk);
}

TEST_F(ExecutorTest, CancelFreesEverySlotAtOnce) {
  ExecutorOptions options;
  options.max_inflight_tasks = 5;
  auto ex = MakeExecutor(options);
  auto sink = std::make_shared<RecordingSink>();
  std::vector<v1::Task> tasks(50, MakeTask("hang"));
  auto batch = ex->Start(Request(tasks), absl::InfiniteFuture(), sink);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ(ex->Stats().inflight_tasks(), 5u);
  (*batch)->Cancel(absl::CancelledError("client went away"));
  ASSERT_TRUE(sink->WaitDone(absl::Seconds(5)));
  EXPECT_EQ(ex->Stats().inflight_tasks(), 0u);
  EXPECT_EQ(sink->InCompletionOrder().size(), 50u);
  EXPECT_EQ(sink->summary().cancelled(), 50u);
  // A following batch runs at once.
  auto next = Run(*ex, Request({MakeTask("echo")}));
  EXPECT_EQ(next->summary().succeeded(), 1u);
}

TEST_F(ExecutorTest, ShutdownCancelsRunningBatches) {
  auto ex = MakeExecutor();
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(ex->Start(Request({MakeTask("hang"), Sleep(60)}),
                        absl::InfiniteFuture(), sink)
                  .ok());
  ex->StopAccepting();
  EXPECT_FALSE(ex->WaitIdle(absl::Now() + absl::Milliseconds(20)));
  ex->CancelAll(absl::CancelledError("server shutting down"));
  EXPECT_TRUE(ex->WaitIdle(absl::Now() + absl::Seconds(5)));
  EXPECT_EQ(sink->summary().cancelled(), 2u);
  auto refused = ex->Start(Request({MakeTask("echo")}), absl::InfiniteFuture(),
                           std::make_shared<RecordingSink>());
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kUnavailable);
}

TEST_F(ExecutorTest, EmptyBatchSucceedsWithNoResults) {
  auto ex = MakeExecutor();
  auto sink = Run(*ex, Request({}));
  EXPECT_TRUE(sink->InCompletionOrder().empty());
  EXPECT_EQ(sink->summary().outcome().code(), kOk);
}

TEST_F(ExecutorTest, ManyInstantTasksAllReport) {
  auto ex = MakeExecutor();
  std::vector<v1::Task> tasks(200'000, MakeTask("echo"));
  auto sink = Run(*ex, Request(tasks));
  EXPECT_EQ(sink->summary().succeeded(), 200'000u);
}

struct BadRequestCase {
  std::string name;
  std::function<void(v1::ExecuteRequest&)> mutate;
  std::string expected;  // in the message
};

TEST_F(ExecutorTest, ValidationNamesTheTaskIndexAndTheRule) {
  ExecutorOptions options;
  options.max_batch_size = 5;
  auto ex = MakeExecutor(options);
  std::vector<BadRequestCase> cases = {
      {"empty kind", [](auto& r) { r.mutable_tasks(1)->clear_kind(); },
       "tasks[1]: kind must not be empty"},
      {"unknown kind", [](auto& r) { r.mutable_tasks(2)->set_kind("nope"); },
       "tasks[2]: unknown kind 'nope'"},
      {"too many",
       [](auto& r) {
         for (int i = 0; i < 3; ++i) *r.add_tasks() = Sleep(0);
       },
       "exceed the limit of 5"},
      {"negative timeout",
       [](auto& r) { r.mutable_tasks(0)->mutable_timeout()->set_seconds(-1); },
       "tasks[0]: timeout must not be negative"},
      {"negative task_timeout",
       [](auto& r) { r.mutable_task_timeout()->set_seconds(-1); },
       "task_timeout must not be negative"},
      {"missing arg",
       [](auto& r) { r.mutable_tasks(1)->mutable_args()->clear_fields(); },
       "tasks[1]: args.seconds is required"},
      {"wrong type",
       [](auto& r) {
         (*r.mutable_tasks(2)->mutable_args()->mutable_fields())["seconds"]
             .set_string_value("x");
       },
       "tasks[2]: args.seconds must be a number"},
      {"out of range",
       [](auto& r) {
         (*r.mutable_tasks(0)->mutable_args()->mutable_fields())["seconds"]
             .set_number_value(-3);
       },
       "tasks[0]: args.seconds must be between 0"},
      {"unknown arg",
       [](auto& r) {
         (*r.mutable_tasks(0)->mutable_args()->mutable_fields())["secs"]
             .set_number_value(1);
       },
       "tasks[0]: args.secs is not an argument of kind 'sleep'"},
  };
  for (const auto& c : cases) {
    auto req = Request({Sleep(0), Sleep(0), Sleep(0)});
    c.mutate(*req);
    auto sink = std::make_shared<RecordingSink>();
    auto batch = ex->Start(std::move(req), absl::InfiniteFuture(), sink);
    ASSERT_FALSE(batch.ok()) << c.name;
    EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument)
        << c.name;
    EXPECT_NE(batch.status().message().find(c.expected), std::string::npos)
        << c.name << ": " << batch.status().message();
    EXPECT_EQ(sink->done_calls(), 0) << c.name << ": ran anyway";
  }
  EXPECT_EQ(ex->Stats().batches_started(), 0u);
}

TEST_F(ExecutorTest, ConcurrencyOverTheCapIsLoweredAndSaid) {
  ExecutorOptions options;
  options.max_task_concurrency = 4;
  auto ex = MakeExecutor(options);
  auto sink = std::make_shared<RecordingSink>();
  std::string note;
  auto batch =
      ex->Start(Request({Sleep(0)}, 100), absl::InfiniteFuture(), sink, &note);
  ASSERT_TRUE(batch.ok());
  EXPECT_EQ((*batch)->max_concurrency(), 4);
  EXPECT_NE(note.find("lowered to the cap of 4"), std::string::npos) << note;
  sink->WaitDone();
}

TEST_F(ExecutorTest, FullServerQueueIsResourceExhausted) {
  ExecutorOptions options;
  options.max_queued_tasks = 10;
  auto ex = MakeExecutor(options);
  auto sink = std::make_shared<RecordingSink>();
  std::vector<v1::Task> tasks(8, MakeTask("hang"));
  auto first = ex->Start(Request(tasks), absl::InfiniteFuture(), sink);
  ASSERT_TRUE(first.ok());
  auto second = ex->Start(Request(tasks), absl::InfiniteFuture(),
                          std::make_shared<RecordingSink>());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(second.status().message().find("--max_queued_tasks"),
            std::string::npos);
  (*first)->Cancel(absl::CancelledError("done"));
  sink->WaitDone();
}

// A sink whose reader stalls until the test lets it drain.
class StalledSink : public RecordingSink {
 public:
  explicit StalledSink(int64_t capacity) : capacity_(capacity) {}
  void OnResult(v1::TaskResult* r, const ResultFit& fit,
                const v1::Progress& p) override {
    RecordingSink::OnResult(r, fit, p);
    ++held_;
  }
  bool Backlogged() const override { return held_ >= capacity_; }
  // The reader took everything so far (called outside the batch's lock).
  void Drain() { held_ = 0; }
  int64_t held() const { return held_; }

 private:
  const int64_t capacity_;
  std::atomic<int64_t> held_{0};
};

TEST_F(ExecutorTest, CancelEndsQueuedTasksOnlyAsFastAsTheReaderDrains) {
  auto ex = MakeExecutor();
  auto sink = std::make_shared<StalledSink>(1000);
  std::vector<v1::Task> tasks(100'000, MakeTask("hang"));
  auto batch = ex->Start(Request(tasks, /*max_concurrency=*/10),
                         absl::InfiniteFuture(), sink);
  ASSERT_TRUE(batch.ok());
  (*batch)->Cancel(absl::CancelledError("client gave up"));
  // 10 running tasks end at once; queued ones only up to the backlog.
  EXPECT_LE(sink->held(), 1000 + 10);
  EXPECT_FALSE(sink->WaitDone(absl::ZeroDuration()));
  int rounds = 0;
  while (!sink->WaitDone(absl::ZeroDuration()) && rounds < 1000) {
    sink->Drain();
    (*batch)->Resume();
    EXPECT_LE(sink->held(), 1000 + 10);
    ++rounds;
  }
  ASSERT_TRUE(sink->WaitDone(absl::Seconds(5)));
  EXPECT_GE(rounds, 99);
  EXPECT_EQ(sink->InCompletionOrder().size(), 100'000u);
  EXPECT_EQ(sink->summary().cancelled(), 100'000u);
}

TEST_F(ExecutorTest, EndedBatchesDoNotPileUpBehindAFullServer) {
  ExecutorOptions options;
  options.max_inflight_tasks = 1;
  auto ex = MakeExecutor(options);
  auto holder = std::make_shared<RecordingSink>();
  auto hold = ex->Start(Request({MakeTask("hang")}), absl::InfiniteFuture(),
                        holder);  // takes the only slot
  ASSERT_TRUE(hold.ok());
  std::vector<std::weak_ptr<Batch>> ended;
  for (int i = 0; i < 50; ++i) {
    auto sink = std::make_shared<RecordingSink>();
    auto batch = ex->Start(Request({Sleep(1)}), absl::InfiniteFuture(), sink);
    ASSERT_TRUE(batch.ok());
    (*batch)->Cancel(absl::CancelledError("abandoned"));
    ASSERT_TRUE(sink->WaitDone(absl::Seconds(5)));
    ended.push_back(*batch);
  }
  // Nothing keeps an ended batch (and its request) alive: not the line for
  // slots that the full server never serves.
  for (auto& weak : ended) EXPECT_TRUE(weak.expired());
  EXPECT_EQ(ex->Stats().open_batches(), 1u);
  (*hold)->Cancel(absl::CancelledError("done"));
}

// An empty batch needs no slot: it ends at once on a server whose every
// slot is taken, and nothing (the line for slots) keeps it or its request.
TEST_F(ExecutorTest, EmptyBatchEndsAtOnceOnAFullServer) {
  ExecutorOptions options;
  options.max_inflight_tasks = 2;
  auto ex = MakeExecutor(options);
  auto holder = std::make_shared<RecordingSink>();
  auto hold = ex->Start(Request({Sleep(60), Sleep(60)}), absl::InfiniteFuture(),
                        holder);  // every slot
  ASSERT_TRUE(hold.ok());
  std::weak_ptr<Batch> empty;
  std::weak_ptr<const v1::ExecuteRequest> request;
  {
    auto sink = std::make_shared<RecordingSink>();
    std::shared_ptr<const v1::ExecuteRequest> req = Request({});
    request = req;
    auto batch = ex->Start(std::move(req), absl::InfiniteFuture(), sink);
    ASSERT_TRUE(batch.ok());
    empty = *batch;
    ASSERT_TRUE(sink->WaitDone(absl::Seconds(5)));
    EXPECT_EQ(sink->summary().outcome().code(), kOk);
    EXPECT_EQ(sink->summary().progress().total(), 0u);
  }
  EXPECT_TRUE(empty.expired());
  EXPECT_TRUE(request.expired());
  EXPECT_EQ(ex->Stats().open_batches(), 1u);
  (*hold)->Cancel(absl::CancelledError("done"));
}

// Callers refused their first batch (say, one per IP address) leave no
// record behind: the quotas' table holds only callers with open batches.
TEST_F(ExecutorTest, RefusedFirstBatchesLeaveNoCallerRecords) {
  ExecutorOptions options;
  options.max_queued_tasks_per_caller = 2;
  auto ex = MakeExecutor(options);
  for (int i = 0; i < 1000; ++i) {
    auto refused = ex->Start(
        Request({Sleep(0), Sleep(0), Sleep(0)}), absl::InfiniteFuture(),
        std::make_shared<RecordingSink>(), nullptr,
        Caller{absl::StrCat("ipv4:10.0.", i / 256, ".", i % 256), 1});
    ASSERT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
    EXPECT_NE(refused.status().message().find("--max_queued_tasks_per_caller"),
              std::string::npos);
  }
  EXPECT_EQ(ex->caller_records(), 0u);
  // An admitted caller is tracked while its batch is open, and only then.
  auto sink = std::make_shared<RecordingSink>();
  ASSERT_TRUE(ex->Start(Request({MakeTask("hang")}), absl::InfiniteFuture(),
                        sink, nullptr, Caller{"team-a", 1})
                  .ok());
  EXPECT_EQ(ex->caller_records(), 1u);
  ex->CancelAll(absl::CancelledError("done"));
  ASSERT_TRUE(sink->WaitDone(absl::Seconds(5)));
  EXPECT_EQ(ex->caller_records(), 0u);
}

// The shutdown grace is a length of time, measured on the steady clock: it
// is given as a Duration (no wall-clock deadline a clock step could move)
// and waits that long, no less, while a batch is open.
static_assert(std::is_same_v<decltype(std::declval<Executor&>().WaitIdle(
                                 std::declval<absl::Duration>())),
                             bool>,
              "WaitIdle takes its grace as a Duration");
TEST_F(ExecutorTest, WaitIdleWaitsItsGraceOnTheSteadyClockThenWakesAtTheEnd) {
  auto ex = MakeExecutor();
  auto sink = std::make_shared<RecordingSink>();
  auto batch =
      ex->Start(Request({MakeTask("hang")}), absl::InfiniteFuture(), sink);
  ASSERT_TRUE(batch.ok());
  const auto start = std::chrono::steady_clock::now();
  EXPECT_FALSE(ex->WaitIdle(absl::Milliseconds(200)));
  EXPECT_GE(std::chrono::steady_clock::now() - start,
            std::chrono::milliseconds(200));
  // The batch's end wakes the wait long before its grace is over.
  std::thread ender([&] {
    absl::SleepFor(absl::Milliseconds(100));
    (*batch)->Cancel(absl::CancelledError("done"));
  });
  const auto wait = std::chrono::steady_clock::now();
  EXPECT_TRUE(ex->WaitIdle(absl::Seconds(120)));
  EXPECT_LT(std::chrono::steady_clock::now() - wait, std::chrono::seconds(60));
  ender.join();
  EXPECT_TRUE(ex->WaitIdle(absl::ZeroDuration()));
  EXPECT_TRUE(ex->WaitIdle(absl::InfiniteDuration()));
}

TEST_F(ExecutorTest, HandlerThatFinishesThenThrowsReportsItsResultOnce) {
  auto ex = MakeExecutor();
  auto sink = Run(*ex, Request({MakeTask("finish_then_throw"),
                                MakeTask("finish_then_throw")}));
  ASSERT_EQ(sink->InCompletionOrder().size(), 2u);
  EXPECT_EQ(sink->summary().succeeded(), 2u);
}

// CPU-bound tasks of a huge batch queue in the CPU pool; a small batch's
// tasks take turns with them instead of waiting behind all of them.
TEST_F(ExecutorTest, SmallCpuBatchIsNotStuckBehindAHugeCpuBatch) {
  auto ex = MakeExecutor();
  auto huge = std::make_shared<RecordingSink>();
  std::vector<v1::Task> heavy(5000, MakeTask("primes", "n", 2e6));
  auto big = ex->Start(Request(heavy), absl::InfiniteFuture(), huge);
  ASSERT_TRUE(big.ok());
  absl::SleepFor(absl::Milliseconds(100));
  const absl::Time start = absl::Now();
  auto sleeps = Run(*ex, Request({Sleep(0.01), Sleep(0.01), Sleep(0.01)}));
  const absl::Duration sleeps_took = absl::Now() - start;
  auto small = Run(
      *ex, Request(std::vector<v1::Task>(10, MakeTask("primes", "n", 1000))));
  const absl::Duration small_took = absl::Now() - start;
  // Behind the huge batch's queue (FIFO) the small one would wait for
  // 5000 sieves of 2e6 (tens of seconds on 2 cores).
  EXPECT_FALSE(huge->WaitDone(absl::ZeroDuration()));
  EXPECT_LT(sleeps_took, absl::Seconds(2));
  EXPECT_LT(small_took, absl::Seconds(4));
  EXPECT_EQ(small->summary().succeeded(), 10u);
  (*big)->Cancel(absl::CancelledError("done"));
  EXPECT_TRUE(huge->WaitDone());
}

TEST_F(ExecutorTest, ResultTooLargeForAMessageFailsItsTaskAndCounts) {
  auto ex = MakeExecutor();
  v1::Task big = MakeTask("echo");
  (*big.mutable_args()->mutable_fields())["blob"].set_string_value(
      std::string(5 << 20, 'x'));
  auto sink =
      Run(*ex, Request({big, MakeTask("echo")}, 0, /*collect_all=*/true));
  auto r = sink->ByIndex();
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].status().code(),
            static_cast<int>(absl::StatusCode::kResourceExhausted));
  EXPECT_NE(r[0].status().message().find("over the limit of"),
            std::string::npos)
      << r[0].status().message();
  EXPECT_FALSE(r[0].has_output());
  EXPECT_EQ(r[1].status().code(), kOk);
  // The summary agrees with the results: one failed, one succeeded.
  EXPECT_EQ(sink->summary().succeeded(), 1u);
  EXPECT_EQ(sink->summary().progress().failed(), 1u);
}

// A sink that keeps results on an arena and sends them before the batch
// ends, as Execute's and Gather's do, so results may point into the request.
class BorrowingSink : public RecordingSink {
 public:
  explicit BorrowingSink(bool borrow) : borrow_(borrow) {}

  v1::TaskResult* NewResult(uint32_t) override {
    return google::protobuf::Arena::CreateMessage<v1::TaskResult>(&arena_);
  }
  void OnResult(v1::TaskResult* r, const ResultFit& fit,
                const v1::Progress& p) override {
    {
      MutexLock lock(&mu_);
      outputs_.push_back(&r->output().struct_value());
    }
    RecordingSink::OnResult(r, fit, p);
  }
  bool ResultsMayBorrowFromRequest() const override { return borrow_; }

  std::vector<const google::protobuf::Struct*> outputs() const {
    MutexLock lock(&mu_);
    return outputs_;
  }

 private:
  const bool borrow_;
  google::protobuf::Arena arena_;  // written under the batch's lock
  mutable Mutex mu_;
  std::vector<const google::protobuf::Struct*> outputs_ ABSL_GUARDED_BY(mu_);
};

// Echo's output is its args: where the sink allows it, the result points at
// the request's copy (no copy of a big object); elsewhere it is copied.
TEST_F(ExecutorTest, EchoOutputIsTheRequestsArgsWhereTheSinkAllows) {
  for (bool borrow : {true, false}) {
    SCOPED_TRACE(borrow ? "borrowing sink" : "copying sink");
    auto ex = MakeExecutor();
    auto request =
        Request({MakeTask("echo", "a", 1), MakeTask("echo", "b", 2)});
    const google::protobuf::Struct* args = &request->tasks(0).args();
    auto sink = std::make_shared<BorrowingSink>(borrow);
    auto batch = ex->Start(std::move(request), absl::InfiniteFuture(), sink);
    ASSERT_TRUE(batch.ok()) << batch.status();
    ASSERT_TRUE(sink->WaitDone());
    auto r = sink->ByIndex();
    ASSERT_EQ(r.size(), 2u);
    EXPECT_EQ(r[0].output().struct_value().fields().at("a").number_value(), 1);
    EXPECT_EQ(r[1].output().struct_value().fields().at("b").number_value(), 2);
    const auto outputs = sink->outputs();
    ASSERT_EQ(outputs.size(), 2u);
    const bool first_borrowed =
        outputs[0] == args || outputs[1] == args;  // completion order
    EXPECT_EQ(first_borrowed, borrow);
  }
}

// A retry policy for UNAVAILABLE (or `codes`) with backoff ceilings of
// `initial` doubling up to `max`.
v1::RetryPolicy Retry(uint32_t attempts, absl::Duration initial,
                      absl::Duration max,
                      std::vector<std::string> codes = {"UNAVAILABLE"}) {
  v1::RetryPolicy p;
  p.set_max_attempts(attempts);
  *p.mutable_initial_backoff() = ToProtoDuration(initial);
  *p.mutable_max_backoff() = ToProtoDuration(max);
  p.set_backoff_multiplier(2);
  for (auto& c : codes) p.add_retryable_status_codes(c);
  return p;
}

constexpr int kNotFound = static_cast<int>(absl::StatusCode::kNotFound);
constexpr int kUnavailable = static_cast<int>(absl::StatusCode::kUnavailable);

// fail with `code`; with `times` > 0, only its first `times` attempts fail.
v1::Task Fail(absl::StatusCode code, double times = 0) {
  v1::Task t = MakeTask("fail", "code", static_cast<int>(code));
  if (times > 0)
    (*t.mutable_args()->mutable_fields())["times"].set_number_value(times);
  return t;
}

TEST_F(ExecutorTest, RetryableFailureRunsMaxAttemptsAndSaysSo) {
  auto ex = MakeExecutor();
  v1::Task t = Fail(absl::StatusCode::kUnavailable);
  *t.mutable_retry_policy() =
      Retry(4, absl::Milliseconds(1), absl::Milliseconds(5));
  auto sink = Run(*ex, Request({t}));
  auto r = sink->ByIndex();
  ASSERT_EQ(r.size(), 1u);
  EXPECT_EQ(r[0].status().code(), kUnavailable);
  EXPECT_EQ(r[0].attempts(), 4u);
  EXPECT_EQ(r[0].status().message().rfind("after 4 attempts: ", 0), 0u)
      << r[0].status().message();
  EXPECT_EQ(sink->summary().retried(), 1u);
  EXPECT_EQ(sink->summary().outcome().code(), kUnavailable);
}

TEST_F(ExecutorTest, FailureWithACodeNotListedIsNotRetried) {
  auto ex = MakeExecutor();
  v1::Task t = Fail(absl::StatusCode::kNotFound);
  *t.mutable_retry_policy() =
      Retry(4, absl::Milliseconds(1), absl::Milliseconds(5));
  auto r = Run(*ex, Request({t}))->ByIndex();
  EXPECT_EQ(r[0].status().code(), kNotFound);
  EXPECT_EQ(r[0].attempts(), 1u);
  EXPECT_EQ(r[0].status().message(), "task failed as asked");
}

TEST_F(ExecutorTest, TaskFailingTwiceThenSucceedingEndsOkOnItsThirdAttempt) {
  auto ex = MakeExecutor();
  v1::Task t = Fail(absl::StatusCode::kUnavailable, /*times=*/2);
  *t.mutable_retry_policy() =
      Retry(3, absl::Milliseconds(1), absl::Milliseconds(5));
  auto sink = Run(*ex, Request({t, MakeTask("echo")}));
  auto r = sink->ByIndex();
  EXPECT_EQ(r[0].status().code(), kOk) << r[0].status().message();
  EXPECT_EQ(r[0].attempts(), 3u);
  EXPECT_EQ(r[0].output().struct_value().fields().at("attempt").number_value(),
            3);
  EXPECT_EQ(r[1].attempts(), 1u);
  EXPECT_EQ(sink->summary().retried(), 1u);
  EXPECT_EQ(sink->summary().succeeded(), 2u);
}

TEST_F(ExecutorTest, BatchPolicyAppliesToTasksWithoutTheirOwn) {
  auto ex = MakeExecutor();
  v1::Task own = Fail(absl::StatusCode::kUnavailable, /*times=*/2);
  own.mutable_retry_policy()->set_max_attempts(1);  // its own: no retries
  auto req = Request({Fail(absl::StatusCode::kUnavailable, 2), own}, 0,
                     /*collect_all=*/true);
  *req->mutable_retry_policy() =
      Retry(3, absl::Milliseconds(1), absl::Milliseconds(5));
  auto r = Run(*ex, std::move(req))->ByIndex();
  EXPECT_EQ(r[0].status().code(), kOk);
  EXPECT_EQ(r[0].attempts(), 3u);
  EXPECT_EQ(r[1].status().code(), kUnavailable);
  EXPECT_EQ(r[1].attempts(), 1u);
}

TEST_F(ExecutorTest, FailFastActsOnTheFinalOutcomeOnly) {
  auto ex = MakeExecutor();
  auto req = Request({Fail(absl::StatusCode::kUnavailable, 1), Sleep(0.2)});
  *req->mutable_retry_policy() =
      Retry(2, absl::Milliseconds(1), absl::Milliseconds(5));
  auto sink = Run(*ex, std::move(req));
  auto r = sink->ByIndex();
  EXPECT_EQ(r[0].status().code(), kOk);  // its first failure cancelled nothing
  EXPECT_EQ(r[1].status().code(), kOk);
  EXPECT_EQ(sink->summary().outcome().code(), kOk);
}

TEST_F(ExecutorTest, CancelDuringBackoffEndsTheTaskAtOnce) {
  auto ex = MakeExecutor();
  v1::Task t = Fail(absl::StatusCode::kUnavailable);
  // Backoff up to 1000 s: the task waits to retry when cancelled.
  *t.mutable_retry_policy() =
      Retry(5, absl::Seconds(1000), absl::Seconds(1000));
  auto sink = std::make_shared<RecordingSink>();
  auto batch = ex->Start(Request({t}), absl::InfiniteFuture(), sink);
  ASSERT_TRUE(batch.ok());
  // The first attempt ran inline; the task is backing off, holding no slot.
  EXPECT_EQ((*batch)->running(), 0);
  EXPECT_EQ((*batch)->queued(), 1);
  EXPECT_EQ((*batch)->progress().queued(), 1u);
  EXPECT_EQ(ex->Stats().inflight_tasks(), 0u);
  const absl::Time start = absl::Now();
  (*batch)->Cancel(absl::CancelledError("client went away"));
  ASSERT_TRUE(sink->WaitDone(absl::Seconds(5)));
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  auto r = sink->ByIndex();
  EXPECT_EQ(r[0].status().code(), kCancelled);
  EXPECT_EQ(r[0].attempts(), 1u);
  EXPECT_TRUE(r[0].has_started_after());
  EXPECT_NE(r[0].status().message().find("while waiting to retry"),
            std::string::npos)
      << r[0].status().message();
}

TEST_F(ExecutorTest, CallDeadlineDuringBackoffEndsTheTask) {
  auto ex = MakeExecutor();
  v1::Task t = Fail(absl::StatusCode::kUnavailable);
  *t.mutable_retry_policy() =
      Retry(5, absl::Seconds(1000), absl::Seconds(1000));
  const absl::Time start = absl::Now();
  auto sink = Run(*ex, Request({t}), absl::Now() + absl::Milliseconds(200));
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  auto r = sink->ByIndex();
  EXPECT_EQ(r[0].status().code(), kDeadline);
  EXPECT_GE(r[0].attempts(), 1u);
}

TEST_F(ExecutorTest, TaskTimeoutBoundsEachAttempt) {
  auto ex = MakeExecutor();
  v1::Task t = Sleep(5);
  t.mutable_timeout()->set_nanos(50'000'000);  // 50 ms an attempt
  *t.mutable_retry_policy() = Retry(
      3, absl::Milliseconds(1), absl::Milliseconds(5), {"DEADLINE_EXCEEDED"});
  auto r = Run(*ex, Request({t}))->ByIndex();
  EXPECT_EQ(r[0].status().code(), kDeadline);
  EXPECT_EQ(r[0].attempts(), 3u);
}

TEST_F(ExecutorTest, BackingOffTaskHoldsNoSlot) {
  ExecutorOptions options;
  options.max_inflight_tasks = 1;
  auto ex = MakeExecutor(options);
  v1::Task t = Fail(absl::StatusCode::kUnavailable);
  *t.mutable_retry_policy() =
      Retry(5, absl::Seconds(1000), absl::Seconds(1000));
  auto retrying = std::make_shared<RecordingSink>();
  auto batch = ex->Start(Request({t}), absl::InfiniteFuture(), retrying);
  ASSERT_TRUE(batch.ok());
  // Another batch runs in the only slot while the first one backs off.
  auto other = Run(*ex, Request({Sleep(0.05), MakeTask("echo")}));
  EXPECT_EQ(other->summary().succeeded(), 2u);
  EXPECT_FALSE(retrying->WaitDone(absl::ZeroDuration()));
  (*batch)->Cancel(absl::CancelledError("done"));
  ASSERT_TRUE(retrying->WaitDone(absl::Seconds(5)));
}

TEST_F(ExecutorTest, StartRateSpacesStartsEvenly) {
  auto ex = MakeExecutor();
  auto req = Request(std::vector<v1::Task>(50, MakeTask("echo")));
  req->set_max_starts_per_second(100);  // one start every 10 ms
  const absl::Time start = absl::Now();
  auto sink = Run(*ex, std::move(req));
  const absl::Duration wall = absl::Now() - start;
  std::vector<absl::Duration> starts;
  for (const auto& r : sink->ByIndex()) {
    ASSERT_EQ(r.status().code(), kOk);
    starts.push_back(FromProtoDuration(r.started_after()));
  }
  std::sort(starts.begin(), starts.end());
  // 49 intervals of 10 ms: never faster, however late a timer fires.
  const absl::Duration span = starts.back() - starts.front();
  EXPECT_GE(span, absl::Milliseconds(480));
  EXPECT_LE(span, absl::Milliseconds(1500));
  for (size_t i = 0; i + 2 < starts.size(); ++i) {
    EXPECT_GE(starts[i + 2] - starts[i], absl::Milliseconds(9)) << i;
  }
  EXPECT_GE(wall, absl::Milliseconds(480));
  EXPECT_LE(wall, absl::Seconds(2));
}

TEST_F(ExecutorTest, StartRateCountsRetries) {
  auto ex = MakeExecutor();
  auto req = Request({Fail(absl::StatusCode::kUnavailable, 4)});
  *req->mutable_retry_policy() =
      Retry(5, absl::ZeroDuration(), absl::ZeroDuration());
  req->set_max_starts_per_second(20);  // 50 ms apart
  const absl::Time start = absl::Now();
  auto r = Run(*ex, std::move(req))->ByIndex();
  EXPECT_EQ(r[0].status().code(), kOk);
  EXPECT_EQ(r[0].attempts(), 5u);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));  // 4 x 50 ms
}

TEST_F(ExecutorTest, MaxAttemptsOverTheCapIsLoweredAndSaid) {
  ExecutorOptions options;
  options.max_attempts = 2;
  auto ex = MakeExecutor(options);
  auto req = Request({Fail(absl::StatusCode::kUnavailable)});
  *req->mutable_retry_policy() =
      Retry(9, absl::Milliseconds(1), absl::Milliseconds(1));
  auto sink = std::make_shared<RecordingSink>();
  std::string note;
  ASSERT_TRUE(
      ex->Start(std::move(req), absl::InfiniteFuture(), sink, &note).ok());
  ASSERT_TRUE(sink->WaitDone());
  EXPECT_EQ(sink->ByIndex()[0].attempts(), 2u);
  EXPECT_NE(
      note.find("max_attempts 9 lowered to the cap of 2 (--max_attempts)"),
      std::string::npos)
      << note;
}

TEST_F(ExecutorTest, BadRetryPolicyOrRateNamesTheTaskAndTheField) {
  auto ex = MakeExecutor();
  auto check = [&](std::unique_ptr<v1::ExecuteRequest> req,
                   const std::string& expected) {
    absl::Status s = ex->Validate(*req);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << expected;
    EXPECT_NE(std::string(s.message()).find(expected), std::string::npos)
        << s.message();
  };
  v1::Task t = MakeTask("echo");
  *t.mutable_retry_policy() = Retry(3, absl::Seconds(1), absl::Seconds(1));
  t.mutable_retry_policy()->set_backoff_multiplier(0.5);
  check(Request({MakeTask("echo"), t}),
        "tasks[1]: retry_policy.backoff_multiplier");
  t.mutable_retry_policy()->set_backoff_multiplier(2);
  t.mutable_retry_policy()->add_retryable_status_codes("OK");
  check(Request({t}), "tasks[0]: retry_policy.retryable_status_codes");
  *t.mutable_retry_policy() =
      Retry(3, absl::Seconds(1), absl::Seconds(1), {"FLAKY"});
  check(Request({t}), "unknown code name 'FLAKY'");
  *t.mutable_retry_policy() = Retry(3, absl::Seconds(-1), absl::Seconds(1));
  check(Request({t}), "tasks[0]: retry_policy.initial_backoff");
  auto req = Request({MakeTask("echo")});
  req->mutable_retry_policy()->set_backoff_multiplier(std::nan(""));
  check(std::move(req), "retry_policy.backoff_multiplier");
  for (double rate : {-1.0, std::nan(""), HUGE_VAL, 1e-9}) {
    req = Request({MakeTask("echo")});
    req->set_max_starts_per_second(rate);
    check(std::move(req), "max_starts_per_second");
  }
}

}  // namespace
}  // namespace batchexec
