// Batches run from wire tasks (TaskList): each task parsed as it starts and
// dropped when its handler returns. They must give the same results as the
// same batch parsed whole, name the same bad task, and keep no parsed copy.
#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/synchronization/notification.h"
#include "batchexec/v1/batch.pb.h"
#include "gtest/gtest.h"
#include "server/core/executor.h"
#include "server/core/request_parser.h"
#include "server/core/task_list.h"
#include "server/tasks/kinds.h"
#include "server/test_util/recording_sink.h"

namespace batchexec {
namespace {

v1::Task Task(const std::string& kind, const std::string& id = "") {
  v1::Task t;
  t.set_kind(kind);
  t.set_id(id);
  return t;
}

v1::Task Sleep(double seconds, const std::string& id = "") {
  v1::Task t = Task("sleep", id);
  (*t.mutable_args()->mutable_fields())["seconds"].set_number_value(seconds);
  return t;
}

// Fails `times` times with `code`, then succeeds.
v1::Task Fail(int code, int times, const std::string& id = "") {
  v1::Task t = Task("fail", id);
  auto& f = *t.mutable_args()->mutable_fields();
  f["code"].set_number_value(code);
  f["times"].set_number_value(times);
  return t;
}

// The request as the server keeps it when every kind allows: wire bytes.
BatchRequest Wire(const v1::ExecuteRequest& request) {
  auto bytes = std::make_shared<const std::string>(request.SerializeAsString());
  auto top = std::make_shared<v1::ExecuteRequest>();
  absl::StatusOr<TaskList> tasks = SplitRequest(bytes, top.get());
  EXPECT_TRUE(tasks.ok()) << tasks.status();
  return BatchRequest{top, tasks.ok() ? *std::move(tasks) : TaskList()};
}

BatchRequest Parsed(const v1::ExecuteRequest& request) {
  auto shared = std::make_shared<const v1::ExecuteRequest>(request);
  return BatchRequest{shared, TaskList(shared)};
}

class WireBatchTest : public ::testing::Test {
 protected:
  WireBatchTest() {
    EXPECT_TRUE(RegisterBuiltinKinds(registry_).ok());
    // Reads its args again from a timer, as a kind that wrongly declared
    // reads_task_only_at_start would.
    TaskKind late;
    late.name = "late_reader";
    late.description = "reads its args at start and 50 ms later";
    late.reads_task_only_at_start = true;
    late.handler = [this](std::shared_ptr<TaskContext> task) {
      at_start_fields_ = static_cast<int>(task->args().fields_size());
      task->env().timers.ScheduleAfter(absl::Milliseconds(50), [this, task] {
        later_fields_ = static_cast<int>(task->args().fields_size());
        later_payload_ = task->payload();
        task->Finish(HandlerOutput());
      });
    };
    EXPECT_TRUE(registry_.Register(std::move(late)).ok());
    ExecutorOptions options;
    options.cpu_workers = 2;
    executor_ = std::make_unique<Executor>(options, registry_);
  }

  std::shared_ptr<RecordingSink> Run(BatchRequest request) {
    auto sink = std::make_shared<RecordingSink>();
    auto batch =
        executor_->Start(std::move(request), absl::InfiniteFuture(), sink);
    EXPECT_TRUE(batch.ok()) << batch.status();
    EXPECT_TRUE(sink->WaitDone());
    return sink;
  }

  TaskRegistry registry_;
  std::unique_ptr<Executor> executor_;
  std::atomic<int> at_start_fields_{-1};
  std::atomic<int> later_fields_{-1};
  std::string later_payload_ = "unset";
};

TEST_F(WireBatchTest, OnlyBatchesOfKindsThatReadTheirTaskAtStartRunFromWire) {
  v1::ExecuteRequest sleeps;
  *sleeps.add_tasks() = Sleep(0);
  *sleeps.add_tasks() = Fail(5, 0);
  EXPECT_TRUE(executor_->CanRunFromWire(Wire(sleeps).tasks));
  v1::ExecuteRequest with_echo = sleeps;
  *with_echo.add_tasks() = Task("echo");  // its output points into its args
  EXPECT_FALSE(executor_->CanRunFromWire(Wire(with_echo).tasks));
  v1::ExecuteRequest unknown = sleeps;
  *unknown.add_tasks() = Task("no_such_kind");
  EXPECT_FALSE(executor_->CanRunFromWire(Wire(unknown).tasks));
}

// Ids, outputs, statuses, attempts and the fail-fast message: field by
// field the same as the parsed batch's, timings aside.
TEST_F(WireBatchTest, ResultsEqualTheParsedBatchs) {
  std::vector<v1::ExecuteRequest> cases(3);
  // Every task ends: retries (a per-task policy and the batch's), ids.
  v1::ExecuteRequest& collect = cases[0];
  collect.set_failure_policy(v1::COLLECT_ALL);
  collect.mutable_retry_policy()->set_max_attempts(3);
  collect.mutable_retry_policy()->add_retryable_status_codes("UNAVAILABLE");
  collect.mutable_retry_policy()->mutable_initial_backoff()->set_nanos(1000);
  *collect.add_tasks() = Sleep(0.01, "a");
  *collect.add_tasks() = Fail(14, 1, "b");  // retried by the batch's policy
  *collect.add_tasks() = Fail(5, 9, "c");   // NOT_FOUND: not retryable
  v1::Task own = Fail(13, 2, "d");
  own.mutable_retry_policy()->set_max_attempts(3);
  own.mutable_retry_policy()->add_retryable_status_codes("INTERNAL");
  *collect.add_tasks() = own;
  *collect.add_tasks() = Sleep(0, "");
  // Fail-fast at task 1, with tasks queued behind it (max_concurrency 1):
  // they end "not started", named by their ids.
  v1::ExecuteRequest& fast = cases[1];
  fast.set_max_concurrency(1);
  *fast.add_tasks() = Sleep(0.01, "first");
  *fast.add_tasks() = Fail(7, 1000, "breaks");
  for (int i = 0; i < 5; ++i) {
    *fast.add_tasks() = Sleep(1, "queued" + std::to_string(i));
  }
  // A per-task timeout.
  v1::ExecuteRequest& timeout = cases[2];
  timeout.set_failure_policy(v1::COLLECT_ALL);
  v1::Task slow = Sleep(5, "slow");
  slow.mutable_timeout()->set_nanos(20'000'000);
  *timeout.add_tasks() = slow;
  *timeout.add_tasks() = Sleep(0, "quick");

  for (size_t c = 0; c < cases.size(); ++c) {
    ASSERT_TRUE(executor_->CanRunFromWire(Wire(cases[c]).tasks)) << c;
    auto parsed = Run(Parsed(cases[c]))->ByIndex();
    auto wire = Run(Wire(cases[c]))->ByIndex();
    ASSERT_EQ(parsed.size(), wire.size()) << c;
    for (size_t i = 0; i < parsed.size(); ++i) {
      SCOPED_TRACE(testing::Message() << "case " << c << ", task " << i);
      EXPECT_EQ(wire[i].index(), parsed[i].index());
      EXPECT_EQ(wire[i].id(), parsed[i].id());
      EXPECT_EQ(wire[i].id(), cases[c].tasks(i).id());
      EXPECT_EQ(wire[i].status().code(), parsed[i].status().code());
      EXPECT_EQ(wire[i].status().message(), parsed[i].status().message());
      EXPECT_EQ(wire[i].attempts(), parsed[i].attempts());
      EXPECT_EQ(wire[i].output().SerializeAsString(),
                parsed[i].output().SerializeAsString());
    }
  }
  // The paths above were taken: retries, not-started tasks, a timeout.
  auto collected = Run(Wire(cases[0]))->ByIndex();
  EXPECT_EQ(collected[1].attempts(), 2u);
  EXPECT_EQ(collected[2].status().code(), 5);
  EXPECT_EQ(collected[3].attempts(), 3u);
  auto stopped = Run(Wire(cases[1]))->ByIndex();
  EXPECT_EQ(stopped[1].status().code(), 7);
  EXPECT_NE(stopped[6].status().message().find("not started"),
            std::string::npos)
      << stopped[6].status().message();
  EXPECT_NE(Run(Wire(cases[1]))
                ->summary()
                .outcome()
                .message()
                .find("(id \"breaks\")"),
            std::string::npos);
  auto timed = Run(Wire(cases[2]))->ByIndex();
  EXPECT_EQ(timed[0].status().code(),
            static_cast<int>(absl::StatusCode::kDeadlineExceeded));
}

TEST_F(WireBatchTest, TheFirstBadTaskIsNamedInEitherHalf) {
  // Big enough that Check parses the two halves at once.
  constexpr int kTasks = 30'000;
  v1::ExecuteRequest request;
  for (int i = 0; i < kTasks; ++i) *request.add_tasks() = Sleep(0);
  auto expect_named = [&](const v1::ExecuteRequest& r,
                          const std::string& want) {
    auto sink = std::make_shared<RecordingSink>();
    auto batch = executor_->Start(Wire(r), absl::InfiniteFuture(), sink);
    ASSERT_FALSE(batch.ok());
    EXPECT_EQ(batch.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(batch.status().message().find(want), std::string::npos)
        << batch.status().message();
  };
  v1::ExecuteRequest late = request;
  (*late.mutable_tasks(25'000)->mutable_args()->mutable_fields())["seconds"]
      .set_number_value(-1);
  expect_named(late, "tasks[25000]: args.seconds");
  v1::ExecuteRequest both = late;
  (*both.mutable_tasks(100)->mutable_args()->mutable_fields())["extra"]
      .set_number_value(1);
  expect_named(both, "tasks[100]:");

  // A task whose bytes are not a Task (a kind that is not UTF-8) is refused
  // by index too, though the rest of the request splits fine.
  v1::ExecuteRequest small;
  *small.add_tasks() = Sleep(0);
  *small.add_tasks() = Sleep(0);
  std::string bytes = small.SerializeAsString();
  const size_t at = bytes.rfind("sleep");
  bytes[at] = '\xff';
  auto raw = std::make_shared<const std::string>(bytes);
  auto top = std::make_shared<v1::ExecuteRequest>();
  absl::StatusOr<TaskList> tasks = SplitRequest(raw, top.get());
  ASSERT_TRUE(tasks.ok());
  auto sink = std::make_shared<RecordingSink>();
  auto batch = executor_->Start(BatchRequest{top, *std::move(tasks)},
                                absl::InfiniteFuture(), sink);
  ASSERT_FALSE(batch.ok());
  EXPECT_NE(batch.status().message().find("tasks[1]: not a valid"),
            std::string::npos)
      << batch.status().message();
}

// The parsed copy of a wire task lives only while its handler runs: a
// callback reading it later sees an empty task, not freed memory (ASan).
TEST_F(WireBatchTest, ATaskIsEmptyOnceItsHandlerReturned) {
  v1::ExecuteRequest request;
  v1::Task t = Task("late_reader", "x");
  (*t.mutable_args()->mutable_fields())["k"].set_string_value("v");
  t.set_payload("data");
  *request.add_tasks() = t;
  auto results = Run(Wire(request))->ByIndex();
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status().code(), 0);
  EXPECT_EQ(results[0].id(), "x");  // read from the wire bytes
  EXPECT_EQ(at_start_fields_.load(), 1);
  EXPECT_EQ(later_fields_.load(), 0);
  EXPECT_EQ(later_payload_, "");
  // Parsed whole, the same kind keeps its task.
  Run(Parsed(request));
  EXPECT_EQ(later_fields_.load(), 1);
  EXPECT_EQ(later_payload_, "data");
}

}  // namespace
}  // namespace batchexec
