// A task kind whose result text is not valid UTF-8: the server replaces
// that result by an INTERNAL failure naming the field, before it is
// streamed, so the other results of its chunk reach the client intact.
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/core/task_registry.h"
#include "server/rpc/server.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// `bad_output`: an output string with a stray byte; `bad_key`: an object
// key with one; `bad_message`: a failure message with one; `good`: {"ok":1}.
std::unique_ptr<TaskRegistry> Kinds() {
  auto registry = std::make_unique<TaskRegistry>();
  auto add = [&](const std::string& name,
                 std::function<void(std::shared_ptr<TaskContext>)> run) {
    TaskKind kind;
    kind.name = name;
    kind.description = "test";
    kind.handler = std::move(run);
    EXPECT_TRUE(registry->Register(std::move(kind)).ok());
  };
  add("good", [](std::shared_ptr<TaskContext> task) {
    HandlerOutput out;
    (*out.output.mutable_struct_value()->mutable_fields())["ok"]
        .set_number_value(1);
    task->Finish(std::move(out));
  });
  add("bad_output", [](std::shared_ptr<TaskContext> task) {
    HandlerOutput out;
    auto& fields = *out.output.mutable_struct_value()->mutable_fields();
    fields["list"].mutable_list_value()->add_values()->set_string_value("fine");
    fields["list"].mutable_list_value()->add_values()->set_string_value(
        "caf\xe9");  // Latin-1, not UTF-8
    task->Finish(std::move(out));
  });
  add("bad_key", [](std::shared_ptr<TaskContext> task) {
    HandlerOutput out;
    (*out.output.mutable_struct_value()->mutable_fields())["\xff"]
        .set_number_value(1);
    task->Finish(std::move(out));
  });
  add("bad_message", [](std::shared_ptr<TaskContext> task) {
    task->Finish(absl::UnavailableError("no \xc3\x28 route"));
  });
  return registry;
}

Task Kind(const std::string& kind) {
  v1::Task task;
  task.set_kind(kind);
  return Task(std::move(task));
}

TEST(InvalidUtf8, OnlyTheBadResultFailsAndItNamesTheField) {
  ServerOptions options;
  auto server = Server::BuildAndStart(options, Kinds());
  ASSERT_TRUE(server.ok()) << server.status();
  Client client(grpc::CreateChannel((*server)->target(),
                                    grpc::InsecureChannelCredentials()));
  // One chunk: results of fast tasks share a message.
  std::vector<Task> tasks;
  for (int i = 0; i < 10; ++i) tasks.push_back(Kind("good"));
  tasks.push_back(Kind("bad_output"));
  tasks.push_back(Kind("bad_key"));
  tasks.push_back(Kind("bad_message"));
  for (int i = 0; i < 10; ++i) tasks.push_back(Kind("good"));
  std::vector<absl::StatusOr<TaskOutput>> results =
      client.GatherAll(std::move(tasks));
  ASSERT_EQ(results.size(), 23u);
  for (size_t i : {0, 9, 13, 22}) {
    ASSERT_TRUE(results[i].ok()) << i << ": " << results[i].status();
    EXPECT_EQ(
        results[i]->output.struct_value().fields().at("ok").number_value(), 1);
  }
  EXPECT_EQ(results[10].status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(results[10].status().message(),
              HasSubstr("field output.list[1] is not valid UTF-8"));
  EXPECT_EQ(results[11].status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(results[11].status().message(), HasSubstr("(a key)"));
  EXPECT_EQ(results[12].status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(results[12].status().message(),
              HasSubstr("field status.message is not valid UTF-8"));
  (*server)->Shutdown(absl::ZeroDuration());
}

// With fail-fast, the bad message is also the batch's outcome: it must not
// poison the Summary either.
TEST(InvalidUtf8, ABadFailureMessageDoesNotPoisonTheSummary) {
  auto server = Server::BuildAndStart(ServerOptions(), Kinds());
  ASSERT_TRUE(server.ok()) << server.status();
  Client client(grpc::CreateChannel((*server)->target(),
                                    grpc::InsecureChannelCredentials()));
  absl::StatusOr<std::vector<TaskOutput>> outputs =
      client.Gather({Kind("good"), Kind("bad_message")});
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kInternal);
  EXPECT_THAT(outputs.status().message(), HasSubstr("status.message"));
  EXPECT_THAT(outputs.status().message(), Not(HasSubstr("could not parse")));
  (*server)->Shutdown(absl::ZeroDuration());
}

}  // namespace
}  // namespace batchexec
