#include "cli/task_reader.h"

#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;
using ::testing::StartsWith;

TEST(ParseTasksJsonl, ReadsOneTaskPerLineInOrder) {
  auto tasks = ParseTasksJsonl(
      "{\"kind\":\"sleep\",\"args\":{\"seconds\":1},\"id\":\"a\"}\n"
      "{\"kind\":\"echo\",\"args\":{\"x\":[1,2]},\"timeout\":\"2.5s\"}\n"
      "{\"kind\":\"fail\",\"payload\":\"AAE=\"}\n");
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 3u);
  EXPECT_EQ((*tasks)[0].kind(), "sleep");
  EXPECT_EQ((*tasks)[0].id(), "a");
  EXPECT_DOUBLE_EQ((*tasks)[0].args().fields().at("seconds").number_value(), 1);
  EXPECT_EQ((*tasks)[1].timeout().seconds(), 2);
  EXPECT_EQ((*tasks)[1].timeout().nanos(), 500'000'000);
  EXPECT_EQ((*tasks)[2].payload(), std::string("\0\1", 2));
}

TEST(ParseTasksJsonl, SkipsBlankLinesAndAcceptsCrlfBomAndNoFinalNewline) {
  auto tasks = ParseTasksJsonl(
      "\xEF\xBB\xBF{\"kind\":\"echo\"}\r\n\r\n   \n\t{\"kind\":\"sleep\"}");
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), 2u);
  EXPECT_EQ((*tasks)[1].kind(), "sleep");
}

TEST(ParseTasksJsonl, EmptyInputIsAnEmptyBatch) {
  auto tasks = ParseTasksJsonl("");
  ASSERT_TRUE(tasks.ok());
  EXPECT_TRUE(tasks->empty());
  EXPECT_TRUE(ParseTasksJsonl("\n\n").value().empty());
}

TEST(ParseTasksJsonl, NamesTheLineOfBrokenJson) {
  auto tasks = ParseTasksJsonl(
      "{\"kind\":\"echo\"}\n"
      "\n"
      "{\"kind\":\"sleep\",\"args\":{\"seconds\":1}\n");
  ASSERT_FALSE(tasks.ok());
  EXPECT_EQ(tasks.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(tasks.status().message()), StartsWith("line 3: "));
}

TEST(ParseTasksJsonl, RejectsUnknownFields) {
  auto tasks = ParseTasksJsonl("{\"kind\":\"echo\"}\n{\"knd\":\"echo\"}\n");
  ASSERT_FALSE(tasks.ok());
  EXPECT_THAT(std::string(tasks.status().message()), StartsWith("line 2: "));
  EXPECT_THAT(std::string(tasks.status().message()), HasSubstr("knd"));
}

TEST(ParseTasksJsonl, RejectsWrongTypes) {
  auto tasks = ParseTasksJsonl("{\"kind\":\"sleep\",\"args\":5}\n");
  ASSERT_FALSE(tasks.ok());
  EXPECT_THAT(std::string(tasks.status().message()), StartsWith("line 1: "));
}

TEST(ParseTasksJsonl, RejectsAMissingKind) {
  auto tasks = ParseTasksJsonl("{\"args\":{}}\n");
  ASSERT_FALSE(tasks.ok());
  EXPECT_EQ(tasks.status().message(), "line 1: \"kind\" is missing or empty");
}

TEST(ParseTasksJsonl, RejectsLinesThatAreNotObjects) {
  for (const char* line : {"[1,2]", "sleep:1", "\"x\"", "42"}) {
    auto tasks = ParseTasksJsonl(line);
    ASSERT_FALSE(tasks.ok()) << line;
    EXPECT_THAT(std::string(tasks.status().message()), StartsWith("line 1: "))
        << line;
  }
}

TEST(ParseTasksJsonl, SurvivesHostileInput) {
  // What a fuzzer would try first: deep nesting, bad UTF-8, NULs.
  std::string deep = "{\"kind\":\"echo\",\"args\":{\"a\":";
  for (int i = 0; i < 10'000; ++i) deep += "[";
  EXPECT_FALSE(ParseTasksJsonl(deep).ok());
  EXPECT_FALSE(ParseTasksJsonl("{\"kind\":\"\xff\xfe\"}").ok());
  EXPECT_FALSE(ParseTasksJsonl(std::string("{\"kind\":\"a\0\"}", 14)).ok());
}

}  // namespace
}  // namespace batchexec
