#include "cli/task_reader.h"

#include <set>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
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

// Both ways of parsing agree: whole, and cut in two halves at once.
void ExpectSameEitherWay(const std::string& text) {
  auto whole = ParseTasksJsonl(text, std::string::npos);
  auto split = ParseTasksJsonl(text, 1);
  ASSERT_EQ(whole.status(), split.status()) << text;
  if (!whole.ok()) return;
  ASSERT_EQ(whole->size(), split->size()) << text;
  for (size_t i = 0; i < whole->size(); ++i) {
    EXPECT_EQ((*whole)[i].DebugString(), (*split)[i].DebugString()) << i;
  }
}

// Lines 1..n, each an echo task, except `bad` lines, which are not JSON.
std::string Lines(int n, std::set<int> bad) {
  std::string text;
  for (int line = 1; line <= n; ++line) {
    text +=
        bad.count(line)
            ? "{\"kind\":"
            : absl::StrCat("{\"kind\":\"echo\",\"args\":{\"i\":", line, "}}");
    text += line % 7 == 0 ? "\r\n\n" : "\n";  // a blank line now and then
  }
  return text;
}

TEST(ParseTasksJsonl, CutInTwoItReadsTheSame) {
  for (const std::string& text :
       {std::string(""), std::string("\n"), std::string("{\"kind\":\"echo\"}"),
        std::string("\xEF\xBB\xBF{\"kind\":\"echo\"}\r\n{\"kind\":\"sleep\"}"),
        Lines(2, {}), Lines(3, {}), Lines(50, {}), Lines(50, {1}),
        Lines(50, {50}), Lines(50, {10, 40}), Lines(50, {40}),
        Lines(51, {26})}) {
    ExpectSameEitherWay(text);
  }
}

TEST(ParseTasksJsonl, NamesTheFirstBadLineOnEitherSideOfTheCut) {
  // Errors are in the first half, the second or both: the earliest is named,
  // counted in the whole text (blank lines included).
  EXPECT_THAT(
      std::string(ParseTasksJsonl(Lines(50, {45}), 1).status().message()),
      StartsWith("line 51: "));  // 6 blank lines before it
  EXPECT_THAT(
      std::string(ParseTasksJsonl(Lines(50, {3, 45}), 1).status().message()),
      StartsWith("line 3: "));
}

TEST(ParseTasksJsonl, ReadsABigFileInOrder) {
  // Past kParallelJsonlBytes the default cuts it.
  const int n = 20'000;
  const std::string text = Lines(n, {});
  ASSERT_GE(text.size(), kParallelJsonlBytes);
  auto tasks = ParseTasksJsonl(text);
  ASSERT_TRUE(tasks.ok()) << tasks.status();
  ASSERT_EQ(tasks->size(), static_cast<size_t>(n));
  for (int i = 0; i < n; ++i) {
    ASSERT_EQ((*tasks)[i].args().fields().at("i").number_value(), i + 1);
  }
  EXPECT_THAT(
      std::string(ParseTasksJsonl(Lines(n, {n - 1})).status().message()),
      StartsWith(absl::StrCat("line ", n - 1 + (n - 2) / 7, ": ")));
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
