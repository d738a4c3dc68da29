#include "client/internal/batch_split.h"

#include <vector>

#include "gtest/gtest.h"

namespace batchexec {
namespace {

std::vector<size_t> Sizes(const std::vector<IndexRange>& ranges) {
  std::vector<size_t> sizes;
  for (const IndexRange& r : ranges) sizes.push_back(r.size());
  return sizes;
}

TEST(SplitContiguous, CoversTheBatchInOrderWithoutGaps) {
  std::vector<IndexRange> ranges = SplitContiguous(10, 3);
  ASSERT_EQ(ranges.size(), 3u);
  EXPECT_EQ(ranges[0].begin, 0u);
  for (size_t i = 1; i < ranges.size(); ++i) {
    EXPECT_EQ(ranges[i].begin, ranges[i - 1].end);
  }
  EXPECT_EQ(ranges.back().end, 10u);
  EXPECT_EQ(Sizes(ranges), (std::vector<size_t>{4, 3, 3}));
}

TEST(SplitContiguous, UsesNoMorePartsThanTasks) {
  EXPECT_EQ(Sizes(SplitContiguous(2, 5)), (std::vector<size_t>{1, 1}));
}

TEST(SplitContiguous, SendsAnEmptyBatchToOnePart) {
  std::vector<IndexRange> ranges = SplitContiguous(0, 3);
  ASSERT_EQ(ranges.size(), 1u);
  EXPECT_EQ(ranges[0].size(), 0u);
}

TEST(SplitContiguous, GivesNothingWithoutParts) {
  EXPECT_TRUE(SplitContiguous(5, 0).empty());
}

TEST(SplitContiguous, KeepsOnePartWhole) {
  EXPECT_EQ(Sizes(SplitContiguous(7, 1)), (std::vector<size_t>{7}));
}

}  // namespace
}  // namespace batchexec
