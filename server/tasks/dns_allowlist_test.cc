#include "server/tasks/dns_allowlist.h"

#include "gtest/gtest.h"

namespace batchexec {
namespace {

TEST(DnsAllowlist, EmptyAllowsAnyName) {
  auto list = DnsAllowlist::Parse("");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->allows_any());
  EXPECT_TRUE(list->Allows("anything.example.org"));
  EXPECT_TRUE(DnsAllowlist().Allows("x"));
}

TEST(DnsAllowlist, BareSuffixAllowsItselfAndNamesUnderIt) {
  auto list = DnsAllowlist::Parse("example.com");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->Allows("example.com"));
  EXPECT_TRUE(list->Allows("EXAMPLE.com."));
  EXPECT_TRUE(list->Allows("a.b.example.com"));
  // Hostile near misses: a longer label, a suffix in the middle.
  EXPECT_FALSE(list->Allows("notexample.com"));
  EXPECT_FALSE(list->Allows("example.com.evil.org"));
  EXPECT_FALSE(list->Allows("com"));
  EXPECT_FALSE(list->Allows("localhost"));
}

TEST(DnsAllowlist, DottedSuffixAllowsOnlyNamesUnderIt) {
  auto list = DnsAllowlist::Parse("example.com, .svc.cluster.local");
  ASSERT_TRUE(list.ok()) << list.status();
  EXPECT_TRUE(list->Allows("db.ns.svc.cluster.local"));
  EXPECT_FALSE(list->Allows("svc.cluster.local"));
  EXPECT_FALSE(list->Allows("xsvc.cluster.local"));
  EXPECT_TRUE(list->Allows("example.com"));
}

TEST(DnsAllowlist, NumericAddressesNeedNoLookupAndPass) {
  auto list = DnsAllowlist::Parse("example.com");
  ASSERT_TRUE(list.ok());
  EXPECT_TRUE(list->Allows("192.0.2.1"));
  EXPECT_TRUE(list->Allows("2001:db8::1"));
}

TEST(DnsAllowlist, RejectsEntriesThatAreNoNames) {
  for (const char* spec : {",", "a..b", "bad name", ".", "a,,b", "x/y"}) {
    auto list = DnsAllowlist::Parse(spec);
    EXPECT_EQ(list.status().code(), absl::StatusCode::kInvalidArgument) << spec;
  }
}

}  // namespace
}  // namespace batchexec
