#include "client/task.h"

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

const google::protobuf::Value& Field(const Task& task, const std::string& k) {
  return task.proto().args().fields().at(k);
}

TEST(Task, SleepTakesSeconds) {
  Task task = Task::Sleep(absl::Milliseconds(1500));
  EXPECT_EQ(task.kind(), "sleep");
  EXPECT_DOUBLE_EQ(Field(task, "seconds").number_value(), 1.5);
}

TEST(Task, OfTakesKeyValuesOfEveryType) {
  Task task = Task::Of("k", {{"n", 3},
                             {"x", 2.5},
                             {"s", "text"},
                             {"b", true},
                             {"o", MakeArgs({{"inner", 1}})}});
  EXPECT_EQ(task.kind(), "k");
  EXPECT_DOUBLE_EQ(Field(task, "n").number_value(), 3);
  EXPECT_DOUBLE_EQ(Field(task, "x").number_value(), 2.5);
  EXPECT_EQ(Field(task, "s").string_value(), "text");
  EXPECT_TRUE(Field(task, "b").bool_value());
  EXPECT_DOUBLE_EQ(
      Field(task, "o").struct_value().fields().at("inner").number_value(), 1);
}

TEST(Task, OfTakesAStruct) {
  google::protobuf::Struct args;
  (*args.mutable_fields())["n"].set_number_value(7);
  Task task = Task::Of("primes", args);
  EXPECT_DOUBLE_EQ(Field(task, "n").number_value(), 7);
}

TEST(Task, FailCarriesCodeAndMessage) {
  Task task = Task::Fail(absl::StatusCode::kNotFound, "gone");
  EXPECT_EQ(task.kind(), "fail");
  EXPECT_DOUBLE_EQ(Field(task, "code").number_value(), 5);
  EXPECT_EQ(Field(task, "message").string_value(), "gone");
}

TEST(Task, TcpProbeCarriesTarget) {
  Task task = Task::TcpProbe("127.0.0.1", 8080, absl::Milliseconds(250));
  EXPECT_EQ(task.kind(), "tcp_probe");
  EXPECT_EQ(Field(task, "host").string_value(), "127.0.0.1");
  EXPECT_DOUBLE_EQ(Field(task, "port").number_value(), 8080);
  EXPECT_DOUBLE_EQ(Field(task, "timeout").number_value(), 0.25);
}

TEST(Task, NetworkKindsCarryTheirMainArgAndTheOthers) {
  Task http = Task::Http("http://127.0.0.1:8080/health",
                         {{"method", "HEAD"}, {"timeout", 2}});
  EXPECT_EQ(http.kind(), "http");
  EXPECT_EQ(Field(http, "url").string_value(), "http://127.0.0.1:8080/health");
  EXPECT_EQ(Field(http, "method").string_value(), "HEAD");
  EXPECT_DOUBLE_EQ(Field(http, "timeout").number_value(), 2);

  Task health = Task::GrpcHealth("127.0.0.1:50051", {{"service", "orders"}});
  EXPECT_EQ(health.kind(), "grpc_health");
  EXPECT_EQ(Field(health, "target").string_value(), "127.0.0.1:50051");
  EXPECT_EQ(Field(health, "service").string_value(), "orders");

  Task dns = Task::Dns("localhost");
  EXPECT_EQ(dns.kind(), "dns");
  EXPECT_EQ(Field(dns, "name").string_value(), "localhost");
  EXPECT_EQ(dns.proto().args().fields_size(), 1);
}

TEST(Task, WithSettersChainOnTemporaries) {
  Task task = Task::Echo({{"x", 1}})
                  .WithId("a")
                  .WithTimeout(absl::Milliseconds(2500))
                  .WithPayload(std::string("\0\1", 2));
  EXPECT_EQ(task.id(), "a");
  EXPECT_EQ(task.proto().timeout().seconds(), 2);
  EXPECT_EQ(task.proto().timeout().nanos(), 500'000'000);
  EXPECT_EQ(task.proto().payload(), std::string("\0\1", 2));
}

TEST(Task, WithSettersModifyLvalues) {
  Task task = Task::Sleep(absl::Seconds(1));
  task.WithId("b").WithTimeout(absl::Seconds(3));
  EXPECT_EQ(task.id(), "b");
  EXPECT_EQ(task.proto().timeout().seconds(), 3);
}

TEST(Task, WrapsAWireTask) {
  v1::Task proto;
  proto.set_kind("echo");
  proto.set_id("w");
  Task task(proto);
  EXPECT_EQ(task.kind(), "echo");
  EXPECT_EQ(task.id(), "w");
}

}  // namespace
}  // namespace batchexec
