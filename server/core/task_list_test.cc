#include "server/core/task_list.h"

#include <memory>
#include <string>

#include "batchexec/v1/batch.pb.h"
#include "google/protobuf/arena.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "server/core/request_parser.h"

namespace batchexec {
namespace {

using google::protobuf::util::MessageDifferencer;

// A request whose tasks are interleaved with its other fields on the wire,
// as any encoder may write them.
std::string Interleaved(v1::ExecuteRequest* whole) {
  v1::ExecuteRequest a, b, c;
  v1::Task* t = a.add_tasks();
  t->set_kind("sleep");
  t->set_id("first");
  (*t->mutable_args()->mutable_fields())["seconds"].set_number_value(1);
  b.set_max_concurrency(7);
  b.set_failure_policy(v1::COLLECT_ALL);
  t = c.add_tasks();
  t->set_kind("fail");
  t->set_payload("\x01\x02");
  t->mutable_timeout()->set_seconds(3);
  c.add_tasks()->set_kind("sleep");
  c.mutable_task_timeout()->set_seconds(9);
  const std::string bytes =
      a.SerializeAsString() + b.SerializeAsString() + c.SerializeAsString();
  EXPECT_TRUE(whole->ParseFromString(bytes));
  return bytes;
}

TEST(TaskList, SplitKeepsTheTasksAsBytesAndParsesTheRest) {
  v1::ExecuteRequest whole;
  auto bytes = std::make_shared<const std::string>(Interleaved(&whole));
  v1::ExecuteRequest top;
  absl::StatusOr<TaskList> tasks = SplitRequest(bytes, &top);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  EXPECT_FALSE(tasks->parsed());
  ASSERT_EQ(tasks->size(), 3);
  v1::ExecuteRequest expected_top = whole;
  expected_top.clear_tasks();
  EXPECT_TRUE(MessageDifferencer::Equals(top, expected_top))
      << top.DebugString();
  google::protobuf::Arena arena;
  for (int i = 0; i < 3; ++i) {
    const v1::Task* task = tasks->Get(i, &arena);
    ASSERT_NE(task, nullptr) << i;
    EXPECT_TRUE(MessageDifferencer::Equals(*task, whole.tasks(i))) << i;
    EXPECT_EQ(tasks->Kind(i), whole.tasks(i).kind()) << i;
    EXPECT_EQ(tasks->Id(i), whole.tasks(i).id()) << i;
  }
}

TEST(TaskList, ParsedListReadsTheRequestsOwnTasks) {
  auto request = std::make_shared<v1::ExecuteRequest>();
  Interleaved(request.get());
  TaskList tasks(request);
  EXPECT_TRUE(tasks.parsed());
  ASSERT_EQ(tasks.size(), 3);
  EXPECT_EQ(tasks.Get(1, nullptr), &request->tasks(1));  // no copy
  EXPECT_EQ(tasks.Id(0), "first");
  EXPECT_EQ(tasks.Kind(1), "fail");
}

// proto3: of a field written twice, the last value counts, as in a parse.
TEST(TaskList, KindAndIdAreTheLastValueWritten) {
  v1::Task first, second;
  first.set_kind("echo");
  first.set_id("a");
  second.set_id("b");
  second.set_kind("sleep");
  v1::ExecuteRequest one;
  one.add_tasks()->set_kind("x");
  std::string task_bytes =
      first.SerializeAsString() + second.SerializeAsString();
  // Field 1 (tasks), length-delimited, carrying both encodings as one Task.
  std::string request;
  request.push_back(static_cast<char>(0x0a));
  request.push_back(static_cast<char>(task_bytes.size()));
  request += task_bytes;
  auto bytes = std::make_shared<const std::string>(request);
  v1::ExecuteRequest top;
  absl::StatusOr<TaskList> tasks = SplitRequest(bytes, &top);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  v1::ExecuteRequest plain;
  ASSERT_TRUE(plain.ParseFromString(request));
  EXPECT_EQ(tasks->Kind(0), plain.tasks(0).kind());
  EXPECT_EQ(tasks->Id(0), plain.tasks(0).id());
  EXPECT_EQ(tasks->Kind(0), "sleep");
  EXPECT_EQ(tasks->Id(0), "b");
}

TEST(TaskList, MalformedRequestsAreRefused) {
  v1::ExecuteRequest whole;
  const std::string good = Interleaved(&whole);
  for (const std::string& bad : {
           good.substr(0, good.size() - 1),     // cut inside a field
           std::string("\x0a\x05\x0a\x01", 4),  // task longer than the bytes
           std::string("\x00\x01", 2),          // tag 0
           std::string("\x0f", 1),              // wire type 7
           good + std::string("\xff", 1),       // a varint that never ends
       }) {
    v1::ExecuteRequest top;
    EXPECT_FALSE(
        SplitRequest(std::make_shared<const std::string>(bad), &top).ok())
        << bad.size();
  }
  v1::ExecuteRequest top;
  absl::StatusOr<TaskList> empty =
      SplitRequest(std::make_shared<const std::string>(), &top);
  ASSERT_TRUE(empty.ok());
  EXPECT_EQ(empty->size(), 0);
}

// A task's own bytes are only checked when it is read (Executor reads each
// once when it validates the batch): a task that is not a Task gives null.
TEST(TaskList, ATaskThatDoesNotParseGivesNull) {
  v1::Task bad_utf8;
  bad_utf8.set_kind(std::string("\xff\xfe", 2));  // proto3 strings are UTF-8
  std::string task_bytes = bad_utf8.SerializePartialAsString();
  std::string request("\x0a", 1);
  request.push_back(static_cast<char>(task_bytes.size()));
  request += task_bytes;
  v1::ExecuteRequest top;
  absl::StatusOr<TaskList> tasks =
      SplitRequest(std::make_shared<const std::string>(request), &top);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 1);
  google::protobuf::Arena arena;
  EXPECT_EQ(tasks->Get(0, &arena), nullptr);
}

}  // namespace
}  // namespace batchexec
