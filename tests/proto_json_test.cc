// The wire contract through proto3 JSON (what grpcurl sends) and the gRPC
// stubs generated from it.
#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include <string>
#include <type_traits>

#include "batchexec/v1/batch.grpc.pb.h"
#include "batchexec/v1/batch.pb.h"
#include "gtest/gtest.h"

namespace {

using ::batchexec::v1::ExecuteRequest;
using ::google::protobuf::util::JsonStringToMessage;
using ::google::protobuf::util::MessageToJsonString;

constexpr char kRequestJson[] =
    R"({"tasks":[{"kind":"sleep","args":{"seconds":0.5},"timeout":"1.5s"}],)"
    R"("failurePolicy":"COLLECT_ALL","maxConcurrency":4})";

ExecuteRequest ParseRequest(const std::string& json) {
  ExecuteRequest request;
  const auto status = JsonStringToMessage(json, &request);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return request;
}

TEST(ProtoJson, ParsesExecuteRequest) {
  const ExecuteRequest request = ParseRequest(kRequestJson);

  ASSERT_EQ(request.tasks_size(), 1);
  const auto& task = request.tasks(0);
  EXPECT_EQ(task.kind(), "sleep");
  ASSERT_TRUE(task.args().fields().contains("seconds"));
  EXPECT_DOUBLE_EQ(task.args().fields().at("seconds").number_value(), 0.5);
  EXPECT_EQ(task.timeout().seconds(), 1);
  EXPECT_EQ(task.timeout().nanos(), 500000000);
  EXPECT_EQ(request.failure_policy(), batchexec::v1::COLLECT_ALL);
  EXPECT_EQ(request.max_concurrency(), 4u);
  EXPECT_FALSE(request.has_task_timeout());
}

TEST(ProtoJson, RoundTripsExecuteRequest) {
  const ExecuteRequest request = ParseRequest(kRequestJson);

  std::string json;
  const auto status = MessageToJsonString(request, &json);
  ASSERT_TRUE(status.ok()) << status.ToString();
  EXPECT_NE(json.find(R"("failurePolicy":"COLLECT_ALL")"), std::string::npos)
      << json;
  EXPECT_NE(json.find(R"("timeout":"1.500s")"), std::string::npos) << json;

  const ExecuteRequest again = ParseRequest(json);
  EXPECT_EQ(again.SerializeAsString(), request.SerializeAsString());
}

TEST(ProtoJson, RejectsUnknownFailurePolicy) {
  ExecuteRequest request;
  EXPECT_FALSE(
      JsonStringToMessage(R"({"failurePolicy":"SOMETIMES"})", &request).ok());
}

// The callback-API service the server implements must exist in the stubs.
class NoopService final : public batchexec::v1::BatchExecutor::CallbackService {
};

static_assert(std::is_base_of_v<grpc::Service, NoopService>,
              "CallbackService is a grpc::Service");

TEST(ProtoJson, GrpcStubsCompile) {
  NoopService service;
  grpc::ServerBuilder builder;
  builder.RegisterService(&service);

  auto channel =
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
  auto stub = batchexec::v1::BatchExecutor::NewStub(channel);
  EXPECT_NE(stub, nullptr);
}

}  // namespace
