// Deeply nested args and results: the server refuses args whose echo no
// client could parse, and the SDK fails a stream whose events it cannot
// parse at once, instead of waiting for the call's deadline.
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/core/limits.h"
#include "tests/test_util/local_server_test.h"

namespace batchexec {
namespace {

using google::protobuf::Struct;
using ::testing::HasSubstr;

// Far below it, so a call waiting for its deadline fails the test.
constexpr absl::Duration kCallTimeout = absl::Seconds(10);
constexpr absl::Duration kPrompt = absl::Seconds(3);

// {"a": {"a": ... {"leaf": 1}}} with `depth` objects, the shape that costs
// protobuf the most message levels per JSON level.
Struct NestedObjects(int depth) {
  Struct args;
  (*args.mutable_fields())["leaf"].set_number_value(1);
  for (int i = 1; i < depth; ++i) {
    Struct outer;
    *(*outer.mutable_fields())["a"].mutable_struct_value() = std::move(args);
    args = std::move(outer);
  }
  return args;
}

GatherOptions Bounded() {
  GatherOptions options;
  options.timeout = kCallTimeout;
  return options;
}

class NestingDepthTest : public LocalServerTest {};

TEST_F(NestingDepthTest, EchoesArgsNestedAtTheLimitWhole) {
  const Struct args = NestedObjects(kMaxArgsDepth);
  absl::StatusOr<std::vector<TaskOutput>> outputs =
      client_->Gather({Task::Echo(args)}, Bounded());
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), 1u);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      (*outputs)[0].output.struct_value(), args));
}

TEST_F(NestingDepthTest, RejectsArgsOneLevelPastTheLimitNamingTaskAndLimit) {
  const absl::Time start = absl::Now();
  std::vector<absl::StatusOr<TaskOutput>> results = client_->GatherAll(
      {Task::Echo({{"x", 1}}), Task::Echo(NestedObjects(kMaxArgsDepth + 1))},
      Bounded());
  EXPECT_LT(absl::Now() - start, kPrompt);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& result : results) {
    EXPECT_EQ(result.status().code(), absl::StatusCode::kInvalidArgument)
        << result.status();
    EXPECT_THAT(result.status().message(), HasSubstr("tasks[1]"));
    EXPECT_THAT(result.status().message(), HasSubstr("args"));
    EXPECT_THAT(result.status().message(),
                HasSubstr(absl::StrCat("limit of ", kMaxArgsDepth)));
  }
}

// The review's case: deep enough that the echo would be too deep for the
// client's parser, shallow enough that the server can parse the request.
TEST_F(NestingDepthTest, RejectsArgsWhoseEchoNoClientCouldParsePromptly) {
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<TaskOutput>> outputs =
      client_->Gather({Task::Echo(NestedObjects(33))}, Bounded());
  EXPECT_LT(absl::Now() - start, kPrompt);
  EXPECT_EQ(outputs.status().code(), absl::StatusCode::kInvalidArgument)
      << outputs.status();
  EXPECT_THAT(outputs.status().message(), HasSubstr("args"));
}

// A server that answers every call with `frames`, raw, then keeps the call
// open until the client cancels it, as a server with more to send would.
class RawFramesService : public grpc::CallbackGenericService {
 public:
  explicit RawFramesService(std::vector<std::string> frames)
      : frames_(std::move(frames)) {}

  grpc::ServerGenericBidiReactor* CreateReactor(
      grpc::GenericCallbackServerContext* /*context*/) override {
    return new Reactor(frames_);
  }

 private:
  class Reactor : public grpc::ServerGenericBidiReactor {
   public:
    explicit Reactor(const std::vector<std::string>& frames) {
      for (const std::string& frame : frames) {
        grpc::Slice slice(frame);
        frames_.emplace_back(&slice, 1);
      }
      StartRead(&request_);
    }

    void OnReadDone(bool ok) override {
      if (ok) WriteNext();
    }
    void OnWriteDone(bool ok) override {
      if (ok) WriteNext();
    }
    void OnCancel() override {
      std::lock_guard<std::mutex> lock(mu_);
      if (!finished_) {
        finished_ = true;
        Finish(grpc::Status::CANCELLED);
      }
    }
    void OnDone() override { delete this; }

   private:
    void WriteNext() {
      if (next_ < frames_.size()) StartWrite(&frames_[next_++]);
    }

    grpc::ByteBuffer request_;
    std::vector<grpc::ByteBuffer> frames_;
    size_t next_ = 0;  // only the read and write reactions, in turn
    std::mutex mu_;
    bool finished_ = false;
  };

  const std::vector<std::string> frames_;
};

class UnparseableEventsTest : public ::testing::Test {
 protected:
  void Serve(std::vector<std::string> frames) {
    service_ = std::make_unique<RawFramesService>(std::move(frames));
    grpc::ServerBuilder builder;
    int port = 0;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port);
    builder.RegisterCallbackGenericService(service_.get());
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
    client_ = std::make_unique<Client>(grpc::CreateChannel(
        absl::StrCat("127.0.0.1:", port), grpc::InsecureChannelCredentials()));
  }

  void TearDown() override {
    if (server_ != nullptr) {
      server_->Shutdown(std::chrono::system_clock::now());
    }
  }

  std::unique_ptr<RawFramesService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<Client> client_;
};

v1::ExecuteEvent Accepted(int tasks) {
  v1::ExecuteEvent event;
  event.mutable_accepted()->set_task_count(tasks);
  return event;
}

v1::ExecuteEvent Result(int index, Struct output) {
  v1::ExecuteEvent event;
  v1::TaskResult* result = event.mutable_results()->add_results();
  result->set_index(index);
  result->mutable_status();
  *result->mutable_output()->mutable_struct_value() = std::move(output);
  return event;
}

TEST_F(UnparseableEventsTest, FailsTheCallPromptlyOnBytesThatAreNoEvent) {
  // Field 1 claims 5 bytes and has 2.
  Serve({Accepted(1).SerializeAsString(), std::string("\x0a\x05"
                                                      "ab",
                                                      4)});
  const absl::Time start = absl::Now();
  std::vector<absl::StatusOr<TaskOutput>> results =
      client_->GatherAll({Task::Echo({{"x", 1}})}, Bounded());
  EXPECT_LT(absl::Now() - start, kPrompt);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status().code(), absl::StatusCode::kInternal)
      << results[0].status();
  EXPECT_THAT(results[0].status().message(),
              HasSubstr("could not parse an ExecuteEvent"));
}

TEST_F(UnparseableEventsTest, FailsOnlyTheTasksWithoutAResultOnATooDeepEvent) {
  Serve({Accepted(2).SerializeAsString(),
         Result(0, NestedObjects(2)).SerializeAsString(),
         Result(1, NestedObjects(kMaxArgsDepth + 5)).SerializeAsString()});
  const absl::Time start = absl::Now();
  std::vector<absl::StatusOr<TaskOutput>> results = client_->GatherAll(
      {Task::Echo(NestedObjects(2)), Task::Echo({{"x", 1}})}, Bounded());
  EXPECT_LT(absl::Now() - start, kPrompt);
  ASSERT_EQ(results.size(), 2u);
  ASSERT_TRUE(results[0].ok()) << results[0].status();
  EXPECT_EQ(results[1].status().code(), absl::StatusCode::kInternal)
      << results[1].status();
  EXPECT_THAT(results[1].status().message(), HasSubstr("nest"));
}

}  // namespace
}  // namespace batchexec
