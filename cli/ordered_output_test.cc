#include "cli/ordered_output.h"

#include <algorithm>
#include <atomic>
#include <random>
#include <sstream>
#include <streambuf>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
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

// A result line as long as the CLI's might be.
std::string LongLine(size_t i) {
  return absl::StrCat("{\"index\":", i, ",\"x\":\"", std::string(i % 300, 'x'),
                      "\"}\n");
}

std::string SpillDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr ? dir : "/tmp";
}

// Puts lines 0 .. count-1 in a shuffled order from two threads while
// WriteTo runs, and returns what it wrote.
std::string PutShuffled(size_t count, const OrderedOutputOptions& options) {
  std::vector<size_t> order(count);
  for (size_t i = 0; i < count; ++i) order[i] = i;
  std::shuffle(order.begin(), order.end(), std::mt19937(count));
  // Index 0 last: everything else waits behind it.
  std::iter_swap(std::find(order.begin(), order.end(), 0), order.end() - 1);
  OrderedOutput output(count, options);
  output.Open();
  std::ostringstream out;
  std::thread writer([&] { output.WriteTo(out); });
  std::thread first([&] {
    for (size_t k = 0; k < count; k += 2)
      output.Put(order[k], LongLine(order[k]));
  });
  std::thread second([&] {
    for (size_t k = 1; k < count; k += 2)
      output.Put(order[k], LongLine(order[k]));
  });
  first.join();
  second.join();
  output.Close();
  writer.join();
  return out.str();
}

TEST(OrderedOutput, SpilledLinesComeBackInOrderAsIfNeverSpilled) {
  constexpr size_t kLines = 5000;
  std::string expected;
  for (size_t i = 0; i < kLines; ++i) expected += LongLine(i);
  OrderedOutputOptions memory;
  memory.max_pending_bytes = SIZE_MAX;
  EXPECT_EQ(PutShuffled(kLines, memory), expected);
  for (size_t cap : {size_t{0}, size_t{1000}, size_t{64 << 10}}) {
    OrderedOutputOptions spill;
    spill.max_pending_bytes = cap;
    spill.max_ready_bytes = 4096;
    spill.spill_dir = SpillDir();
    OrderedOutput output(kLines, spill);
    output.Open();
    std::ostringstream out;
    // Index 0 last: all others wait, and all but `cap` bytes of them spill.
    for (size_t i = kLines; i-- > 1;) output.Put(i, LongLine(i));
    EXPECT_GT(output.spilled_lines(), kLines / 2) << cap;
    std::thread writer([&] { output.WriteTo(out); });
    output.Put(0, LongLine(0));
    writer.join();
    EXPECT_EQ(out.str(), expected) << cap;
    EXPECT_EQ(output.read_error(), "");
    // And interleaved with the writer, from two threads.
    EXPECT_EQ(PutShuffled(kLines, spill), expected) << cap;
  }
}

TEST(OrderedOutput, UnorderedWritesEveryLineOnceAsItArrives) {
  constexpr size_t kLines = 3000;
  OrderedOutputOptions options;
  options.unordered = true;
  options.max_ready_bytes = 1000;
  const std::string text = PutShuffled(kLines, options);
  std::vector<std::string> lines;
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) lines.push_back(line + "\n");
  ASSERT_EQ(lines.size(), kLines);
  std::vector<std::string> sorted = lines;
  std::sort(sorted.begin(), sorted.end());
  std::vector<std::string> expected;
  for (size_t i = 0; i < kLines; ++i) expected.push_back(LongLine(i));
  std::sort(expected.begin(), expected.end());
  EXPECT_EQ(sorted, expected);  // each exactly once

  // In arrival order: index 0 last is written last.
  OrderedOutput late_first(3, options);
  late_first.Open();
  for (size_t i : {2, 1, 0}) late_first.Put(i, Line(i));
  std::ostringstream in_arrival_order;
  EXPECT_EQ(late_first.WriteTo(in_arrival_order), 3u);
  EXPECT_EQ(in_arrival_order.str(), "2\n1\n0\n");

  // Nothing waits for a gap: a lone late index is written at once.
  OrderedOutput output(2, options);
  output.Open();
  output.Put(1, Line(1));
  output.Close();
  std::ostringstream out;
  EXPECT_EQ(output.WriteTo(out), 1u);
  EXPECT_EQ(out.str(), "1\n");
}

// A stdout that takes nothing until released.
class BlockingBuf : public std::streambuf {
 public:
  absl::Notification entered;
  absl::Notification release;
  std::string text;

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    if (!entered.HasBeenNotified()) entered.Notify();
    release.WaitForNotification();
    text.append(s, n);
    return n;
  }
  int_type overflow(int_type c) override {
    char ch = traits_type::to_char_type(c);
    return xsputn(&ch, 1) == 1 ? c : traits_type::eof();
  }
};

TEST(OrderedOutput, ASlowStdoutMakesPutWaitInsteadOfGrowing) {
  constexpr size_t kLines = 2000;
  OrderedOutputOptions options;
  options.max_ready_bytes = 10 * 1024;
  OrderedOutput output(kLines, options);
  output.Open();
  BlockingBuf buf;
  std::ostream out(&buf);
  std::thread writer([&] { output.WriteTo(out); });
  std::atomic<size_t> put{0};
  std::thread producer([&] {
    for (size_t i = 0; i < kLines; ++i) {
      output.Put(i, LongLine(i));
      ++put;
    }
    output.Close();
  });
  buf.entered.WaitForNotification();  // the writer is stuck on stdout
  absl::SleepFor(absl::Milliseconds(200));
  // Held: at most the cap, one block being written, and the line that
  // crossed the cap.
  size_t held_bytes = 0;
  for (size_t i = 0; i < put.load(); ++i) held_bytes += LongLine(i).size();
  EXPECT_LT(put.load(), kLines);
  EXPECT_LE(held_bytes, options.max_ready_bytes + OrderedOutput::kBlockBytes +
                            LongLine(kLines).size() * 2);
  buf.release.Notify();
  producer.join();
  writer.join();
  std::string expected;
  for (size_t i = 0; i < kLines; ++i) expected += LongLine(i);
  EXPECT_EQ(buf.text, expected);
}

TEST(OrderedOutput, AFailedStdoutEndsWriteToAndNoPutWaitsForIt) {
  OrderedOutputOptions options;
  options.max_ready_bytes = 10;
  OrderedOutput output(1000, options);
  output.Open();
  std::ostringstream out;
  out.setstate(std::ios::badbit);  // a write error
  std::thread writer([&] { output.WriteTo(out); });
  // Every Put returns though nothing can be written.
  for (size_t i = 0; i < 1000; ++i) output.Put(i, LongLine(i));
  writer.join();
}

TEST(OrderedOutput, AbandonReleasesAWaitingPutAndTheWriter) {
  OrderedOutputOptions options;
  options.max_ready_bytes = 10;
  OrderedOutput output(3, options);
  output.Open();
  BlockingBuf buf;
  std::ostream out(&buf);
  std::thread writer([&] { output.WriteTo(out); });
  output.Put(0, LongLine(0));  // the writer takes it and blocks
  buf.entered.WaitForNotification();
  absl::Notification put;
  std::thread producer([&] {
    output.Put(1, LongLine(100));  // past the cap: waits
    put.Notify();
  });
  EXPECT_FALSE(put.WaitForNotificationWithTimeout(absl::Milliseconds(100)));
  output.Abandon();
  EXPECT_TRUE(put.WaitForNotificationWithTimeout(absl::Seconds(20)));
  producer.join();
  buf.release.Notify();
  writer.join();
  EXPECT_EQ(buf.text, LongLine(0));
}

}  // namespace
}  // namespace batchexec
