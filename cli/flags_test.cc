#include "cli/flags.h"

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/ordered_output.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;
using ::testing::Not;

TEST(ParseCliArgs, DefaultsWithoutFlags) {
  absl::StatusOr<CliCommandLine> line = ParseCliArgs({"gather"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->command, "gather");
  EXPECT_TRUE(line->inputs.empty());
  const CliFlags& f = line->flags;
  EXPECT_EQ(f.target, "127.0.0.1:50051");
  EXPECT_EQ(f.max_concurrency, 0u);
  EXPECT_FALSE(f.return_exceptions);
  EXPECT_EQ(f.task_timeout, absl::InfiniteDuration());
  EXPECT_EQ(f.timeout, absl::InfiniteDuration());
  EXPECT_EQ(f.retry_attempts, 1u);
  EXPECT_THAT(f.retry_codes, ElementsAre(absl::StatusCode::kUnavailable));
  EXPECT_EQ(f.retry_backoff, absl::Milliseconds(100));
  EXPECT_EQ(f.rate, 0);
  EXPECT_EQ(f.progress, "auto");
  EXPECT_FALSE(f.json);
  EXPECT_EQ(f.auth_token_file, "");
  EXPECT_FALSE(f.unordered);
  EXPECT_EQ(f.max_pending_output_bytes, kDefaultMaxPendingOutputBytes);
  EXPECT_TRUE(line->warnings.empty());
}

TEST(ParseCliArgs, FlagsAnywhereInEveryForm) {
  absl::StatusOr<CliCommandLine> line = ParseCliArgs(
      {"gather", "a.jsonl", "--max_concurrency", "3", "sleep:1",
       "--task_timeout=1.5", "--timeout=500ms", "--return_exceptions",
       "--unordered", "--max_pending_output_bytes", "1000",
       "--retry_codes=UNAVAILABLE,DEADLINE_EXCEEDED", "--tls_ca=ca.pem", "-",
       "--", "--not-a-flag"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->command, "gather");
  EXPECT_THAT(line->inputs,
              ElementsAre("a.jsonl", "sleep:1", "-", "--not-a-flag"));
  const CliFlags& f = line->flags;
  EXPECT_EQ(f.max_concurrency, 3u);
  EXPECT_EQ(f.task_timeout, absl::Milliseconds(1500));
  EXPECT_EQ(f.timeout, absl::Milliseconds(500));
  EXPECT_TRUE(f.return_exceptions);
  EXPECT_TRUE(f.unordered);
  EXPECT_EQ(f.max_pending_output_bytes, 1000u);
  EXPECT_TRUE(line->warnings.empty());
  EXPECT_THAT(f.retry_codes, ElementsAre(absl::StatusCode::kUnavailable,
                                         absl::StatusCode::kDeadlineExceeded));
  EXPECT_EQ(f.tls.ca_file, "ca.pem");
}

TEST(ParseCliArgs, BoolFlagsTakeValuesAndTheNoPrefix) {
  EXPECT_FALSE(ParseCliArgs({"gather", "--return_exceptions=false"})
                   ->flags.return_exceptions);
  EXPECT_FALSE(
      ParseCliArgs({"gather", "--return_exceptions", "--noreturn_exceptions"})
          ->flags.return_exceptions);
  EXPECT_TRUE(ParseCliArgs({"kinds", "--json=1"})->flags.json);
}

TEST(ParseCliArgs, ValuesDoNotLeakIntoTheNextParse) {
  const std::string before = CliFlagsUsage();
  ::testing::internal::CaptureStderr();
  ASSERT_TRUE(ParseCliArgs({"gather", "--target=elsewhere:1", "--timeout=2s",
                            "--task_timeout=1m", "--retry_codes=INTERNAL",
                            "--unordered", "--max_pending_output_bytes=1",
                            "--retry_backoff=1s", "--rate=5", "--tls_ca=x",
                            "--return_exceptions", "--max_concurrency=3"})
                  .ok());
  // Putting the flags back says nothing (absl::FlagSaver logs each one).
  EXPECT_EQ(::testing::internal::GetCapturedStderr(), "");
  auto again = ParseCliArgs({"gather"});
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->flags.target, "127.0.0.1:50051");
  EXPECT_EQ(again->flags.timeout, absl::InfiniteDuration());
  EXPECT_EQ(again->flags.task_timeout, absl::InfiniteDuration());
  EXPECT_FALSE(again->flags.unordered);
  EXPECT_EQ(again->flags.max_pending_output_bytes,
            kDefaultMaxPendingOutputBytes);
  EXPECT_EQ(again->flags.retry_backoff, absl::Milliseconds(100));
  EXPECT_FALSE(again->flags.return_exceptions);
  EXPECT_EQ(CliFlagsUsage(), before);
}

TEST(ParseCliArgs, HelpInEveryForm) {
  EXPECT_EQ(ParseCliArgs({"help"})->command, "help");
  EXPECT_EQ(ParseCliArgs({"-h"})->command, "help");
  EXPECT_EQ(ParseCliArgs({"gather", "--help"})->command, "help");
}

TEST(ParseCliArgs, ErrorsNameTheFlag) {
  auto error = [](std::vector<std::string> args) {
    absl::StatusOr<CliCommandLine> line = ParseCliArgs(args);
    EXPECT_EQ(line.status().code(), absl::StatusCode::kInvalidArgument);
    return std::string(line.status().message());
  };
  EXPECT_THAT(error({"gather", "--bogus=1"}),
              HasSubstr("unknown flag --bogus"));
  EXPECT_THAT(error({"gather", "--nojson=1"}), HasSubstr("unknown flag"));
  EXPECT_THAT(error({"gather", "--target"}),
              HasSubstr("--target needs a value"));
  EXPECT_THAT(error({"gather", "--timeout=soon"}),
              HasSubstr("not a duration (e.g. 1.5s, 500ms, 2)"));
  EXPECT_THAT(error({"gather", "--task_timeout=-1"}),
              HasSubstr("must be positive"));
  EXPECT_THAT(error({"gather", "--max_pending_output_bytes=-1"}),
              HasSubstr("max_pending_output_bytes"));
  EXPECT_THAT(error({"gather", "--max_concurrency=-1"}),
              HasSubstr("max_concurrency"));
  EXPECT_THAT(error({"gather", "--retry_attempts=0"}),
              HasSubstr("expected a positive integer"));
  EXPECT_THAT(error({"gather", "--retry_codes=OK"}),
              HasSubstr("not a failure code name"));
  EXPECT_THAT(error({"gather", "--retry_codes=,"}),
              HasSubstr("--retry_codes needs a code name"));
  EXPECT_THAT(error({"gather", "--rate=-2"}), HasSubstr("--rate=-2"));
  EXPECT_THAT(error({"gather", "--progress=loud"}),
              HasSubstr("expected auto, bar, lines or none"));
  EXPECT_THAT(error({"gather", "--json=maybe"}), HasSubstr("json"));
}

TEST(CliFlagsUsage, ListsEveryFlagWithItsDefault) {
  const std::string usage = CliFlagsUsage();
  for (const char* flag :
       {"--target=HOST:PORT", "--max_concurrency=N", "--return_exceptions",
        "--task_timeout=DURATION", "--timeout=DURATION", "--unordered",
        "--max_pending_output_bytes=N", "--retry_attempts=N",
        "--retry_codes=CODE,...", "--retry_backoff=DURATION", "--rate=N",
        "--progress=STYLE", "--json", "--tls_ca=FILE", "--tls_cert=FILE",
        "--tls_key=FILE", "--auth_token_file=FILE"}) {
    EXPECT_THAT(usage, HasSubstr(flag));
  }
  EXPECT_THAT(usage, HasSubstr("(default 127.0.0.1:50051)"));
  EXPECT_THAT(usage, HasSubstr("(default 100ms)"));
  EXPECT_THAT(usage, Not(HasSubstr("--deadline")));  // deprecated, hidden
}

// One naming with the SDK: --task_timeout is GatherOptions::task_timeout,
// --timeout GatherOptions::timeout; the old --deadline works one more
// release with a warning, and an old-style --timeout is told about.
TEST(ParseCliArgs, DeadlineIsADeprecatedNameOfTimeout) {
  absl::StatusOr<CliCommandLine> line =
      ParseCliArgs({"gather", "--deadline=3s"});
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(line->flags.timeout, absl::Seconds(3));
  EXPECT_EQ(line->flags.task_timeout, absl::InfiniteDuration());
  ASSERT_EQ(line->warnings.size(), 1u);
  EXPECT_THAT(line->warnings[0], HasSubstr("--deadline is deprecated"));
  EXPECT_THAT(line->warnings[0], HasSubstr("--timeout"));

  line = ParseCliArgs({"gather", "--timeout=2s"});
  ASSERT_TRUE(line.ok());
  EXPECT_EQ(line->flags.timeout, absl::Seconds(2));
  ASSERT_EQ(line->warnings.size(), 1u);
  EXPECT_THAT(line->warnings[0], HasSubstr("--task_timeout"));

  line = ParseCliArgs({"gather", "--timeout=2s", "--task_timeout=1s"});
  ASSERT_TRUE(line.ok());
  EXPECT_TRUE(line->warnings.empty());

  line = ParseCliArgs({"gather", "--timeout=2s", "--deadline=1s"});
  EXPECT_EQ(line.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(line.status().message(), HasSubstr("give only --timeout"));
}

}  // namespace
}  // namespace batchexec
