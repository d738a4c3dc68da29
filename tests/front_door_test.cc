// What a new user meets first, on the real binaries: file arguments given
// relative to where `bazel run` was typed (BUILD_WORKING_DIRECTORY), a
// second server on a busy port, and TLS flag errors that name the flags.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "tests/test_util/server_process.h"

namespace batchexec {
namespace {

// Runfiles paths; tests run in the workspace's runfiles folder.
const char kServer[] = "server/batchexec_server";
const char kCli[] = "cli/batchexec";

struct Exit {
  int code = -1;  // -1: still running after the timeout (then killed)
  std::string out;
  std::string err;
};

// Runs `binary` with `args` until it exits or `timeout` passes, with
// BUILD_WORKING_DIRECTORY set to `working_dir` unless it is empty, as
// `bazel run` does (the process itself still starts in the runfiles).
Exit RunBinary(const std::string& binary, std::vector<std::string> args,
               const std::string& working_dir,
               absl::Duration timeout = absl::Seconds(10)) {
  Exit result;
  int out[2], err[2];
  if (pipe(out) != 0 || pipe(err) != 0) return result;
  const pid_t pid = fork();
  if (pid == 0) {
    if (!working_dir.empty()) {
      setenv("BUILD_WORKING_DIRECTORY", working_dir.c_str(), 1);
    }
    dup2(out[1], STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    close(out[0]);
    close(err[0]);
    std::vector<char*> argv{const_cast<char*>(binary.c_str())};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(out[1]);
  close(err[1]);
  int status = 0;
  bool exited = false;
  for (const absl::Time give_up = absl::Now() + timeout; absl::Now() < give_up;
       absl::SleepFor(absl::Milliseconds(20))) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  } else if (WIFEXITED(status)) {
    result.code = WEXITSTATUS(status);
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(out[0], buf, sizeof buf)) > 0) result.out.append(buf, n);
  while ((n = read(err[0], buf, sizeof buf)) > 0) result.err.append(buf, n);
  close(out[0]);
  close(err[0]);
  return result;
}

// A fresh folder standing for where the user typed `bazel run`.
std::string WorkingDir(const std::string& name) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  std::string dir = absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/", name);
  mkdir(dir.c_str(), 0755);
  return dir;
}

void WriteFile(const std::string& path, const std::string& contents) {
  std::ofstream(path) << contents;
}

// Sets BUILD_WORKING_DIRECTORY for the processes started in its scope
// (ServerProcess forks from this one).
class ScopedWorkingDir {
 public:
  explicit ScopedWorkingDir(const std::string& dir) {
    setenv("BUILD_WORKING_DIRECTORY", dir.c_str(), 1);
  }
  ~ScopedWorkingDir() { unsetenv("BUILD_WORKING_DIRECTORY"); }
};

TEST(BazelRunPaths, ServerReadsARelativeTokenFileFromWhereBazelRunWasTyped) {
  const std::string dir = WorkingDir("server_token");
  WriteFile(dir + "/token.txt", "s3cret\n");
  int port = 0;
  {
    ScopedWorkingDir cwd(dir);
    testing::ServerProcess server(kServer,
                                  {"--port=0", "--auth_token_file=token.txt"});
    port = server.port();
  }
  EXPECT_NE(port, 0) << "the server did not start with a relative "
                        "--auth_token_file under BUILD_WORKING_DIRECTORY";
}

TEST(BazelRunPaths, ServerLooksForRelativeTlsFilesWhereBazelRunWasTyped) {
  const std::string dir = WorkingDir("server_tls");
  Exit e = RunBinary(
      kServer, {"--port=0", "--tls_cert=cert.pem", "--tls_key=key.pem"}, dir);
  EXPECT_EQ(e.code, 2);
  EXPECT_TRUE(absl::StrContains(e.err, dir + "/cert.pem")) << e.err;
  EXPECT_TRUE(absl::StrContains(e.err, "--tls_cert")) << e.err;
}

TEST(BazelRunPaths,
     CliReadsRelativeInputAndTokenFilesFromWhereBazelRunWasTyped) {
  const std::string dir = WorkingDir("cli_files");
  WriteFile(dir + "/token.txt", "cli-token\n");
  WriteFile(dir + "/tasks.jsonl",
            "{\"kind\":\"echo\",\"args\":{\"x\":1},\"id\":\"a\"}\n");
  const std::string token_file = dir + "/token.txt";
  testing::ServerProcess server(
      kServer, {"--port=0", "--auth_token_file=" + token_file});
  ASSERT_NE(server.port(), 0);
  Exit e = RunBinary(kCli,
                     {"gather", "tasks.jsonl", "--auth_token_file=token.txt",
                      "--progress=none", "--target=" + server.target()},
                     dir);
  EXPECT_EQ(e.code, 0) << e.err;
  EXPECT_TRUE(absl::StrContains(e.out, "\"id\":\"a\"")) << e.out;
}

TEST(BazelRunPaths, WithoutBazelRunRelativePathsStayRelative) {
  Exit e =
      RunBinary(kCli, {"gather", "no_such_tasks.jsonl"}, /*working_dir=*/"");
  EXPECT_EQ(e.code, 2);
  EXPECT_TRUE(absl::StrContains(e.err, "batchexec: no_such_tasks.jsonl: "))
      << e.err;
}

TEST(BusyPort, ASecondServerOnTheSamePortFailsToStartSayingAddressInUse) {
  testing::ServerProcess first(kServer, {"--port=0"});
  ASSERT_NE(first.port(), 0);
  const std::string port = absl::StrCat(first.port());
  Exit second = RunBinary(kServer, {"--port=" + port}, "", absl::Seconds(5));
  EXPECT_NE(second.code, 0) << "a second server started on busy port " << port;
  EXPECT_NE(second.code, -1) << "a second server started on busy port " << port;
  EXPECT_TRUE(absl::StrContains(absl::AsciiStrToLower(second.err),
                                "address already in use"))
      << second.err;
  EXPECT_TRUE(absl::StrContains(second.err, ":" + port)) << second.err;
}

TEST(BusyPort, ServersAskingForReusePortShareIt) {
  testing::ServerProcess first(kServer, {"--port=0", "--reuse_port"});
  ASSERT_NE(first.port(), 0);
  testing::ServerProcess second(
      kServer, {absl::StrCat("--port=", first.port()), "--reuse_port"});
  EXPECT_EQ(second.port(), first.port());
}

TEST(TlsFlags, AHalfTlsPairIsAUsageErrorNamingTheFlags) {
  Exit e = RunBinary(kServer, {"--port=0", "--tls_cert=/some/cert.pem"}, "");
  EXPECT_EQ(e.code, 2);
  EXPECT_TRUE(absl::StrContains(e.err, "--tls_cert")) << e.err;
  EXPECT_TRUE(absl::StrContains(e.err, "--tls_key")) << e.err;
  EXPECT_FALSE(absl::StrContains(e.err, "tls_key_file")) << e.err;

  e = RunBinary(kServer, {"--port=0", "--tls_client_ca=/some/ca.pem"}, "");
  EXPECT_EQ(e.code, 2);
  EXPECT_TRUE(absl::StrContains(e.err, "--tls_client_ca")) << e.err;
  EXPECT_FALSE(absl::StrContains(e.err, "tls_client_ca_file")) << e.err;
}

}  // namespace
}  // namespace batchexec
