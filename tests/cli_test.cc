// The batchexec tool end to end: RunCli in process against a real server
// (JSON lines in, ordered JSON lines out, exit codes, input errors that send
// nothing), and the built binary once, to check its wiring.
#include "cli/cli.h"

#include <sys/wait.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/test_util/local_server_test.h"
#include "tests/wait_until.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

struct CliRun {
  int code = -1;
  std::string out;
  std::string err;
};

// The TaskResults of `out`'s lines.
std::vector<v1::TaskResult> ParseLines(const std::string& out) {
  std::vector<v1::TaskResult> results;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    v1::TaskResult r;
    auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(line.data(), line.size()), &r);
    EXPECT_TRUE(status.ok()) << line;
    results.push_back(r);
  }
  return results;
}

std::string TempFile(const std::string& name, const std::string& contents) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string path = absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
  std::ofstream(path) << contents;
  return path;
}

class CliTest : public LocalServerTest {
 protected:
  // Runs `batchexec <args>` with `stdin_text`, against the test's server
  // unless args name a --target.
  CliRun Cli(std::vector<std::string> args,
             const std::string& stdin_text = "") {
    bool has_target = false;
    for (const auto& a : args) has_target |= absl::StartsWith(a, "--target");
    if (!has_target && !args.empty() && args[0] != "help") {
      args.push_back(absl::StrCat("--target=", server_->target()));
    }
    std::istringstream in(stdin_text);
    std::ostringstream out, err;
    CliRun run;
    run.code = RunCli(args, in, out, err);
    run.out = out.str();
    run.err = err.str();
    return run;
  }
};

TEST_F(CliTest, JsonLinesInOrderedJsonLinesOut) {
  CliRun run =
      Cli({"gather", "-"},
          "{\"kind\":\"sleep\",\"args\":{\"seconds\":0.3},\"id\":\"a\"}\n"
          "{\"kind\":\"sleep\",\"args\":{\"seconds\":0.2},\"id\":\"b\"}\n"
          "\n"
          "{\"kind\":\"echo\",\"args\":{\"x\":1},\"id\":\"c\"}\n");
  EXPECT_EQ(run.code, kExitOk) << run.err;
  std::vector<v1::TaskResult> results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 3u) << run.out;
  for (uint32_t i = 0; i < 3; ++i) {
    EXPECT_EQ(results[i].index(), i);
    EXPECT_EQ(results[i].id(), std::string(1, static_cast<char>('a' + i)));
    EXPECT_EQ(results[i].status().code(), 0);
  }
  EXPECT_DOUBLE_EQ(
      results[2].output().struct_value().fields().at("x").number_value(), 1);
  // Not a terminal: plain lines, and the summary.
  EXPECT_THAT(run.err, HasSubstr("3 tasks: 3 ok, 0 failed"));
  EXPECT_THAT(run.err, Not(HasSubstr("\r")));
}

TEST_F(CliTest, StdinIsTheDefaultInput) {
  CliRun run = Cli({"gather"}, "{\"kind\":\"echo\"}\n");
  EXPECT_EQ(run.code, kExitOk) << run.err;
  EXPECT_EQ(ParseLines(run.out).size(), 1u);
}

TEST_F(CliTest, TaskArgumentsAndFilesMix) {
  const std::string file = TempFile(
      "mix.jsonl", "{\"kind\":\"echo\",\"args\":{\"from\":\"file\"}}\n");
  CliRun run =
      Cli({"gather", "sleep:0.05", file, "echo:{\"x\":2}", "--progress=none"});
  EXPECT_EQ(run.code, kExitOk) << run.err;
  std::vector<v1::TaskResult> results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(
      results[1].output().struct_value().fields().at("from").string_value(),
      "file");
  EXPECT_DOUBLE_EQ(
      results[2].output().struct_value().fields().at("x").number_value(), 2);
  EXPECT_EQ(run.err, "");  // --progress=none
}

TEST_F(CliTest, FailFastExitsOneAndNamesTheTask) {
  CliRun run =
      Cli({"gather", "--max_concurrency=1",
           "echo:", "fail:{\"code\":5,\"message\":\"missing\"}", "sleep:20"});
  EXPECT_EQ(run.code, kExitFailed);
  EXPECT_THAT(run.err, HasSubstr("task 1 failed: missing"));
  std::vector<v1::TaskResult> results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 3u);
  EXPECT_EQ(results[0].status().code(), 0);
  EXPECT_EQ(results[1].status().code(), 5);
  EXPECT_EQ(results[2].status().code(), 1);  // CANCELLED
}

TEST_F(CliTest, ReturnExceptionsRunsEveryTask) {
  CliRun run = Cli({"gather", "--return_exceptions", "--max_concurrency", "1",
                    "fail:{\"code\":13}", "sleep:0.01"});
  EXPECT_EQ(run.code, kExitFailed);
  std::vector<v1::TaskResult> results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status().code(), 13);
  EXPECT_EQ(results[1].status().code(), 0);
}

TEST_F(CliTest, MalformedLineIsAnErrorAndNothingIsSent) {
  const std::string file = TempFile(
      "bad.jsonl",
      "{\"kind\":\"echo\"}\n{\"kind\":\"sleep\",\"args\":{\"seconds\":1}\n");
  CliRun run = Cli({"gather", file});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_THAT(run.err, HasSubstr(absl::StrCat(file, ": line 2: ")));
  EXPECT_EQ(run.out, "");

  run = Cli({"gather", "echo:", "-"}, "{\"kind\":\"echo\"}\n[1]\n");
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_THAT(run.err, HasSubstr("<stdin>: line 2: "));

  run = Cli({"gather", "echo:5"});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_THAT(run.err, HasSubstr("'echo:5'"));

  run = Cli({"gather", "no/such/file.jsonl"});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_THAT(run.err, HasSubstr("no/such/file.jsonl: cannot open"));

  EXPECT_EQ(server_->Stats().batches_started(), 0u);
}

TEST_F(CliTest, UsageErrorsExitTwo) {
  EXPECT_EQ(Cli({}).code, kExitUsage);
  EXPECT_EQ(Cli({"frobnicate"}).code, kExitUsage);
  CliRun run = Cli({"gather", "--bogus=1", "echo:"});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_THAT(run.err, HasSubstr("unknown flag --bogus"));
  EXPECT_EQ(Cli({"gather", "--timeout=soon", "echo:"}).code, kExitUsage);
  EXPECT_EQ(Cli({"gather", "--max_concurrency=-1", "echo:"}).code, kExitUsage);
  run = Cli({"help"});
  EXPECT_EQ(run.code, kExitOk);
  EXPECT_THAT(run.out, HasSubstr("batchexec gather"));
  EXPECT_EQ(server_->Stats().batches_started(), 0u);
}

TEST_F(CliTest, TimeoutEndsTheCall) {
  CliRun run = Cli({"gather", "--timeout=200ms", "echo:", "sleep:20"});
  EXPECT_EQ(run.code, kExitFailed);
  std::vector<v1::TaskResult> results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status().code(), 4);  // DEADLINE_EXCEEDED
  EXPECT_TRUE(
      WaitUntil([&] { return server_->Stats().inflight_tasks() == 0; }));
}

TEST_F(CliTest, DeadlineStillEndsTheCallWithAWarning) {
  CliRun run = Cli({"gather", "--deadline=200ms", "echo:", "sleep:20"});
  EXPECT_EQ(run.code, kExitFailed);
  EXPECT_THAT(run.err, HasSubstr("warning: --deadline is deprecated"));
  std::vector<v1::TaskResult> results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status().code(), 4);  // DEADLINE_EXCEEDED
}

TEST_F(CliTest, PerTaskTimeout) {
  CliRun run = Cli({"gather", "--return_exceptions", "--task_timeout=0.1",
                    "sleep:20", "echo:"});
  EXPECT_EQ(run.code, kExitFailed);
  std::vector<v1::TaskResult> results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status().code(), 4);
  EXPECT_EQ(results[1].status().code(), 0);
}

TEST_F(CliTest, UnreachableServerFailsEveryTask) {
  CliRun run = Cli({"gather", "--target=127.0.0.1:1", "echo:", "echo:"});
  EXPECT_EQ(run.code, kExitFailed);
  std::vector<v1::TaskResult> results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 2u);
  for (const auto& r : results) EXPECT_EQ(r.status().code(), 14);
}

TEST_F(CliTest, ListsKinds) {
  CliRun run = Cli({"kinds"});
  EXPECT_EQ(run.code, kExitOk) << run.err;
  EXPECT_THAT(run.out, HasSubstr("sleep  "));
  EXPECT_THAT(run.out, HasSubstr("    seconds (number, required): "));

  run = Cli({"kinds", "--json"});
  EXPECT_EQ(run.code, kExitOk);
  v1::ListTaskKindsResponse kinds;
  ASSERT_TRUE(
      google::protobuf::util::JsonStringToMessage(run.out, &kinds).ok());
  EXPECT_GE(kinds.kinds_size(), 4);

  EXPECT_EQ(Cli({"kinds", "--target=127.0.0.1:1"}).code, kExitFailed);
}

TEST_F(CliTest, ABatchTheServerRejectsIsAnInputErrorSaidOnce) {
  for (const char* task : {"sleeep:{\"seconds\":1}", "sleep:-1"}) {
    CliRun run = Cli({"gather", task, "echo:"});
    EXPECT_EQ(run.code, kExitUsage) << task << "\n" << run.err;
    EXPECT_EQ(run.out, "") << task;
    const std::string message = absl::StrContains(task, "sleeep")
                                    ? "unknown kind 'sleeep'"
                                    : "args.seconds must be between";
    const std::vector<std::string> mentions = absl::StrSplit(run.err, message);
    EXPECT_EQ(mentions.size(), 2u) << run.err;  // said exactly once
  }
}

TEST_F(CliTest, ATaskFailingInvalidArgumentIsNotARejectedBatch) {
  CliRun run = Cli({"gather", "fail:{\"code\":3,\"message\":\"bad\"}"});
  EXPECT_EQ(run.code, kExitFailed) << run.err;
  ASSERT_EQ(ParseLines(run.out).size(), 1u);
}

TEST_F(CliTest, FailedCancelledAndTimedOutTasksKeepTheirTiming) {
  CliRun run =
      Cli({"gather", "--max_concurrency=2", "sleep:20",
           "fail:{\"code\":5,\"message\":\"boom\"}", "--progress=none"});
  EXPECT_EQ(run.code, kExitFailed);
  std::vector<v1::TaskResult> results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 2u) << run.out;
  EXPECT_EQ(results[0].status().code(), 1);  // CANCELLED while running
  EXPECT_EQ(results[1].status().code(), 5);
  for (const v1::TaskResult& r : results) {
    EXPECT_TRUE(r.has_started_after()) << r.ShortDebugString();
    EXPECT_TRUE(r.has_finished_after()) << r.ShortDebugString();
  }
  EXPECT_GE(results[0].finished_after().nanos() +
                results[0].finished_after().seconds() * 1'000'000'000,
            results[0].started_after().nanos() +
                results[0].started_after().seconds() * 1'000'000'000);

  run = Cli({"gather", "--return_exceptions", "--task_timeout=0.1", "sleep:20",
             "--progress=none"});
  results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 1u);
  EXPECT_EQ(results[0].status().code(), 4);  // DEADLINE_EXCEEDED
  EXPECT_TRUE(results[0].has_started_after());
  EXPECT_GE(results[0].finished_after().nanos() +
                results[0].finished_after().seconds() * 1'000'000'000,
            100'000'000);
}

TEST_F(CliTest, MessagesKeepAngleBracketsUnescaped) {
  CliRun run = Cli({"gather", "--progress=none",
                    "fail:{\"code\":5,\"message\":\"x <y> \\\\u003c\"}"});
  EXPECT_EQ(run.code, kExitFailed);
  EXPECT_THAT(run.out, HasSubstr("x <y> "));
  EXPECT_THAT(run.out, Not(HasSubstr("\\u003cy")));
  std::vector<v1::TaskResult> results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 1u);
  // A literal backslash-u003c in the message survives as such.
  EXPECT_EQ(results[0].status().message(), "x <y> \\u003c");
}

TEST_F(CliTest, JsonErrorsEndWithoutABlankLineAndALoneCaret) {
  const std::string file = TempFile("cut.jsonl", "{\"kind\":\"echo\",\n");
  CliRun run = Cli({"gather", file});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_THAT(run.err, HasSubstr(": line 1: not a valid task: "));
  EXPECT_THAT(run.err, Not(HasSubstr("\n\n")));
  EXPECT_THAT(run.err, Not(HasSubstr("\n^")));

  run = Cli({"gather", "echo:{\"x\":"});
  EXPECT_EQ(run.code, kExitUsage);
  EXPECT_THAT(run.err, Not(HasSubstr("\n\n")));
  EXPECT_THAT(run.err, Not(HasSubstr("\n^")));
}

TEST_F(CliTest, FailFastCancellationsNameTheFailedTasksId) {
  CliRun run = Cli({"gather", "--max_concurrency=1", "--progress=none", "-"},
                   "{\"kind\":\"fail\",\"args\":{\"message\":\"boom\"},"
                   "\"id\":\"db\"}\n"
                   "{\"kind\":\"sleep\",\"args\":{\"seconds\":20}}\n");
  EXPECT_EQ(run.code, kExitFailed);
  std::vector<v1::TaskResult> results = ParseLines(run.out);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[1].status().code(), 1);  // CANCELLED, not started
  EXPECT_THAT(results[1].status().message(),
              HasSubstr("task 0 (id \"db\") failed: boom"));
}

TEST_F(CliTest, OneTaskIsCountedInTheSingular) {
  CliRun run = Cli({"gather", "echo:"});
  EXPECT_EQ(run.code, kExitOk);
  EXPECT_THAT(run.err, HasSubstr("\n1 task: 1 ok, 0 failed in "));
}

TEST_F(CliTest, TheBinaryWiresStdioAndTheExitCode) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  ASSERT_NE(srcdir, nullptr);
  const std::string binary = absl::StrCat(srcdir, "/batchexec/cli/batchexec");
  const std::string input =
      TempFile("binary.jsonl",
               "{\"kind\":\"sleep\",\"args\":{\"seconds\":0.1}}\n"
               "{\"kind\":\"fail\",\"args\":{\"code\":9}}\n");
  const std::string out = TempFile("binary.out", "");
  const std::string err = TempFile("binary.err", "");
  const std::string command = absl::StrCat(
      binary, " gather --return_exceptions --target=", server_->target(),
      " - <", input, " >", out, " 2>", err);
  const int status = std::system(command.c_str());
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kExitFailed);
  std::ifstream out_file(out);
  std::string text((std::istreambuf_iterator<char>(out_file)), {});
  std::vector<v1::TaskResult> results = ParseLines(text);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status().code(), 0);
  EXPECT_EQ(results[1].status().code(), 9);
}

TEST_F(CliTest, NoRedrawnBarWhenResultLinesShareTheTerminal) {
  const std::vector<std::string> args = {
      "gather", "sleep:0.3", absl::StrCat("--target=", server_->target())};
  CliEnvironment env;
  env.stderr_is_tty = true;
  env.progress_interval = absl::Milliseconds(20);
  std::istringstream in;
  std::ostringstream out, err;
  ASSERT_EQ(RunCli(args, in, out, err, env), kExitOk);
  EXPECT_THAT(err.str(), HasSubstr("\r"));  // a bar on stderr alone

  env.stdout_is_tty = true;
  std::ostringstream out2, err2;
  ASSERT_EQ(RunCli(args, in, out2, err2, env), kExitOk);
  EXPECT_THAT(err2.str(), Not(HasSubstr("\r")));
  EXPECT_EQ(ParseLines(out2.str()).size(), 1u);
}

// The built binary's stdout, read through a pipe as `| head` would: the
// first results arrive while the batch's slow last task still runs, in
// request order.
TEST_F(CliTest, PrintsEachResultAsSoonAsEveryEarlierOneIsPrinted) {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  ASSERT_NE(srcdir, nullptr);
  constexpr int kEchoes = 20;
  constexpr double kSlowSeconds = 3;
  std::string input;
  for (int i = 0; i < kEchoes; ++i) {
    absl::StrAppend(&input, "{\"kind\":\"echo\",\"id\":\"e", i, "\"}\n");
  }
  absl::StrAppend(&input,
                  "{\"kind\":\"sleep\",\"args\":{\"seconds\":", kSlowSeconds,
                  "},\"id\":\"slow\"}\n");
  const std::string file = TempFile("streaming.jsonl", input);
  const std::string command = absl::StrCat(
      srcdir, "/batchexec/cli/batchexec gather --progress=none --target=",
      server_->target(), " ", file);
  const absl::Time start = absl::Now();
  FILE* pipe = popen(command.c_str(), "r");
  ASSERT_NE(pipe, nullptr);
  std::vector<std::string> lines;
  absl::Duration first_line_after = absl::InfiniteDuration();
  char buffer[4096];
  while (std::fgets(buffer, sizeof(buffer), pipe) != nullptr) {
    if (lines.empty()) first_line_after = absl::Now() - start;
    lines.emplace_back(buffer);
  }
  const int status = pclose(pipe);
  const absl::Duration exited_after = absl::Now() - start;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kExitOk);
  // The first line came while the sleep still ran, well before the end.
  EXPECT_LT(first_line_after, absl::Seconds(kSlowSeconds) / 2)
      << "exited after " << exited_after;
  EXPECT_GE(exited_after, absl::Seconds(kSlowSeconds));
  ASSERT_EQ(lines.size(), kEchoes + 1u);
  std::vector<v1::TaskResult> results = ParseLines(absl::StrJoin(lines, ""));
  ASSERT_EQ(results.size(), kEchoes + 1u);
  for (uint32_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].index(), i);
    EXPECT_EQ(results[i].id(), i < kEchoes ? absl::StrCat("e", i) : "slow");
    EXPECT_EQ(results[i].status().code(), 0);
  }
}

}  // namespace
}  // namespace batchexec
