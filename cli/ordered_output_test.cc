#include "cli/ordered_output.h"

#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace batchexec {
namespace {

std::string Line(size_t i) { return std::to_string(i) + "\n"; }

TEST(OrderedOutput, WritesInIndexOrderWhateverTheArrivalOrder) {
  OrderedOutput output(4);
  output.Open();
  for (size_t i : {2, 0, 3, 1}) output.Put(i, Line(i));
  std::ostringstream out;
  EXPECT_EQ(output.WriteTo(out), 4u);
  EXPECT_EQ(out.str(), "0\n1\n2\n3\n");
}

TEST(OrderedOutput, WritesALineAsSoonAsEveryEarlierOneIsOut) {
  OrderedOutput output(3);
  output.Open();
  std::ostringstream out;
  output.Put(1, Line(1));
  output.Put(0, Line(0));
  // Lines 0 and 1 are ready; WriteTo must not wait for line 2 to show them.
  std::thread writer([&] { output.WriteTo(out); });
  output.Put(2, Line(2));
  writer.join();
  EXPECT_EQ(out.str(), "0\n1\n2\n");
}

TEST(OrderedOutput, HoldsLinesUntilOpenedAndDropsNothing) {
  OrderedOutput output(2);
  output.Put(0, Line(0));
  output.Put(1, Line(1));
  output.Close();
  std::ostringstream out;
  EXPECT_EQ(output.WriteTo(out), 0u);  // closed before it was opened
  EXPECT_EQ(out.str(), "");
  output.Open();
  EXPECT_EQ(output.WriteTo(out), 2u);
  EXPECT_EQ(out.str(), "0\n1\n");
}

TEST(OrderedOutput, CloseEndsAWriterWaitingForAGap) {
  OrderedOutput output(3);
  output.Open();
  output.Put(0, Line(0));
  output.Put(2, Line(2));
  std::ostringstream out;
  std::thread writer([&] { EXPECT_EQ(output.WriteTo(out), 1u); });
  output.Close();
  writer.join();
  EXPECT_EQ(out.str(), "0\n");
}

TEST(OrderedOutput, AnEmptyBatchWritesNothingAndReturns) {
  OrderedOutput output(0);
  std::ostringstream out;
  EXPECT_EQ(output.WriteTo(out), 0u);
}

TEST(OrderedOutput, ManyWritersOneReader) {
  constexpr size_t kLines = 20000;
  OrderedOutput output(kLines);
  output.Open();
  std::thread odd([&] {
    for (size_t i = 1; i < kLines; i += 2) output.Put(i, Line(i));
  });
  std::thread even([&] {
    for (size_t i = 0; i < kLines; i += 2) output.Put(i, Line(i));
  });
  std::ostringstream out;
  EXPECT_EQ(output.WriteTo(out), kLines);
  odd.join();
  even.join();
  std::string expected;
  for (size_t i = 0; i < kLines; ++i) expected += Line(i);
  EXPECT_EQ(out.str(), expected);
}

}  // namespace
}  // namespace batchexec
