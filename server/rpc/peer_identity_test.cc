#include "server/rpc/peer_identity.h"

#include "gtest/gtest.h"

namespace batchexec {
namespace {

TEST(CallerNameOfPeer, AddressesOfOneSlash64AreOneCaller) {
  const std::string name = CallerNameOfPeer("ipv6:[2001:db8:1:2::1]:5123");
  EXPECT_EQ(name, "ipv6:[2001:db8:1:2::]/64");
  for (const char* peer :
       {"ipv6:[2001:db8:1:2:ffff:ffff:ffff:ffff]:1",
        "ipv6:[2001:db8:1:2:dead:beef:0:7]:65535",
        "ipv6:%5B2001:db8:1:2:1234::%5D:80",  // gRPC 1.51's encoding
        "ipv6:%5b2001:0db8:0001:0002:0:0:0:9%5d:80",
        "ipv6:[2001:db8:1:2::9%25eth0]:80"}) {  // with a zone
    EXPECT_EQ(CallerNameOfPeer(peer), name) << peer;
  }
}

TEST(CallerNameOfPeer, DifferentSlash64sAreDifferentCallers) {
  EXPECT_NE(CallerNameOfPeer("ipv6:[2001:db8:1:2::1]:5123"),
            CallerNameOfPeer("ipv6:[2001:db8:1:3::1]:5123"));
  EXPECT_NE(CallerNameOfPeer("ipv6:[2001:db8:1:2::1]:5123"),
            CallerNameOfPeer("ipv6:[2001:db9:1:2::1]:5123"));
  EXPECT_EQ(CallerNameOfPeer("ipv6:[::1]:5123"), "ipv6:[::]/64");
}

TEST(CallerNameOfPeer, Ipv4IsTheAddressWithoutThePort) {
  EXPECT_EQ(CallerNameOfPeer("ipv4:10.0.0.7:5123"), "ipv4:10.0.0.7");
  EXPECT_EQ(CallerNameOfPeer("ipv4:127.0.0.1:1"), "ipv4:127.0.0.1");
  EXPECT_NE(CallerNameOfPeer("ipv4:10.0.0.7:5123"),
            CallerNameOfPeer("ipv4:10.0.0.8:5123"));
}

TEST(CallerNameOfPeer, V4MappedIpv6IsTheIpv4Address) {
  EXPECT_EQ(CallerNameOfPeer("ipv6:[::ffff:10.0.0.7]:5123"), "ipv4:10.0.0.7");
  EXPECT_EQ(CallerNameOfPeer("ipv6:%5B::ffff:a00:7%5D:5123"), "ipv4:10.0.0.7");
  // Not one /64 of "::ffff:0:0": two mapped hosts stay two callers.
  EXPECT_NE(CallerNameOfPeer("ipv6:[::ffff:10.0.0.7]:1"),
            CallerNameOfPeer("ipv6:[::ffff:10.0.0.8]:1"));
}

TEST(CallerNameOfPeer, OtherPeersLoseOnlyTheirPort) {
  EXPECT_EQ(CallerNameOfPeer("unix:/tmp/sock"), "unix:/tmp/sock");
  EXPECT_EQ(CallerNameOfPeer("ipv6:garbage:1"), "ipv6:garbage");
  EXPECT_EQ(CallerNameOfPeer("ipv6:[not-an-address]:1"),
            "ipv6:[not-an-address]");
}

}  // namespace
}  // namespace batchexec
