#include "server/rpc/tokens_file.h"

#include <string>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;

// The error for `text`, which must not parse.
std::string ErrorOf(const std::string& text) {
  auto tokens = ParseTokensFile(text, "callers.txt");
  EXPECT_FALSE(tokens.ok()) << text;
  if (tokens.ok()) return "";
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kInvalidArgument);
  return std::string(tokens.status().message());
}

TEST(TokensFile, ReadsNamesTokensAndWeightsSkippingCommentsAndBlankLines) {
  auto tokens = ParseTokensFile(
      "# callers of the batch cluster\n"
      "\n"
      "team-a   tok-A1\n"
      "   \t\n"
      "  team-b\ttok-B2 weight=3   # the big one\n"
      "team-c tok-C3\r\n"
      "#team-d tok-D4\n",
      "callers.txt");
  ASSERT_TRUE(tokens.ok()) << tokens.status();
  ASSERT_EQ(tokens->size(), 3u);
  EXPECT_EQ((*tokens)[0].name, "team-a");
  EXPECT_EQ((*tokens)[0].token, "tok-A1");
  EXPECT_EQ((*tokens)[0].weight, 1);
  EXPECT_EQ((*tokens)[1].name, "team-b");
  EXPECT_EQ((*tokens)[1].token, "tok-B2");
  EXPECT_EQ((*tokens)[1].weight, 3);
  EXPECT_EQ((*tokens)[2].name, "team-c");
  EXPECT_EQ((*tokens)[2].token, "tok-C3");
}

TEST(TokensFile, DuplicateNameNamesBothLines) {
  EXPECT_EQ(ErrorOf("a tok1\n\nb tok2\na tok3\n"),
            "callers.txt:4: the name is already used on line 1");
}

TEST(TokensFile, DuplicateTokenNamesBothLinesWithoutQuotingTheToken) {
  const std::string error = ErrorOf("a secret-1\n# c\nb secret-1\n");
  EXPECT_EQ(error, "callers.txt:3: the token is already used on line 1");
  EXPECT_EQ(error.find("secret-1"), std::string::npos);
}

TEST(TokensFile, MissingTokenNamesTheLineWithoutQuotingIt) {
  // A bare token (e.g. an --auth_token_file pasted in) must not be logged.
  const std::string error = ErrorOf("a tok1\nbare-secret\n");
  EXPECT_THAT(error, HasSubstr("callers.txt:2: "));
  EXPECT_THAT(error, HasSubstr("token is missing"));
  EXPECT_EQ(error.find("bare-secret"), std::string::npos);
}

TEST(TokensFile, BadWeightsNameTheLine) {
  for (const char* weight :
       {"weight=0", "weight=-1", "weight=", "weight=x", "weight=1.5",
        "weight=+2", "weight=1001", "weight=99999999999", "wieght=2"}) {
    const std::string error = ErrorOf(std::string("a tok1\nb tok2 ") + weight);
    EXPECT_THAT(error, HasSubstr("callers.txt:2: ")) << weight;
    EXPECT_THAT(error, HasSubstr("weight")) << weight;
  }
  auto max = ParseTokensFile("a tok1 weight=1000", "f");
  ASSERT_TRUE(max.ok()) << max.status();
  EXPECT_EQ((*max)[0].weight, kMaxCallerWeight);
}

TEST(TokensFile, ExtraFieldsAndControlCharactersNameTheLine) {
  EXPECT_THAT(ErrorOf("a tok1 weight=2 more\n"),
              HasSubstr("callers.txt:1: expected NAME TOKEN [weight=N]"));
  EXPECT_THAT(ErrorOf("a tok1\nb tok\x01"
                      "2\n"),
              HasSubstr("callers.txt:2: the token has a character"));
  EXPECT_THAT(ErrorOf("caf\xc3\xa9 tok1\n"),
              HasSubstr("callers.txt:1: the name has a character"));
}

TEST(TokensFile, AFileWithoutTokensIsAnError) {
  EXPECT_EQ(ErrorOf(""), "callers.txt: no tokens");
  EXPECT_EQ(ErrorOf("# all revoked\n\n"), "callers.txt: no tokens");
}

TEST(TokensFile, UnreadableFileIsNotFoundNamingThePath) {
  auto tokens = ReadTokensFile("/nonexistent/callers.txt");
  EXPECT_EQ(tokens.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(tokens.status().message()),
              HasSubstr("/nonexistent/callers.txt"));
}

}  // namespace
}  // namespace batchexec
