// Lines that arrive in any order (a batch's results, in completion order)
// written out in index order, each as soon as every earlier one is out:
// a reader of the CLI's stdout (`| head`, `| jq`) sees the first results
// while the batch still runs. Memory holds only lines not yet written:
// those waiting for an earlier index, and those ready but not yet written.
//
// Threads: Put, Open and Close may be called from any thread (the SDK's
// callback threads); WriteTo blocks, on one thread at a time (the CLI's
// main thread). No gRPC, so tests and TSan reach all of it.
#ifndef BATCHEXEC_CLI_ORDERED_OUTPUT_H_
#define BATCHEXEC_CLI_ORDERED_OUTPUT_H_

#include <cstddef>
#include <ostream>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace batchexec {

class OrderedOutput {
 public:
  // Lines 0 .. count-1 are expected. Nothing is written before Open().
  explicit OrderedOutput(size_t count) : count_(count) {}

  OrderedOutput(const OrderedOutput&) = delete;
  OrderedOutput& operator=(const OrderedOutput&) = delete;

  // Line `index` (with its newline), once per index.
  void Put(size_t index, std::string line);

  // Lets WriteTo write. Until then lines are held (the CLI waits for the
  // server to accept the batch, so that a rejected one prints nothing).
  void Open();

  // No more Puts: WriteTo returns once it has written what is ready.
  void Close();

  // Writes ready lines to `out` in index order, flushing after each run of
  // them, until every line is written, or Close() was called and nothing
  // more is ready, or Close() was called before Open(). A ready line waits
  // at most kFlushDelay for others to share its write. Returns the number
  // of lines written by this call.
  size_t WriteTo(std::ostream& out);

  // How long ready lines may wait for more: waking the writer for every
  // line cost more than formatting it.
  static constexpr absl::Duration kFlushDelay = absl::Milliseconds(10);
  // Ready lines this large are written at once.
  static constexpr size_t kBlockBytes = 64 * 1024;

 private:
  bool Writable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return (open_ && !ready_.empty()) || closed_ || written_ == count_;
  }
  // Worth a write without waiting longer: a full block, or the last lines.
  bool BlockReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return (open_ && (ready_.size() >= kBlockBytes || next_ == count_)) ||
           closed_ || written_ == count_;
  }

  const size_t count_;
  Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  // Lines after a gap, by index.
  absl::flat_hash_map<size_t, std::string> waiting_ ABSL_GUARDED_BY(mu_);
  // Lines next_ - ready_lines_ .. next_ - 1, concatenated, not yet written.
  std::string ready_ ABSL_GUARDED_BY(mu_);
  size_t ready_lines_ ABSL_GUARDED_BY(mu_) = 0;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;  // the first index not yet ready
  size_t written_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_ORDERED_OUTPUT_H_
