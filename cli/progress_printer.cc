#include "cli/progress_printer.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace batchexec {

std::string FormatProgress(const Progress& p, absl::Duration elapsed) {
  return absl::StrFormat("%d/%d done, %d failed, %d running, %d queued, %.1fs",
                         p.completed, p.total, p.failed, p.running, p.queued,
                         absl::ToDoubleSeconds(elapsed));
}

std::string FormatProgressBar(const Progress& p, absl::Duration elapsed,
                              int width) {
  const int filled =
      p.total == 0 ? width
                   : static_cast<int>(static_cast<double>(p.completed) /
                                      static_cast<double>(p.total) * width);
  return absl::StrCat("[", std::string(std::clamp(filled, 0, width), '#'),
                      std::string(width - std::clamp(filled, 0, width), '-'),
                      "] ", FormatProgress(p, elapsed));
}

ProgressPrinter::ProgressPrinter(std::ostream& out, ProgressStyle style,
                                 absl::Duration interval)
    : out_(out), style_(style), interval_(interval), start_(absl::Now()) {
  if (style_ != ProgressStyle::kNone) thread_ = std::thread([this] { Run(); });
}

ProgressPrinter::~ProgressPrinter() { Stop(); }

void ProgressPrinter::Update(const Progress& progress) {
  MutexLock lock(&mu_);
  progress_ = progress;
}

void ProgressPrinter::Run() {
  while (true) {
    std::string text;
    {
      MutexLock lock(&mu_);
      if (mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_)) return;
      text = Format(progress_, absl::Now() - start_);
    }
    // Written outside the lock: a stalled stderr (a terminal on hold, a
    // pipe nobody reads) stalls this thread only, never Update(), which is
    // the SDK's on_progress on its callback thread.
    Write(text);
  }
}

std::string ProgressPrinter::Format(const Progress& progress,
                                    absl::Duration elapsed) const {
  if (style_ == ProgressStyle::kBar) {
    // \r and "erase to end of line": redraw in place.
    return absl::StrCat("\r\033[K", FormatProgressBar(progress, elapsed));
  }
  if (style_ == ProgressStyle::kLines) {
    return absl::StrCat("progress: ", FormatProgress(progress, elapsed), "\n");
  }
  return "";
}

void ProgressPrinter::Write(absl::string_view text) {
  out_.write(text.data(), static_cast<std::streamsize>(text.size()));
  out_.flush();
}

void ProgressPrinter::Stop() {
  {
    MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

void ProgressPrinter::Discard() {
  Stop();
  if (finished_.exchange(true)) return;
  if (style_ == ProgressStyle::kBar) Write("\r\033[K");
}

void ProgressPrinter::Finish(const Progress& progress, absl::Duration elapsed) {
  Stop();  // the printer's thread has ended: this thread writes alone
  if (finished_.exchange(true) || style_ == ProgressStyle::kNone) return;
  std::string text = Format(progress, elapsed);
  if (style_ == ProgressStyle::kBar) text.push_back('\n');
  absl::StrAppend(
      &text,
      absl::StrFormat("%d %s: %d ok, %d failed in %.2fs\n", progress.total,
                      progress.total == 1 ? "task" : "tasks",
                      progress.completed - progress.failed, progress.failed,
                      absl::ToDoubleSeconds(elapsed)));
  Write(text);
}

}  // namespace batchexec
