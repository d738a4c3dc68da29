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
  MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stop_), interval_)) {
    Draw(progress_, absl::Now() - start_);
  }
}

void ProgressPrinter::Draw(const Progress& progress, absl::Duration elapsed) {
  if (style_ == ProgressStyle::kBar) {
    // \r and "erase to end of line": redraw in place.
    out_ << "\r\033[K" << FormatProgressBar(progress, elapsed) << std::flush;
  } else if (style_ == ProgressStyle::kLines) {
    out_ << "progress: " << FormatProgress(progress, elapsed) << std::endl;
  }
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
  MutexLock lock(&mu_);
  if (finished_) return;
  finished_ = true;
  if (style_ == ProgressStyle::kBar) out_ << "\r\033[K" << std::flush;
}

void ProgressPrinter::Finish(const Progress& progress, absl::Duration elapsed) {
  Stop();
  MutexLock lock(&mu_);
  if (finished_ || style_ == ProgressStyle::kNone) return;
  finished_ = true;
  Draw(progress, elapsed);
  if (style_ == ProgressStyle::kBar) out_ << "\n";
  out_ << absl::StrFormat("%d %s: %d ok, %d failed in %.2fs\n", progress.total,
                          progress.total == 1 ? "task" : "tasks",
                          progress.completed - progress.failed, progress.failed,
                          absl::ToDoubleSeconds(elapsed))
       << std::flush;
}

}  // namespace batchexec
