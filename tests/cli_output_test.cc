// The batchexec tool's promises about its output, against a real server:
// a stdout that fails (a full disk, a reader gone with SIGPIPE ignored)
// cancels the batch and is an error; SIGINT and SIGTERM cancel it, finish
// the lines and say the summary; results spilled past the memory cap, or
// printed unordered, are every result once. The built binary runs as a
// user runs it, from a shell or spawned with its own signals.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "cli/cli.h"
#include "gmock/gmock.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "tests/test_util/local_server_test.h"
#include "tests/wait_until.h"

extern char** environ;

namespace batchexec {
namespace {

using ::testing::HasSubstr;

// Long enough that a batch run to its end is unmistakable; the bounds below
// are a third of it, generous for a loaded machine and ASan.
constexpr int kSlowSeconds = 60;
constexpr absl::Duration kEarly = absl::Seconds(kSlowSeconds / 3);

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

std::string Binary() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  return absl::StrCat(srcdir != nullptr ? srcdir : ".",
                      "/batchexec/cli/batchexec");
}

std::string ReadAll(const std::string& path) {
  std::ifstream file(path);
  return std::string((std::istreambuf_iterator<char>(file)), {});
}

// Every line of `out` as a TaskResult; a line that does not parse (a
// truncated one) fails the test.
std::vector<v1::TaskResult> ParseLines(const std::string& out) {
  std::vector<v1::TaskResult> results;
  for (absl::string_view line : absl::StrSplit(out, '\n', absl::SkipEmpty())) {
    v1::TaskResult r;
    auto status = google::protobuf::util::JsonStringToMessage(
        google::protobuf::StringPiece(line.data(), line.size()), &r);
    EXPECT_TRUE(status.ok()) << "not a whole line: " << line;
    results.push_back(r);
  }
  return results;
}

class CliOutputTest : public LocalServerTest {
 protected:
  // Waits until the server runs nothing: the batch ended or was cancelled.
  bool ServerIdle() {
    return WaitUntil(
        [&] {
          v1::ServerStats stats = server_->Stats();
          return stats.open_batches() == 0 && stats.inflight_tasks() == 0;
        },
        kEarly);
  }

  // RunCli in process, against the test's server.
  int Cli(std::vector<std::string> args, std::string* out,
          std::string* err = nullptr) {
    args.push_back(absl::StrCat("--target=", server_->target()));
    std::istringstream in;
    std::ostringstream out_stream, err_stream;
    const int code = RunCli(args, in, out_stream, err_stream);
    *out = out_stream.str();
    if (err != nullptr) *err = err_stream.str();
    return code;
  }
};

TEST_F(CliOutputTest, AFullDiskCancelsTheBatchAndFails) {
  const std::string err = TestDir() + "/full.err";
  const std::string command =
      absl::StrCat(Binary(), " gather --target=", server_->target(),
                   " echo: sleep:", kSlowSeconds, " >/dev/full 2>", err);
  const absl::Time start = absl::Now();
  const int status = std::system(command.c_str());
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), kExitFailed);
  EXPECT_LT(took, kEarly);
  const std::string text = ReadAll(err);
  EXPECT_THAT(text, HasSubstr(std::strerror(ENOSPC)));
  EXPECT_THAT(text, HasSubstr("the batch was cancelled"));
  EXPECT_THAT(text, HasSubstr("2 tasks: 1 ok, 1 failed"));  // the summary
  // The server ran the batch and stopped it long before the sleep's end.
  EXPECT_EQ(server_->Stats().batches_started(), 1u);
  EXPECT_TRUE(ServerIdle());
  EXPECT_LT(absl::Now() - start, kEarly);
}

// `| head -1` with SIGPIPE ignored (as `trap '' PIPE` or a Python parent
// leaves it): the tool hears of the reader's end although no result is due
// for a minute, cancels, and fails naming EPIPE.
TEST_F(CliOutputTest, AReaderGoneWithSigpipeIgnoredStopsTheBatch) {
  const std::string dir = TestDir();
  const std::string command = absl::StrCat(
      "trap '' PIPE; (", Binary(),
      " gather --progress=none --target=", server_->target(),
      " echo: echo: sleep:", kSlowSeconds, " sleep:", kSlowSeconds, " 2>", dir,
      "/head.err; echo $? >", dir, "/head.code) | head -1 >", dir, "/head.out");
  const absl::Time start = absl::Now();
  const int status = std::system(command.c_str());  // sh -c
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_LT(took, kEarly);
  EXPECT_EQ(ReadAll(dir + "/head.code"), "1\n");
  EXPECT_THAT(ReadAll(dir + "/head.err"), HasSubstr(std::strerror(EPIPE)));
  std::vector<v1::TaskResult> first = ParseLines(ReadAll(dir + "/head.out"));
  ASSERT_EQ(first.size(), 1u);
  EXPECT_EQ(first[0].index(), 0u);
  EXPECT_TRUE(ServerIdle());
  EXPECT_LT(absl::Now() - start, kEarly);
}

// Spawns the binary with SIGINT and SIGTERM at their defaults (a shell's
// background job would ignore SIGINT), stdout and stderr to files.
pid_t Spawn(const std::vector<std::string>& args, const std::string& out,
            const std::string& err) {
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDIN_FILENO, "/dev/null",
                                   O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, out.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, err.c_str(),
                                   O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t defaults, none;
  sigemptyset(&defaults);
  sigaddset(&defaults, SIGINT);
  sigaddset(&defaults, SIGTERM);
  sigaddset(&defaults, SIGPIPE);
  sigemptyset(&none);
  posix_spawnattr_setsigdefault(&attr, &defaults);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setflags(&attr,
                           POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
  std::vector<char*> argv;
  for (const std::string& arg : args)
    argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  pid_t pid = -1;
  if (posix_spawn(&pid, args[0].c_str(), &actions, &attr, argv.data(),
                  environ) != 0) {
    pid = -1;
  }
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return pid;
}

// The exit status of `pid` within `timeout`; kills it (and fails) past it.
int WaitExit(pid_t pid, absl::Duration timeout) {
  int status = 0;
  const bool exited =
      WaitUntil([&] { return waitpid(pid, &status, WNOHANG) == pid; }, timeout);
  if (!exited) {
    ADD_FAILURE() << "still running after " << timeout;
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  return status;
}

TEST_F(CliOutputTest, ASignalCancelsFinishesTheLinesAndSaysTheSummary) {
  for (const int signo : {SIGINT, SIGTERM}) {
    SCOPED_TRACE(signo);
    const std::string out = TestDir() + "/signal.out";
    const std::string err = TestDir() + "/signal.err";
    const std::string slow = absl::StrCat("sleep:", kSlowSeconds);
    const pid_t pid = Spawn({Binary(), "gather", "--progress=lines",
                             absl::StrCat("--target=", server_->target()),
                             "echo:", "echo:", "echo:", slow, slow},
                            out, err);
    ASSERT_GT(pid, 0);
    // Mid-batch: the three echoes are out, the sleeps run.
    ASSERT_TRUE(WaitUntil(
        [&] {
          const std::string text = ReadAll(out);
          return std::count(text.begin(), text.end(), '\n') == 3;
        },
        kEarly));
    const absl::Time start = absl::Now();
    ASSERT_EQ(kill(pid, signo), 0);
    const int status = WaitExit(pid, kEarly);
    EXPECT_LT(absl::Now() - start, kEarly);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), kExitSignalBase + signo);
    const std::string err_text = ReadAll(err);
    EXPECT_THAT(err_text, HasSubstr("5 tasks: 3 ok, 2 failed in "));
    EXPECT_THAT(err_text, HasSubstr(signo == SIGINT ? "interrupted (SIGINT)"
                                                    : "terminated (SIGTERM)"));
    // Every line whole, the cancelled sleeps' too.
    const std::string out_text = ReadAll(out);
    ASSERT_FALSE(out_text.empty());
    EXPECT_EQ(out_text.back(), '\n');
    std::vector<v1::TaskResult> results = ParseLines(out_text);
    ASSERT_EQ(results.size(), 5u);
    EXPECT_EQ(results[3].status().code(), 1);  // CANCELLED
    EXPECT_EQ(results[4].status().code(), 1);
    EXPECT_TRUE(ServerIdle());
  }
}

// Tasks whose results come back in an order of their own: task 0 sleeps
// past the rest, each echo carries `bytes` of output.
std::vector<std::string> SlowFirstBatch(int echoes, size_t bytes) {
  std::vector<std::string> args = {"gather", "--progress=none", "sleep:0.5"};
  for (int i = 0; i < echoes; ++i) {
    args.push_back(absl::StrCat("echo:{\"i\":", i, ",\"s\":\"",
                                std::string(bytes, 'x'), "\"}"));
  }
  return args;
}

// The lines' results without their timings, which differ run to run, as
// text with the outputs' keys sorted (a map's order is its own).
std::vector<std::string> Untimed(const std::string& out) {
  std::vector<std::string> lines;
  for (v1::TaskResult& r : ParseLines(out)) {
    r.clear_started_after();
    r.clear_finished_after();
    std::string bytes;
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream coded(&stream);
    coded.SetSerializationDeterministic(true);
    r.SerializeToCodedStream(&coded);
    coded.Trim();
    lines.push_back(bytes);
  }
  return lines;
}

TEST_F(CliOutputTest, SpillingToDiskChangesNoResultAndNoOrder) {
  constexpr int kEchoes = 300;
  std::string in_memory, spilled, err;
  std::vector<std::string> args = SlowFirstBatch(kEchoes, 2500);
  ASSERT_EQ(Cli(args, &in_memory), kExitOk);
  // Every line that waits for task 0 goes to the temporary file.
  args.push_back("--max_pending_output_bytes=0");
  ASSERT_EQ(Cli(args, &spilled, &err), kExitOk) << err;
  const std::vector<std::string> want = Untimed(in_memory);
  ASSERT_EQ(want.size(), kEchoes + 1u);
  EXPECT_EQ(Untimed(spilled), want);
  std::vector<v1::TaskResult> results = ParseLines(spilled);
  for (uint32_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].index(), i);
  }
}

TEST_F(CliOutputTest, UnorderedPrintsEveryResultOnceAsItCompletes) {
  constexpr int kEchoes = 50;
  std::vector<std::string> args = SlowFirstBatch(kEchoes, 10);
  args.push_back("--unordered");
  std::string out;
  ASSERT_EQ(Cli(args, &out), kExitOk);
  std::vector<v1::TaskResult> results = ParseLines(out);
  ASSERT_EQ(results.size(), kEchoes + 1u);
  std::vector<int> seen(kEchoes + 1, 0);
  for (const v1::TaskResult& r : results) {
    ASSERT_LT(r.index(), seen.size());
    ++seen[r.index()];
  }
  EXPECT_EQ(seen, std::vector<int>(kEchoes + 1, 1));
  // Task 0 sleeps while the echoes finish: its line is not held first.
  EXPECT_NE(results[0].index(), 0u);
  EXPECT_EQ(results.back().index(), 0u);
}

}  // namespace
}  // namespace batchexec
