#include "cli/ordered_output.h"

#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"

namespace batchexec {
namespace {

// An unlinked file in `dir` ($TMPDIR or /tmp if empty), open for reading
// and writing, or -1. Unlinked at once, as sort(1) does: nothing is left
// behind whatever way the process ends.
int OpenSpillFile(const std::string& dir) {
  std::string base = dir;
  if (base.empty()) {
    const char* tmpdir = std::getenv("TMPDIR");
    base = tmpdir != nullptr && *tmpdir != '\0' ? tmpdir : "/tmp";
  }
  std::string path = absl::StrCat(base, "/batchexec-output.XXXXXX");
  const int fd = mkostemp(path.data(), O_CLOEXEC);
  if (fd >= 0) unlink(path.c_str());
  return fd;
}

}  // namespace

OrderedOutput::OrderedOutput(size_t count, OrderedOutputOptions options)
    : count_(count), options_(std::move(options)) {}

OrderedOutput::~OrderedOutput() {
  MutexLock lock(&mu_);
  if (spill_fd_ >= 0) close(spill_fd_);
}

bool OrderedOutput::Spill(const std::string& line, Held* held) {
  if (spill_fd_ < 0) {
    spill_fd_ = OpenSpillFile(options_.spill_dir);
    if (spill_fd_ < 0) return false;
  }
  size_t done = 0;
  while (done < line.size()) {
    const ssize_t n = pwrite(spill_fd_, line.data() + done, line.size() - done,
                             spill_end_ + static_cast<int64_t>(done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;  // a full disk: memory it is
    done += static_cast<size_t>(n);
  }
  held->offset = spill_end_;
  held->size = line.size();
  spill_end_ += static_cast<int64_t>(line.size());
  ++spill_unread_;
  ++spilled_total_;
  return true;
}

void OrderedOutput::Put(size_t index, std::string line) {
  MutexLock lock(&mu_);
  if (abandoned_) return;
  if (options_.unordered) index = arrivals_++;
  Held held;
  held.size = line.size();
  const bool waiting = index != next_;
  if (!(waiting && memory_bytes_ + line.size() > options_.max_pending_bytes &&
        Spill(line, &held))) {
    memory_bytes_ += line.size();
    held.text = std::move(line);
  }
  held_.emplace(index, std::move(held));
  // This line, and whatever waited for it, is ready.
  while (next_ < count_) {
    auto it = held_.find(next_);
    if (it == held_.end()) break;
    ready_bytes_ += it->second.size;
    ++next_;
  }
  // A slow stdout: wait for the writer rather than hold more.
  mu_.Await(absl::Condition(this, &OrderedOutput::PutMayGo));
}

void OrderedOutput::Open() {
  MutexLock lock(&mu_);
  open_ = true;
}

void OrderedOutput::Close() {
  MutexLock lock(&mu_);
  closed_ = true;
}

void OrderedOutput::DropAll() {
  held_.clear();
  memory_bytes_ = 0;
  ready_bytes_ = 0;
  spill_unread_ = 0;
}

void OrderedOutput::Abandon() {
  MutexLock lock(&mu_);
  abandoned_ = true;
  DropAll();
}

bool OrderedOutput::Take(std::string* chunk) {
  auto it = held_.find(taken_);
  Held& held = it->second;
  if (held.offset < 0) {
    chunk->append(held.text);
    memory_bytes_ -= held.size;
  } else {
    const size_t start = chunk->size();
    chunk->resize(start + held.size);
    size_t done = 0;
    while (done < held.size) {
      const ssize_t n =
          pread(spill_fd_, chunk->data() + start + done, held.size - done,
                held.offset + static_cast<int64_t>(done));
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) {
        read_error_ = n < 0 ? std::strerror(errno) : "unexpected end of file";
        read_error_ = absl::StrCat(
            "reading back output spilled to a "
            "temporary file: ",
            read_error_);
        chunk->resize(start);
        return false;
      }
      done += static_cast<size_t>(n);
    }
    if (--spill_unread_ == 0) {
      // Everything spilled is out: give the disk space back.
      (void)ftruncate(spill_fd_, 0);
      spill_end_ = 0;
    }
  }
  ready_bytes_ -= held.size;
  held_.erase(it);
  ++taken_;
  return true;
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
      if (abandoned_ || !open_ || taken_ == next_) return lines_written;
      // At most a block (or one line) at a time: a run of spilled lines
      // comes back a block at a time, not whole into memory.
      while (taken_ < next_ && chunk.size() < kBlockBytes) {
        if (!Take(&chunk)) {
          abandoned_ = true;
          DropAll();
          return lines_written;
        }
        ++lines;
      }
    }
    // Written outside the lock: stdout may block.
    out.write(chunk.data(), static_cast<std::streamsize>(chunk.size()));
    out.flush();
    chunk.clear();
    if (!out) {
      Abandon();  // nothing more can be written: no Put may wait for it
      return lines_written;
    }
    lines_written += lines;
    MutexLock lock(&mu_);
    written_ += lines;
  }
}

bool OrderedOutput::complete() const {
  MutexLock lock(&mu_);
  return written_ == count_;
}

std::string OrderedOutput::read_error() const {
  MutexLock lock(&mu_);
  return read_error_;
}

size_t OrderedOutput::spilled_lines() const {
  MutexLock lock(&mu_);
  return spilled_total_;
}

}  // namespace batchexec
