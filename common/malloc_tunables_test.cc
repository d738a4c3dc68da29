#include "common/malloc_tunables.h"

#include <optional>

#include "gtest/gtest.h"

namespace batchexec {
namespace {

constexpr char kAll[] =
    "glibc.malloc.hugetlb=1:glibc.malloc.top_pad=67108864:"
    "glibc.malloc.mmap_threshold=33554432";

TEST(WithShortRunMallocTunablesTest, AddsThemAllWhenUnset) {
  EXPECT_EQ(WithShortRunMallocTunables(nullptr), kAll);
  EXPECT_EQ(WithShortRunMallocTunables(""), kAll);
}

TEST(WithShortRunMallocTunablesTest, KeepsTheUsersOtherTunables) {
  EXPECT_EQ(WithShortRunMallocTunables("glibc.malloc.arena_max=2"),
            std::string("glibc.malloc.arena_max=2:") + kAll);
}

// A tunable already there keeps its value (=0 turns huge pages off); only
// the missing ones are added.
TEST(WithShortRunMallocTunablesTest, KeepsTheUsersValues) {
  EXPECT_EQ(WithShortRunMallocTunables("glibc.malloc.hugetlb=0"),
            "glibc.malloc.hugetlb=0:glibc.malloc.top_pad=67108864:"
            "glibc.malloc.mmap_threshold=33554432");
  // A name that only starts like one of ours is not it.
  EXPECT_EQ(WithShortRunMallocTunables("glibc.malloc.top_pad_x=1"),
            std::string("glibc.malloc.top_pad_x=1:") + kAll);
}

// Once all are named, whatever their values: no re-exec, so the re-executed
// process never loops.
TEST(WithShortRunMallocTunablesTest, NoReexecOnceAllAreNamed) {
  EXPECT_EQ(WithShortRunMallocTunables(kAll), std::nullopt);
  EXPECT_EQ(WithShortRunMallocTunables(
                "glibc.malloc.mmap_threshold=1:a.b.c=1:glibc.malloc.hugetlb=0:"
                "glibc.malloc.top_pad=0"),
            std::nullopt);
  EXPECT_EQ(WithShortRunMallocTunables(
                WithShortRunMallocTunables("a.b.c=1")->c_str()),
            std::nullopt);
}

}  // namespace
}  // namespace batchexec
