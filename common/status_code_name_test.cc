#include "common/status_code_name.h"

#include "gtest/gtest.h"

namespace batchexec {
namespace {

TEST(StatusCodeNameTest, NumbersGetGrpcNamesAndStrayNumbersUnknown) {
  EXPECT_EQ(StatusCodeName(0), "OK");
  EXPECT_EQ(StatusCodeName(4), "DEADLINE_EXCEEDED");
  EXPECT_EQ(StatusCodeName(16), "UNAUTHENTICATED");
  EXPECT_EQ(StatusCodeName(-1), "UNKNOWN");
  EXPECT_EQ(StatusCodeName(99), "UNKNOWN");
}

TEST(StatusCodeNameTest, NamesParseInAnyCaseAndUnknownOnesDoNot) {
  EXPECT_EQ(ParseStatusCodeName("DEADLINE_EXCEEDED"),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_EQ(ParseStatusCodeName("unavailable"), absl::StatusCode::kUnavailable);
  EXPECT_EQ(ParseStatusCodeName("OK"), absl::StatusCode::kOk);
  EXPECT_EQ(ParseStatusCodeName("NOPE"), std::nullopt);
  EXPECT_EQ(ParseStatusCodeName(""), std::nullopt);
}

TEST(StatusCodeNameTest, EveryNameRoundTrips) {
  for (int code = 0; code <= 16; ++code) {
    EXPECT_EQ(ParseStatusCodeName(StatusCodeName(code)),
              static_cast<absl::StatusCode>(code));
  }
}

}  // namespace
}  // namespace batchexec
