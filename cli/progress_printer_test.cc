#include "cli/progress_printer.h"

#include <fcntl.h>
#include <unistd.h>

#include <atomic>
#include <sstream>
#include <string>
#include <thread>

#include "absl/synchronization/notification.h"
#include "cli/fd_ostream.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;

Progress Counts(size_t total, size_t completed, size_t failed, size_t running,
                size_t queued) {
  Progress p;
  p.total = total;
  p.completed = completed;
  p.failed = failed;
  p.running = running;
  p.queued = queued;
  return p;
}

TEST(FormatProgress, ShowsEveryCountAndTheElapsedTime) {
  EXPECT_EQ(FormatProgress(Counts(100, 12, 1, 4, 84), absl::Seconds(3.25)),
            "12/100 done, 1 failed, 4 running, 84 queued, 3.2s");
}

TEST(FormatProgressBar, FillsInProportionToCompletion) {
  EXPECT_EQ(FormatProgressBar(Counts(4, 1, 0, 1, 2), absl::ZeroDuration(), 8),
            "[##------] 1/4 done, 0 failed, 1 running, 2 queued, 0.0s");
  EXPECT_THAT(FormatProgressBar(Counts(0, 0, 0, 0, 0), absl::ZeroDuration(), 4),
              HasSubstr("[####]"));
}

TEST(ProgressPrinter, LinesStylePrintsPeriodicLinesAndASummary) {
  std::ostringstream out;
  {
    ProgressPrinter printer(out, ProgressStyle::kLines, absl::Milliseconds(5));
    printer.Update(Counts(3, 1, 0, 2, 0));
    absl::SleepFor(absl::Milliseconds(40));
    printer.Finish(Counts(3, 3, 1, 0, 0), absl::Seconds(1));
  }
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("progress: 1/3 done"));
  EXPECT_THAT(text, HasSubstr("progress: 3/3 done, 1 failed"));
  EXPECT_THAT(text, HasSubstr("3 tasks: 2 ok, 1 failed in 1.00s\n"));
  EXPECT_EQ(text.find('\r'), std::string::npos);
}

TEST(ProgressPrinter, BarStyleRedrawsInPlace) {
  std::ostringstream out;
  ProgressPrinter printer(out, ProgressStyle::kBar, absl::Milliseconds(5));
  printer.Finish(Counts(1, 1, 0, 0, 0), absl::Seconds(1));
  EXPECT_THAT(out.str(), HasSubstr("\r\033[K["));
}

TEST(ProgressPrinter, NoneStylePrintsNothing) {
  std::ostringstream out;
  ProgressPrinter printer(out, ProgressStyle::kNone, absl::Milliseconds(5));
  printer.Update(Counts(1, 0, 0, 1, 0));
  printer.Finish(Counts(1, 1, 0, 0, 0), absl::Seconds(1));
  EXPECT_EQ(out.str(), "");
}

// stderr as a pipe nobody reads: full, so the printer's thread blocks in its
// first write. Update (the SDK's on_progress, on its callback thread) must
// still return at once, again and again.
TEST(ProgressPrinter, AStalledStderrNeverBlocksUpdate) {
  int fds[2];
  ASSERT_EQ(pipe(fds), 0);
  // Fill the pipe.
  ASSERT_EQ(fcntl(fds[1], F_SETFL, O_NONBLOCK), 0);
  const std::string block(4096, 'x');
  while (write(fds[1], block.data(), block.size()) > 0) {
  }
  ASSERT_EQ(fcntl(fds[1], F_SETFL, 0), 0);
  FdOstream err(fds[1]);
  std::atomic<bool> drain{false};
  {
    ProgressPrinter printer(err, ProgressStyle::kLines, absl::Milliseconds(1));
    absl::SleepFor(absl::Milliseconds(50));  // the printer's write blocks
    absl::Notification updated;
    std::thread callback([&] {
      for (int i = 0; i < 1000; ++i) printer.Update(Counts(1000, i, 0, 1, 0));
      updated.Notify();
    });
    // Generous: without the fix Update waits for a reader that never comes.
    EXPECT_TRUE(updated.WaitForNotificationWithTimeout(absl::Seconds(20)));
    // Let the printer's thread go, so that Finish and the test can end.
    std::thread reader([&] {
      char buffer[4096];
      while (read(fds[0], buffer, sizeof(buffer)) > 0) {
      }
    });
    printer.Finish(Counts(1000, 1000, 0, 0, 0), absl::Seconds(1));
    callback.join();
    err.flush();
    close(fds[1]);
    reader.join();
  }
  close(fds[0]);
  EXPECT_EQ(err.error(), 0);
}

}  // namespace
}  // namespace batchexec
