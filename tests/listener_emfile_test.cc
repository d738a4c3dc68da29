// The listener after EMFILE: a server whose descriptors all went to
// connections accepts fresh ones again once they are closed (gRPC 1.51 alone
// stops polling its listening socket for good: server/rpc/accept_shed.h).
// Runs the real server binary under `ulimit -n 64`.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/test_util/health_check.h"
#include "tests/test_util/server_process.h"

namespace batchexec {
namespace {

const char kServer[] = "server/batchexec_server";

// A plain TCP connection to 127.0.0.1:port that says nothing: the server
// holds a descriptor for it until the gRPC handshake times out (minutes).
int Connect(int port) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = htons(port);
  if (connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

absl::StatusOr<int> FreshHealthCheck(const std::string& target, int salt) {
  grpc::ChannelArguments args;
  args.SetInt("batchexec.test.unique", salt);  // a new TCP connection
  return testing::CheckHealth(grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), args));
}

TEST(ListenerEmfile, AcceptsAgainOnceDescriptorsFreeUp) {
  const std::string server = kServer;
  testing::ServerProcess process(
      "/bin/sh", {"-c", "ulimit -n 64 && exec \"$0\" \"$@\"", server,
                  "--port=0", "--host=127.0.0.1"});
  ASSERT_NE(process.port(), 0);
  ASSERT_EQ(*FreshHealthCheck(process.target(), 1), testing::kServing);

  // Far more connections than the server has descriptors for.
  std::vector<int> held;
  for (int i = 0; i < 150; ++i) {
    const int fd = Connect(process.port());
    if (fd >= 0) held.push_back(fd);
  }
  ASSERT_GT(held.size(), 64u);
  // The server accepts until its descriptors run out, then hits EMFILE.
  absl::SleepFor(absl::Seconds(1));
  for (int fd : held) close(fd);

  // Its descriptors free up as it sees the connections close; a fresh
  // connection is served (a few tries: closing them takes the server a
  // moment on a loaded machine).
  absl::StatusOr<int> health = absl::UnknownError("not tried");
  for (int attempt = 0; attempt < 3; ++attempt) {
    health = FreshHealthCheck(process.target(), 100 + attempt);
    if (health.ok()) break;
  }
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, testing::kServing);
}

}  // namespace
}  // namespace batchexec
