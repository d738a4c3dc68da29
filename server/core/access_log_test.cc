#include "server/core/access_log.h"

#include <cstdio>
#include <fstream>
#include <sstream>

#include "gtest/gtest.h"

namespace batchexec {
namespace {

AccessRecord Sample() {
  AccessRecord r;
  r.time = absl::FromUnixSeconds(1700000000);
  r.method = "Execute";
  r.batch_id = "b7";
  r.caller = "team a";  // a space: must be quoted, not split
  r.peer = "ipv4:127.0.0.1:5123";
  r.tasks = 3;
  r.policy = "COLLECT_ALL";
  r.outcome = "UNKNOWN";
  r.failed = 1;
  r.wall = absl::Milliseconds(12);
  r.bytes_in = 120;
  r.bytes_out = 456;
  return r;
}

TEST(AccessLogTest, PlainLineHasEveryFieldAndQuotesOddValues) {
  EXPECT_EQ(AccessLog::FormatPlain(Sample()),
            "2023-11-14T22:13:20.000Z access method=Execute batch=b7 "
            "caller=\"team a\" peer=ipv4:127.0.0.1:5123 tasks=3 "
            "policy=COLLECT_ALL outcome=UNKNOWN failed=1 wall=0.012000s "
            "bytes_in=120 bytes_out=456\n");
}

TEST(AccessLogTest, JsonLineIsOneEscapedObject) {
  AccessRecord r = Sample();
  r.caller = "x\"y\nz";
  EXPECT_EQ(AccessLog::FormatJson(r),
            "{\"time\":\"2023-11-14T22:13:20.000Z\",\"method\":\"Execute\","
            "\"batch\":\"b7\",\"caller\":\"x\\\"y\\nz\","
            "\"peer\":\"ipv4:127.0.0.1:5123\",\"tasks\":3,"
            "\"policy\":\"COLLECT_ALL\",\"outcome\":\"UNKNOWN\",\"failed\":1,"
            "\"wall_seconds\":0.012000,\"bytes_in\":120,\"bytes_out\":456}\n");
}

TEST(AccessLogTest, SummaryAndRequestFillTheirFields) {
  v1::ExecuteRequest request;
  request.add_tasks()->set_kind("echo");
  request.add_tasks()->set_kind("echo");
  v1::Summary summary;
  summary.mutable_outcome()->set_code(5);
  summary.mutable_progress()->set_failed(2);
  summary.mutable_wall_time()->set_seconds(1);
  summary.mutable_wall_time()->set_nanos(500000000);
  AccessRecord r;
  r.SetRequest(request, request.tasks_size());
  r.SetSummary(summary);
  EXPECT_EQ(r.tasks, 2);
  EXPECT_EQ(r.policy, "FAIL_FAST");
  EXPECT_EQ(r.outcome, "NOT_FOUND");
  EXPECT_EQ(r.failed, 2);
  EXPECT_EQ(r.wall, absl::Milliseconds(1500));
}

TEST(AccessLogTest, FileLogAppendsOneLinePerWrite) {
  const std::string path =
      std::string(getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp") +
      "/access.log";
  std::remove(path.c_str());
  {
    auto log = AccessLog::Open(path, AccessLog::Format::kJson);
    ASSERT_TRUE(log.ok()) << log.status();
    (*log)->Write(Sample());
    (*log)->Write(Sample());
  }
  std::ifstream in(path);
  std::string line;
  int lines = 0;
  while (std::getline(in, line)) {
    ++lines;
    EXPECT_EQ(line.front(), '{');
  }
  EXPECT_EQ(lines, 2);
}

TEST(AccessLogTest, NoneMeansNoLogAndBadNamesAreErrors) {
  auto none = AccessLog::Open("none", AccessLog::Format::kPlain);
  ASSERT_TRUE(none.ok());
  EXPECT_EQ(*none, nullptr);
  EXPECT_FALSE(
      AccessLog::Open("/nonexistent-dir/x.log", AccessLog::Format::kPlain)
          .ok());
  EXPECT_FALSE(AccessLog::ParseFormat("xml").ok());
  EXPECT_EQ(*AccessLog::ParseFormat("json"), AccessLog::Format::kJson);
}

}  // namespace
}  // namespace batchexec
