#include "common/huge_page_malloc.h"

#include <optional>

#include "gtest/gtest.h"

namespace batchexec {
namespace {

TEST(TunablesWithHugePagesTest, AddsTheTunableWhenUnset) {
  EXPECT_EQ(TunablesWithHugePages(nullptr), "glibc.malloc.hugetlb=1");
  EXPECT_EQ(TunablesWithHugePages(""), "glibc.malloc.hugetlb=1");
}

TEST(TunablesWithHugePagesTest, KeepsTheUsersOtherTunables) {
  EXPECT_EQ(TunablesWithHugePages("glibc.malloc.arena_max=2"),
            "glibc.malloc.arena_max=2:glibc.malloc.hugetlb=1");
}

// Already there, whatever its value (=0 turns it off): no re-exec, so the
// re-executed process never loops.
TEST(TunablesWithHugePagesTest, LeavesAnExplicitChoiceAlone) {
  EXPECT_EQ(TunablesWithHugePages("glibc.malloc.hugetlb=0"), std::nullopt);
  EXPECT_EQ(TunablesWithHugePages("glibc.malloc.hugetlb=1"), std::nullopt);
  EXPECT_EQ(TunablesWithHugePages("a.b.c=1:glibc.malloc.hugetlb=0"),
            std::nullopt);
}

}  // namespace
}  // namespace batchexec
