#include "server/tasks/host_port.h"

#include <string>

#include "gtest/gtest.h"

namespace batchexec {
namespace {

TEST(ParseHostPort, SplitsNamesAndAddresses) {
  auto name = ParseHostPort("svc-a.example.test:50051");
  ASSERT_TRUE(name.ok()) << name.status();
  EXPECT_EQ(name->host, "svc-a.example.test");
  EXPECT_EQ(name->port, 50051);
  auto v4 = ParseHostPort("127.0.0.1:1");
  ASSERT_TRUE(v4.ok()) << v4.status();
  EXPECT_EQ(v4->ToString(), "127.0.0.1:1");
  auto v6 = ParseHostPort("[::1]:65535");
  ASSERT_TRUE(v6.ok()) << v6.status();
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->ToString(), "[::1]:65535");
}

TEST(ParseHostPort, RejectsWhatIsNoTarget) {
  for (const char* bad :
       {"", "127.0.0.1", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536",
        "127.0.0.1:+80", "127.0.0.1:80x", "::1:80", "[::1]", "[::1]80",
        "[127.0.0.1]:80", "[::1:80", ":80", "bad host:80", "a..b:80",
        "dns:///x:80"}) {
    auto hp = ParseHostPort(bad);
    EXPECT_FALSE(hp.ok()) << "'" << bad << "' -> " << hp->ToString();
    if (!hp.ok()) {
      EXPECT_EQ(hp.status().code(), absl::StatusCode::kInvalidArgument);
    }
  }
  const std::string long_host(254, 'a');
  EXPECT_FALSE(ParseHostPort(long_host + ":80").ok());
}

}  // namespace
}  // namespace batchexec
