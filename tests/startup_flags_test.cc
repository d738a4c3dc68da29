// The server binary's start-up checks: flags that make no sense stop it with
// exit code 2 and a message naming the flag, and a server listening beyond
// loopback keeps tcp_probe off the host's own loopback services by default.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/test_util/server_process.h"

namespace batchexec {
namespace {

const char kServer[] = "server/batchexec_server";

struct Exit {
  int code = -1;  // -1: still running after the timeout (then killed)
  std::string stderr_text;
};

// Runs the server binary with `args` until it exits or `timeout` passes.
Exit RunToExit(std::vector<std::string> args,
               absl::Duration timeout = absl::Seconds(5)) {
  Exit out;
  int err[2];
  if (pipe(err) != 0) return out;
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    dup2(null, STDOUT_FILENO);
    dup2(err[1], STDERR_FILENO);
    close(err[0]);
    std::vector<char*> argv{const_cast<char*>(kServer)};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(kServer, argv.data());
    _exit(127);
  }
  close(err[1]);
  int status = 0;
  const absl::Time give_up = absl::Now() + timeout;
  bool exited = false;
  while (absl::Now() < give_up) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      exited = true;
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (!exited) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  } else if (WIFEXITED(status)) {
    out.code = WEXITSTATUS(status);
  }
  char buf[4096];
  ssize_t n;
  while ((n = read(err[0], buf, sizeof buf)) > 0)
    out.stderr_text.append(buf, n);
  close(err[0]);
  return out;
}

TEST(StartupFlags, NonPositiveLimitsStopTheServerWithExitCode2) {
  for (const char* flag :
       {"max_task_concurrency", "max_inflight_tasks", "max_queued_tasks",
        "max_open_batches", "max_batch_size", "max_receive_message_bytes",
        "max_concurrent_streams", "max_attempts"}) {
    for (const char* value : {"0", "-1"}) {
      Exit e = RunToExit({"--port=0", absl::StrCat("--", flag, "=", value)});
      EXPECT_EQ(e.code, 2) << flag << "=" << value;
      EXPECT_NE(e.stderr_text.find(absl::StrCat("--", flag)), std::string::npos)
          << flag << "=" << value << ": " << e.stderr_text;
    }
  }
}

TEST(StartupFlags, NegativeWorkersPortsAndDurationsStopTheServer) {
  for (const char* arg :
       {"--cpu_workers=-1", "--port=-1", "--port=65536", "--shutdown_grace=-1s",
        "--keepalive_time=0s", "--keepalive_timeout=-5s",
        "--min_client_ping_interval=-1s", "--drain_delay=-1s",
        "--metrics_port=-1", "--metrics_port=65536"}) {
    Exit e = RunToExit({"--port=0", arg});
    EXPECT_EQ(e.code, 2) << arg;
    std::string flag(arg, std::string(arg).find('='));
    EXPECT_NE(e.stderr_text.find(flag), std::string::npos)
        << arg << ": " << e.stderr_text;
  }
}

TEST(StartupFlags, AllowlistEntryWithPortZeroStopsTheServer) {
  Exit e = RunToExit({"--port=0", "--probe_allowlist=127.0.0.1:0"});
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.stderr_text.find("--probe_allowlist"), std::string::npos)
      << e.stderr_text;
  EXPECT_NE(e.stderr_text.find("port 0"), std::string::npos) << e.stderr_text;
}

// "::/0" spans IPv4's mapped form; it admits IPv6 only, and the server says
// so as it starts (a later bad flag stops it here, after the warning).
TEST(StartupFlags, Ipv6AllowlistRuleSpanningIpv4IsCalledOutAtStart) {
  Exit e = RunToExit(
      {"--port=0", "--probe_allowlist=::/0", "--dns_servers=not a server"});
  EXPECT_NE(e.stderr_text.find("--probe_allowlist: warning: allowlist entry "
                               "'::/0' is an IPv6 rule"),
            std::string::npos)
      << e.stderr_text;
  EXPECT_NE(e.stderr_text.find("admits no IPv4"), std::string::npos)
      << e.stderr_text;
}

TEST(StartupFlags, DnsServersThatDoNotParseStopTheServer) {
  Exit e = RunToExit({"--port=0", "--dns_servers=not a server"});
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.stderr_text.find("--dns_servers"), std::string::npos)
      << e.stderr_text;
}

TEST(StartupFlags, DnsAllowlistThatDoesNotParseStopsTheServer) {
  Exit e = RunToExit({"--port=0", "--dns_allowlist=example.com,bad name"});
  EXPECT_EQ(e.code, 2);
  EXPECT_NE(e.stderr_text.find("--dns_allowlist"), std::string::npos)
      << e.stderr_text;
}

// Gathers one tcp_probe of host:port; the task's status code.
int ProbeCode(const std::string& server, const std::string& host, int port) {
  auto stub = v1::BatchExecutor::NewStub(
      grpc::CreateChannel(server, grpc::InsecureChannelCredentials()));
  v1::ExecuteRequest request;
  v1::Task* task = request.add_tasks();
  task->set_kind("tcp_probe");
  auto& args = *task->mutable_args()->mutable_fields();
  args["host"].set_string_value(host);
  args["port"].set_number_value(port);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
  v1::GatherResponse response;
  grpc::Status status = stub->Gather(&context, request, &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  if (!status.ok() || response.results_size() != 1) return -1;
  return response.results(0).status().code();
}

constexpr int kPermissionDenied =
    static_cast<int>(grpc::StatusCode::PERMISSION_DENIED);

TEST(StartupFlags, ServerOnEveryInterfaceDeniesProbesOfItsOwnLoopback) {
  testing::ServerProcess server(kServer, {"--host=0.0.0.0", "--port=0"});
  ASSERT_NE(server.port(), 0);
  // Its own port: reachable, so only the allowlist can refuse it.
  EXPECT_EQ(ProbeCode(server.target(), "127.0.0.1", server.port()),
            kPermissionDenied);
  EXPECT_EQ(ProbeCode(server.target(), "::1", server.port()),
            kPermissionDenied);
}

TEST(StartupFlags, ServerOnEveryInterfaceProbesLoopbackTheOperatorListed) {
  testing::ServerProcess server(
      kServer, {"--host=0.0.0.0", "--port=0", "--probe_allowlist=127.0.0.1"});
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(ProbeCode(server.target(), "127.0.0.1", server.port()), 0);
}

TEST(StartupFlags, LoopbackServerKeepsProbingLoopbackByDefault) {
  testing::ServerProcess server(kServer, {"--port=0"});
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(ProbeCode(server.target(), "127.0.0.1", server.port()), 0);
}

TEST(StartupFlags, Ipv6AllowAllDoesNotReachIpv4Loopback) {
  testing::ServerProcess server(
      kServer, {"--host=0.0.0.0", "--port=0", "--probe_allowlist=::/0"});
  ASSERT_NE(server.port(), 0);
  EXPECT_EQ(ProbeCode(server.target(), "127.0.0.1", server.port()),
            kPermissionDenied);
  EXPECT_EQ(ProbeCode(server.target(), "::ffff:127.0.0.1", server.port()),
            kPermissionDenied);
}

}  // namespace
}  // namespace batchexec
