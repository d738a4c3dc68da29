#include "server/core/worker_pool.h"

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "common/mutex.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

TEST(WorkerPool, RunBothRunsBothAndReturnsAfterBoth) {
  WorkerPool pool(2);
  for (int i = 0; i < 100; ++i) {
    std::atomic<int> ran{0};
    pool.RunBoth([&] { ran += 1; }, [&] { ran += 10; });
    EXPECT_EQ(ran.load(), 11);
  }
}

TEST(WorkerPool, RunBothDoesNotWaitForABusyPool) {
  WorkerPool pool(1);
  absl::Notification release;
  pool.Post([&release] { release.WaitForNotification(); });
  std::thread::id first, second;
  pool.RunBoth([&] { first = std::this_thread::get_id(); },
               [&] { second = std::this_thread::get_id(); });
  // The only worker is stuck, so the caller ran both.
  EXPECT_EQ(first, std::this_thread::get_id());
  EXPECT_EQ(second, std::this_thread::get_id());
  release.Notify();
}

TEST(WorkerPool, LanesTakeTurnsSoASmallLaneIsNotStuckBehindABigOne) {
  WorkerPool pool(1);
  absl::Notification started, release;
  pool.Post([&] {
    started.Notify();
    release.WaitForNotification();
  });
  started.WaitForNotification();
  int big_lane = 0, small_lane = 0;
  Mutex mu;
  std::vector<char> order;
  for (int i = 0; i < 1000; ++i) {
    pool.Post(&big_lane, [&] {
      MutexLock lock(&mu);
      order.push_back('B');
    });
  }
  for (int i = 0; i < 3; ++i) {
    pool.Post(&small_lane, [&] {
      MutexLock lock(&mu);
      order.push_back('s');
    });
  }
  EXPECT_EQ(pool.waiting_lanes(), 2u);
  release.Notify();
  for (;;) {
    {
      MutexLock lock(&mu);
      if (order.size() == 1003) break;
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  // Alternating turns: the small lane's three jobs run among the first six.
  const std::string head(order.begin(), order.begin() + 6);
  EXPECT_EQ(head, "BsBsBs");
  EXPECT_EQ(pool.waiting_lanes(), 0u);
}

TEST(WorkerPool, CallersTakeTurnsWhateverTheirNumberOfLanes) {
  WorkerPool pool(1);
  absl::Notification release;
  pool.Post([&release] { release.WaitForNotification(); });
  int caller_a = 0, caller_b = 0;
  int lanes[4];
  Mutex mu;
  std::string order;
  auto log = [&](char c) {
    return [&, c] {
      MutexLock lock(&mu);
      order.push_back(c);
    };
  };
  for (int i = 0; i < 3; ++i) {  // caller A: three lanes, three jobs each
    for (int j = 0; j < 3; ++j) pool.Post(&caller_a, &lanes[i], log('a' + i));
  }
  for (int j = 0; j < 3; ++j) pool.Post(&caller_b, &lanes[3], log('B'));
  release.Notify();
  for (;;) {
    {
      MutexLock lock(&mu);
      if (order.size() == 12) break;
    }
    absl::SleepFor(absl::Milliseconds(1));
  }
  // Callers alternate; A's lanes take turns within A's turns.
  EXPECT_EQ(order, "aBbBcBabcabc");
}

}  // namespace
}  // namespace batchexec
