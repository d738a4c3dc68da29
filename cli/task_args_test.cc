#include "cli/task_args.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;

double Number(const v1::Task& task, const std::string& field) {
  return task.args().fields().at(field).number_value();
}

TEST(ParseTaskArg, NumberSetsSleepSecondsAndPrimesN) {
  auto sleep = ParseTaskArg("sleep:2.5");
  ASSERT_TRUE(sleep.ok()) << sleep.status();
  EXPECT_EQ(sleep->kind(), "sleep");
  EXPECT_DOUBLE_EQ(Number(*sleep, "seconds"), 2.5);
  auto primes = ParseTaskArg("primes:1000");
  ASSERT_TRUE(primes.ok()) << primes.status();
  EXPECT_DOUBLE_EQ(Number(*primes, "n"), 1000);
}

TEST(ParseTaskArg, NetworkKindsTakeTheirMainArgAsText) {
  auto http = ParseTaskArg("http:http://127.0.0.1:8080/a?b=1");
  ASSERT_TRUE(http.ok()) << http.status();
  EXPECT_EQ(http->kind(), "http");
  EXPECT_EQ(http->args().fields().at("url").string_value(),
            "http://127.0.0.1:8080/a?b=1");
  auto health = ParseTaskArg("grpc_health:127.0.0.1:50051");
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(health->args().fields().at("target").string_value(),
            "127.0.0.1:50051");
  auto dns = ParseTaskArg("dns:localhost");
  ASSERT_TRUE(dns.ok()) << dns.status();
  EXPECT_EQ(dns->args().fields().at("name").string_value(), "localhost");
  // A JSON object still gives every arg.
  auto full = ParseTaskArg("http:{\"url\":\"http://x/\",\"method\":\"HEAD\"}");
  ASSERT_TRUE(full.ok()) << full.status();
  EXPECT_EQ(full->args().fields().at("method").string_value(), "HEAD");
}

TEST(ParseTaskArg, JsonObjectSetsArgs) {
  auto task = ParseTaskArg("fail:{\"code\":5,\"message\":\"x\"}");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->kind(), "fail");
  EXPECT_DOUBLE_EQ(Number(*task, "code"), 5);
}

TEST(ParseTaskArg, EmptyArgsAreAllowed) {
  auto task = ParseTaskArg("echo:");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->kind(), "echo");
  EXPECT_TRUE(task->args().fields().empty());
}

TEST(ParseTaskArg, WholeTaskJson) {
  auto task = ParseTaskArg("{\"kind\":\"echo\",\"id\":\"a\"}");
  ASSERT_TRUE(task.ok()) << task.status();
  EXPECT_EQ(task->id(), "a");
}

TEST(ParseTaskArg, ExplainsMistakes) {
  EXPECT_THAT(std::string(ParseTaskArg("echo:5").status().message()),
              HasSubstr("bare number"));
  EXPECT_THAT(std::string(ParseTaskArg("sleep:soon").status().message()),
              HasSubstr("sleep:soon"));
  EXPECT_FALSE(ParseTaskArg("echo:{bad").ok());
  EXPECT_FALSE(ParseTaskArg("{\"id\":\"no kind\"}").ok());
}

TEST(LooksLikeTaskArg, TellsTasksFromFiles) {
  EXPECT_TRUE(LooksLikeTaskArg("sleep:1"));
  EXPECT_TRUE(LooksLikeTaskArg("tcp_probe:{}"));
  EXPECT_TRUE(LooksLikeTaskArg("{\"kind\":\"echo\"}"));
  EXPECT_FALSE(LooksLikeTaskArg("tasks.jsonl"));
  EXPECT_FALSE(LooksLikeTaskArg("-"));
  EXPECT_FALSE(LooksLikeTaskArg("./dir:x/tasks.jsonl"));
  EXPECT_FALSE(LooksLikeTaskArg(":1"));
}

}  // namespace
}  // namespace batchexec
