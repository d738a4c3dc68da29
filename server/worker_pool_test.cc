#include "server/worker_pool.h"

#include <atomic>
#include <thread>

#include "absl/synchronization/notification.h"
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

}  // namespace
}  // namespace batchexec
