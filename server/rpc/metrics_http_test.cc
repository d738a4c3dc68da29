#include "server/rpc/metrics_http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <iostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/core/limits.h"

namespace batchexec {
namespace {

// A TCP connection to 127.0.0.1:port from `from` (another loopback address
// is another client address to the server); -1 if it fails.
int Connect(int port, const char* from) {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in local{};
  local.sin_family = AF_INET;
  inet_pton(AF_INET, from, &local.sin_addr);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = htons(port);
  if (bind(fd, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

// A scrape from 127.0.0.1: the whole response, or "" if none came within
// `patience`.
std::string Scrape(int port, absl::Duration patience) {
  const int fd = Connect(port, "127.0.0.1");
  if (fd < 0) return "";
  timeval tv = absl::ToTimeval(patience);
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  const std::string request = "GET /metrics HTTP/1.0\r\n\r\n";
  (void)write(fd, request.data(), request.size());
  std::string response;
  char buf[4096];
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) response.append(buf, n);
  close(fd);
  return response;
}

std::unique_ptr<MetricsHttpServer> StartServer() {
  auto server = MetricsHttpServer::Start("127.0.0.1", 0,
                                         [] { return std::string("up 1\n"); });
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? *std::move(server) : nullptr;
}

// Clients that connect and send nothing, or half a request line, from
// enough addresses to fill every place.
TEST(MetricsHttpServer, IdleClientsAtTheCapDelayAScrapeByAtMostTheTimeout) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  constexpr unsigned kAddresses =
      kMetricsMaxConnections / kMetricsConnectionsPerAddress;
  std::vector<int> idle;
  for (unsigned a = 0; a < kAddresses; ++a) {
    const std::string from = absl::StrCat("127.0.0.", 2 + a);
    for (unsigned i = 0; i < kMetricsConnectionsPerAddress; ++i) {
      const int fd = Connect(server->port(), from.c_str());
      ASSERT_GE(fd, 0) << from;
      if (i % 2 == 1) (void)write(fd, "GET /metr", 9);
      idle.push_back(fd);
    }
  }
  absl::SleepFor(absl::Milliseconds(200));  // all accepted by now
  const absl::Time start = absl::Now();
  const std::string response =
      Scrape(server->port(), kMetricsConnectionTimeout + absl::Seconds(30));
  const absl::Duration took = absl::Now() - start;
  std::cerr << "METRICS scrape behind " << idle.size()
            << " idle connections took " << absl::FormatDuration(took)
            << " (timeout " << absl::FormatDuration(kMetricsConnectionTimeout)
            << ")\n";
  EXPECT_TRUE(absl::StartsWith(response, "HTTP/1.0 200") ||
              absl::StartsWith(response, "HTTP/1.1 200"))
      << response.substr(0, 200);
  EXPECT_TRUE(absl::StrContains(response, "up 1\n"));
  EXPECT_LT(took, kMetricsConnectionTimeout + absl::Seconds(10));
  for (int fd : idle) close(fd);
}

// One address opening the cap's worth holds only its share: a scrape from
// elsewhere does not wait at all.
TEST(MetricsHttpServer, OneAddressHoldsOnlyItsShareOfThePlaces) {
  auto server = StartServer();
  ASSERT_NE(server, nullptr);
  std::vector<int> idle;
  for (unsigned i = 0; i < kMetricsMaxConnections; ++i) {
    const int fd = Connect(server->port(), "127.0.0.2");
    if (fd >= 0) idle.push_back(fd);
  }
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  const std::string response =
      Scrape(server->port(), kMetricsConnectionTimeout + absl::Seconds(30));
  const absl::Duration took = absl::Now() - start;
  std::cerr << "METRICS scrape beside " << idle.size()
            << " idle connections from one address took "
            << absl::FormatDuration(took) << "\n";
  EXPECT_TRUE(absl::StrContains(response, "up 1\n")) << response.substr(0, 200);
  EXPECT_LT(took, kMetricsConnectionTimeout);
  for (int fd : idle) close(fd);
}

}  // namespace
}  // namespace batchexec
