#include "server/core/heap_gauge.h"

#include <atomic>
#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace batchexec {
namespace {

struct FakeHeap {
  std::atomic<int> reads{0};
  std::atomic<int64_t> bytes{1000};
  absl::Time now = absl::UnixEpoch();
  HeapGauge::Reader reader() {
    return [this] {
      ++reads;
      return bytes.load();
    };
  }
  HeapGauge::Clock clock() {
    return [this] { return now; };
  }
};

TEST(HeapGaugeTest, ReadsInARowShareOneReading) {
  FakeHeap heap;
  HeapGauge gauge(heap.reader(), absl::Seconds(5), heap.clock());
  EXPECT_EQ(gauge.Get(), 1000);
  heap.bytes = 2000;
  heap.now += absl::Seconds(4);
  EXPECT_EQ(gauge.Get(), 1000);
  EXPECT_EQ(heap.reads, 1);
}

TEST(HeapGaugeTest, ReadsAgainOnceTheReadingIsMaxAgeOld) {
  FakeHeap heap;
  HeapGauge gauge(heap.reader(), absl::Seconds(5), heap.clock());
  gauge.Get();
  heap.bytes = 2000;
  heap.now += absl::Seconds(5);
  EXPECT_EQ(gauge.Get(), 2000);
  EXPECT_EQ(heap.reads, 2);
  // A clock that steps back does not freeze the figure.
  heap.bytes = 3000;
  heap.now -= absl::Seconds(60);
  EXPECT_EQ(gauge.Get(), 3000);
  EXPECT_EQ(heap.reads, 3);
}

TEST(HeapGaugeTest, ConcurrentReadersTakeOneReading) {
  FakeHeap heap;
  HeapGauge gauge(heap.reader(), absl::Seconds(5), heap.clock());
  std::vector<std::thread> threads;
  for (int i = 0; i < 8; ++i) {
    threads.emplace_back([&] {
      for (int j = 0; j < 100; ++j) EXPECT_EQ(gauge.Get(), 1000);
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(heap.reads, 1);
}

TEST(HeapGaugeTest, DefaultsToMallocsFigure) {
  HeapGauge gauge;
  // The ASan and TSan allocators replace glibc's: mallinfo2 says 0 there.
  EXPECT_GE(gauge.Get(), 0);
}

}  // namespace
}  // namespace batchexec
