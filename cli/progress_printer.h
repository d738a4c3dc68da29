// The CLI's live progress on stderr: a redrawn bar on a terminal, a plain
// line every few seconds otherwise (logs, CI), and a last summary line.
//
// Thread safety: Update() may be called from any thread (it is the SDK's
// on_progress callback) and only stores the counts under a short lock; all
// output comes from the printer's own thread, written outside that lock (a
// stalled stderr never blocks Update), and from Finish() or Discard() on
// the caller's thread once the printer's thread has ended.
#ifndef BATCHEXEC_CLI_PROGRESS_PRINTER_H_
#define BATCHEXEC_CLI_PROGRESS_PRINTER_H_

#include <atomic>
#include <ostream>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/progress.h"
#include "common/mutex.h"

namespace batchexec {

enum class ProgressStyle {
  kNone,   // nothing, not even the summary
  kBar,    // one line redrawn in place (a terminal)
  kLines,  // a new line every interval
};

// "12/100 done, 1 failed, 4 running, 83 queued, 3.2s"
std::string FormatProgress(const Progress& progress, absl::Duration elapsed);

// "[######--------------]  12/100 done, ..." `width` is the bar's.
std::string FormatProgressBar(const Progress& progress, absl::Duration elapsed,
                              int width = 30);

class ProgressPrinter {
 public:
  // Starts printing to `out` every `interval` (kNone prints nothing).
  ProgressPrinter(std::ostream& out, ProgressStyle style,
                  absl::Duration interval);
  // Stops without a summary if Finish was not called.
  ~ProgressPrinter();

  ProgressPrinter(const ProgressPrinter&) = delete;
  ProgressPrinter& operator=(const ProgressPrinter&) = delete;

  void Update(const Progress& progress);

  // Stops the updates and prints the final counts and "N tasks: X ok, Y
  // failed in T" ("1 task: ..."). Once.
  void Finish(const Progress& progress, absl::Duration elapsed);

  // Stops the updates without a summary (the batch never ran), erasing a
  // bar already drawn so that an error can take its line.
  void Discard();

 private:
  void Run();
  // One update as the style draws it.
  std::string Format(const Progress& progress, absl::Duration elapsed) const;
  // Never under mu_: it may block as long as stderr does.
  void Write(absl::string_view text) ABSL_LOCKS_EXCLUDED(mu_);
  void Stop();

  std::ostream& out_;
  const ProgressStyle style_;
  const absl::Duration interval_;
  const absl::Time start_;
  Mutex mu_;
  Progress progress_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::atomic<bool> finished_{false};  // Finish or Discard ran
  std::thread thread_;  // started last, after the fields it reads
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_PROGRESS_PRINTER_H_
