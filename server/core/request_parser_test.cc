#include "server/core/request_parser.h"

#include <string>

#include "absl/synchronization/notification.h"
#include "batchexec/v1/batch.pb.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/core/worker_pool.h"

namespace batchexec {
namespace {

v1::ExecuteRequest Tasks(int n, int first = 0) {
  v1::ExecuteRequest request;
  for (int i = first; i < first + n; ++i) {
    v1::Task* task = request.add_tasks();
    task->set_kind(i % 2 ? "echo" : "sleep");
    task->set_id(std::to_string(i));
    (*task->mutable_args()->mutable_fields())["i"].set_number_value(i);
  }
  return request;
}

// Parses `bytes` split in two (a tiny threshold forces the split) and checks
// the result equals a plain parse.
void ExpectSameAsPlainParse(const std::string& bytes, WorkerPool& pool) {
  v1::ExecuteRequest plain;
  ASSERT_TRUE(plain.ParseFromString(bytes));
  google::protobuf::Arena arena;
  auto parsed = ParseRequest(bytes, &arena, &pool, /*parallel_bytes=*/1);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  EXPECT_TRUE(
      google::protobuf::util::MessageDifferencer::Equals(plain, **parsed));
}

TEST(RequestParser, SplitParseEqualsPlainParse) {
  WorkerPool pool(1);
  v1::ExecuteRequest request = Tasks(1000);
  request.set_max_concurrency(7);
  request.set_failure_policy(v1::COLLECT_ALL);
  request.mutable_task_timeout()->set_seconds(3);
  ExpectSameAsPlainParse(request.SerializeAsString(), pool);
}

TEST(RequestParser, FieldsBetweenAndAfterTheTasksKeepParseOrder) {
  WorkerPool pool(1);
  // Concatenated encodings merge: tasks, a scalar, more tasks, the scalar
  // again (the last value wins), more tasks.
  v1::ExecuteRequest a;
  a.set_max_concurrency(5);
  v1::ExecuteRequest b;
  b.set_max_concurrency(9);
  const std::string bytes =
      Tasks(300).SerializeAsString() + a.SerializeAsString() +
      Tasks(300, 300).SerializeAsString() + b.SerializeAsString() +
      Tasks(10, 600).SerializeAsString();
  ExpectSameAsPlainParse(bytes, pool);
}

TEST(RequestParser, MalformedBytesAreInvalidArgumentEitherWay) {
  WorkerPool pool(1);
  const std::string good = Tasks(500).SerializeAsString();
  // Bad inside a task of the second half (framing intact: the split parse
  // runs), and bad framing (a truncated last task).
  std::string bad_task = good;
  bad_task[bad_task.rfind("sleep")] = '\xff';  // kind: not UTF-8
  const std::string truncated = good.substr(0, good.size() - 3);
  for (const std::string& bytes : {bad_task, truncated}) {
    ASSERT_FALSE(v1::ExecuteRequest().ParseFromString(bytes));
    for (size_t threshold : {size_t{1}, size_t{1} << 30}) {
      google::protobuf::Arena arena;
      auto parsed = ParseRequest(bytes, &arena, &pool, threshold);
      EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
}

TEST(RequestParser, WorksWithoutHelpersAndWithABusyPool) {
  const std::string bytes = Tasks(2000).SerializeAsString();
  google::protobuf::Arena arena;
  auto alone = ParseRequest(bytes, &arena, nullptr, 1);
  ASSERT_TRUE(alone.ok());
  EXPECT_EQ((*alone)->tasks_size(), 2000);
  // The only helper is stuck: the caller parses both halves itself.
  WorkerPool pool(1);
  absl::Notification release;
  pool.Post([&release] { release.WaitForNotification(); });
  auto busy = ParseRequest(bytes, &arena, &pool, 1);
  release.Notify();
  ASSERT_TRUE(busy.ok());
  EXPECT_EQ((*busy)->tasks_size(), 2000);
  EXPECT_EQ((*busy)->tasks(1999).id(), "1999");
}

TEST(CountTasks, CountsTopLevelTasksWithoutParsing) {
  v1::ExecuteRequest request;
  for (int i = 0; i < 1234; ++i) {
    v1::Task* task = request.add_tasks();
    task->set_kind("echo");
    (*task->mutable_args()->mutable_fields())["x"].set_string_value("y");
  }
  request.set_max_concurrency(7);  // fields after the tasks are skipped
  request.mutable_task_timeout()->set_seconds(3);
  const std::string bytes = request.SerializeAsString();
  google::protobuf::io::ArrayInputStream in(bytes.data(),
                                            static_cast<int>(bytes.size()), 7);
  absl::StatusOr<int64_t> count = CountTasks(in);
  ASSERT_TRUE(count.ok()) << count.status();
  EXPECT_EQ(*count, 1234);
}

TEST(CountTasks, TruncatedBytesAreInvalidArgument) {
  v1::ExecuteRequest request;
  request.add_tasks()->set_kind("echo");
  std::string bytes = request.SerializeAsString();
  bytes.pop_back();
  google::protobuf::io::ArrayInputStream in(bytes.data(),
                                            static_cast<int>(bytes.size()));
  EXPECT_EQ(CountTasks(in).status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace batchexec
