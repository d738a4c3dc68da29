// What an operator sees of a running server: GET /metrics over real HTTP
// (libmicrohttpd behind it) and the access log's one line per batch.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <sstream>
#include <string>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/rpc/builtin_server.h"

namespace batchexec {
namespace {

// A port free now (metrics_port 0 means off, so tests pick one).
int FreePort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

// The whole HTTP/1.0 response to `GET path` (the client side of a scrape;
// the server side is libmicrohttpd's).
std::string HttpGet(int port, const std::string& path) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return "";
  }
  const std::string request = absl::StrCat("GET ", path, " HTTP/1.0\r\n\r\n");
  (void)write(fd, request.data(), request.size());
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) response.append(buf, n);
  close(fd);
  return response;
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

TEST(Operations, MetricsEndpointCountsARealBatchByKindAndCode) {
  ServerOptions options;
  options.metrics_port = FreePort();
  auto server = StartBuiltinServer(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->metrics_port(), options.metrics_port);
  Client client(grpc::CreateChannel((*server)->target(),
                                    grpc::InsecureChannelCredentials()));
  auto outputs =
      client.Gather({Task::Echo({{"x", 1}}), Task::Echo({{"x", 2}})});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  auto failed =
      client.Gather({Task::Fail(absl::StatusCode::kNotFound, "no such thing")});
  EXPECT_FALSE(failed.ok());

  const std::string response = HttpGet(options.metrics_port, "/metrics");
  EXPECT_TRUE(absl::StartsWith(response, "HTTP/1.0 200") ||
              absl::StartsWith(response, "HTTP/1.1 200"))
      << response.substr(0, 200);
  EXPECT_TRUE(absl::StrContains(response, "text/plain; version=0.0.4"));
  EXPECT_TRUE(absl::StrContains(
      response,
      "batchexec_tasks_completed_total{kind=\"echo\",code=\"OK\"} 2\n"))
      << response;
  EXPECT_TRUE(absl::StrContains(response,
                                "batchexec_tasks_completed_total{kind=\"fail\","
                                "code=\"NOT_FOUND\"} 1\n"));
  EXPECT_TRUE(
      absl::StrContains(response, "batchexec_batches_started_total 2\n"));
  EXPECT_TRUE(absl::StrContains(
      response, "batchexec_task_duration_seconds_count{kind=\"echo\"} 2\n"));
  EXPECT_TRUE(absl::StrContains(response,
                                "batchexec_batch_duration_seconds_count 2\n"));

  // Anything but /metrics is 404.
  EXPECT_TRUE(absl::StrContains(HttpGet(options.metrics_port, "/"), " 404 "));
}

TEST(Operations, RejectionsAreCountedByReason) {
  ServerOptions options;
  options.metrics_port = FreePort();
  options.executor.max_batch_size = 2;
  auto server = StartBuiltinServer(options);
  ASSERT_TRUE(server.ok()) << server.status();
  Client client(grpc::CreateChannel((*server)->target(),
                                    grpc::InsecureChannelCredentials()));
  auto too_big = client.Gather(
      {Task::Echo({{"x", 1}}), Task::Echo({{"x", 1}}), Task::Echo({{"x", 1}})});
  EXPECT_EQ(too_big.status().code(), absl::StatusCode::kInvalidArgument);
  const std::string response = HttpGet(options.metrics_port, "/metrics");
  EXPECT_TRUE(absl::StrContains(
      response,
      "batchexec_requests_rejected_total{reason=\"max_batch_size\"} 1\n"))
      << response;
}

TEST(Operations, NoMetricsPortMeansNoEndpoint) {
  auto server = StartBuiltinServer(ServerOptions());
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ((*server)->metrics_port(), 0);
}

TEST(Operations, AccessLogWritesOneLinePerBatchWithoutArgs) {
  const std::string path = absl::StrCat(
      getenv("TEST_TMPDIR") ? getenv("TEST_TMPDIR") : "/tmp", "/access.log");
  std::remove(path.c_str());
  ServerOptions options;
  options.access_log = path;
  auto server = StartBuiltinServer(options);
  ASSERT_TRUE(server.ok()) << server.status();
  Client client(grpc::CreateChannel((*server)->target(),
                                    grpc::InsecureChannelCredentials()));
  auto outputs =
      client.Gather({Task::Echo({{"secret", "hunter2-arg"}}),
                     Task::Echo({{"x", 2}}), Task::Echo({{"x", 3}})});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  // The line is written when the call ends on the server, just after the
  // client has its response.
  std::string log;
  for (absl::Time give_up = absl::Now() + absl::Seconds(5);
       absl::Now() < give_up; absl::SleepFor(absl::Milliseconds(20))) {
    log = Slurp(path);
    if (!log.empty()) break;
  }
  EXPECT_EQ(std::count(log.begin(), log.end(), '\n'), 1) << log;
  for (const char* field :
       {"method=", "batch=b1", "caller=ipv4:127.0.0.1", "peer=ipv4:", "tasks=3",
        "policy=FAIL_FAST", "outcome=OK", "failed=0",
        "wall=", "bytes_in=", "bytes_out="}) {
    EXPECT_TRUE(absl::StrContains(log, field)) << field << " in " << log;
  }
  EXPECT_FALSE(absl::StrContains(log, "hunter2")) << log;
}

}  // namespace
}  // namespace batchexec
