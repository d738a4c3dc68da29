#include "cli/ordered_output.h"

#include <utility>

namespace batchexec {

void OrderedOutput::Put(size_t index, std::string line) {
  MutexLock lock(&mu_);
  if (index != next_) {
    waiting_.emplace(index, std::move(line));
    return;
  }
  ready_.append(line);
  ++ready_lines_;
  ++next_;
  // Whatever waited for this line is ready too.
  while (!waiting_.empty()) {
    auto it = waiting_.find(next_);
    if (it == waiting_.end()) break;
    ready_.append(it->second);
    waiting_.erase(it);
    ++ready_lines_;
    ++next_;
  }
}

void OrderedOutput::Open() {
  MutexLock lock(&mu_);
  open_ = true;
}

void OrderedOutput::Close() {
  MutexLock lock(&mu_);
  closed_ = true;
}

size_t OrderedOutput::WriteTo(std::ostream& out) {
  size_t lines_written = 0;
  std::string chunk;
  while (true) {
    size_t lines = 0;
    {
      MutexLock lock(&mu_);
      // Conditions are checked on Put's unlock: no wakeup until worth it.
      mu_.AwaitWithTimeout(absl::Condition(this, &OrderedOutput::BlockReady),
                           kFlushDelay);
      mu_.Await(absl::Condition(this, &OrderedOutput::Writable));
      if (!open_ || ready_.empty()) return lines_written;
      chunk.swap(ready_);  // write outside the lock: stdout may block
      ready_.clear();
      lines = ready_lines_;
      ready_lines_ = 0;
    }
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    out.flush();
    chunk.clear();
    lines_written += lines;
    MutexLock lock(&mu_);
    written_ += lines;
  }
}

}  // namespace batchexec
