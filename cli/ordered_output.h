// Lines that arrive in any order (a batch's results, in completion order)
// written out in index order, each as soon as every earlier one is out:
// a reader of the CLI's stdout (`| head`, `| jq`) sees the first results
// while the batch still runs. Or, unordered, in the order they arrive.
//
// Memory is bounded both ways a slow line or a slow reader would grow it:
// - lines waiting for an earlier index are held in memory up to
//   max_pending_bytes; past that they go to an unlinked temporary file (as
//   sort(1) spills) and are read back in order when their turn comes;
// - lines ready but not yet written past max_ready_bytes make Put() wait for
//   the writer, so a slow stdout slows the producer (the SDK's on_result, and
//   through gRPC's flow control the server) instead of filling memory.
//
// Threads: Put, Open, Close and Abandon may be called from any thread (the
// SDK's callback threads); WriteTo blocks, on one thread at a time (the
// CLI's main thread). No gRPC, so tests and TSan reach all of it.
#ifndef BATCHEXEC_CLI_ORDERED_OUTPUT_H_
#define BATCHEXEC_CLI_ORDERED_OUTPUT_H_

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace batchexec {

// The CLI's --max_pending_output_bytes default: results behind a slow one
// held in memory before they spill to a temporary file. 16 MiB keeps a
// batch with a slow first task within 1.3x the peak memory of one without
// (bench/cli_window_rss.py: 218 vs 177 MiB, 1.23x; 1.44x with no cap), at
// the cost of disk I/O only past it.
inline constexpr size_t kDefaultMaxPendingOutputBytes = 16 << 20;

struct OrderedOutputOptions {
  // Bytes of lines waiting for an earlier one kept in memory; more spill to
  // a temporary file. 0 spills every waiting line.
  size_t max_pending_bytes = kDefaultMaxPendingOutputBytes;
  // Bytes of lines ready but not yet written past which Put waits.
  size_t max_ready_bytes = 4 << 20;
  // Write lines in the order they arrive, not by index.
  bool unordered = false;
  // Where the temporary file goes; empty: $TMPDIR, else /tmp.
  std::string spill_dir;
};

class OrderedOutput {
 public:
  // Lines 0 .. count-1 are expected. Nothing is written before Open().
  explicit OrderedOutput(size_t count, OrderedOutputOptions options = {});
  ~OrderedOutput();

  OrderedOutput(const OrderedOutput&) = delete;
  OrderedOutput& operator=(const OrderedOutput&) = delete;

  // Line `index` (with its newline), once per index. Waits while more than
  // max_ready_bytes are ready and WriteTo may write them (opened, not
  // abandoned). After Abandon() the line is dropped.
  void Put(size_t index, std::string line);

  // Lets WriteTo write. Until then lines are held (the CLI waits for the
  // server to accept the batch, so that a rejected one prints nothing).
  void Open();

  // No more Puts: WriteTo returns once it has written what is ready.
  void Close();

  // Output is lost (stdout failed): drops every held line, ends WriteTo,
  // and makes Put drop lines and never wait.
  void Abandon();

  // Writes ready lines to `out` in index order, flushing after each run of
  // them, until every line is written, or Close() was called and nothing
  // more is ready, or Close() was called before Open(), or `out` fails or
  // a spilled line cannot be read back (then it abandons the rest; see
  // read_error()). A ready line waits at most kFlushDelay for others to
  // share its write. Returns the number of lines written by this call.
  size_t WriteTo(std::ostream& out);

  // Whether every line has been written.
  bool complete() const;
  // Why a spilled line could not be read back (strerror), or empty.
  std::string read_error() const;
  // Lines that went to the temporary file so far.
  size_t spilled_lines() const;

  // How long ready lines may wait for more: waking the writer for every
  // line cost more than formatting it.
  static constexpr absl::Duration kFlushDelay = absl::Milliseconds(10);
  // Ready lines this large are written at once.
  static constexpr size_t kBlockBytes = 64 * 1024;

 private:
  // A line not yet taken by the writer: in memory, or in the spill file.
  struct Held {
    std::string text;     // empty if spilled
    int64_t offset = -1;  // in the spill file; -1: in memory
    size_t size = 0;
  };

  bool Writable() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return (open_ && taken_ < next_) || closed_ || abandoned_ ||
           taken_ == count_;
  }
  // Worth a write without waiting longer: a full block, a Put waiting for
  // room, or the last lines.
  bool BlockReady() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return (open_ &&
            (ready_bytes_ >= kBlockBytes ||
             ready_bytes_ > options_.max_ready_bytes || next_ == count_)) ||
           closed_ || abandoned_ || taken_ == count_;
  }
  bool PutMayGo() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return ready_bytes_ <= options_.max_ready_bytes || !open_ || abandoned_;
  }
  // Appends `line` to the spill file; false (nothing spilled) if the file
  // cannot be made or written, and the line stays in memory.
  bool Spill(const std::string& line, Held* held)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Appends line taken_ to `chunk`; false if a spilled line cannot be read.
  bool Take(std::string* chunk) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void DropAll() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t count_;
  const OrderedOutputOptions options_;
  mutable Mutex mu_;
  bool open_ ABSL_GUARDED_BY(mu_) = false;
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  bool abandoned_ ABSL_GUARDED_BY(mu_) = false;
  // Lines put and not yet taken by the writer, by index (unordered: by
  // arrival).
  absl::flat_hash_map<size_t, Held> held_ ABSL_GUARDED_BY(mu_);
  size_t memory_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // of held_ in memory
  // Bytes of lines taken_ .. next_ - 1: ready, not yet taken.
  size_t ready_bytes_ ABSL_GUARDED_BY(mu_) = 0;
  size_t next_ ABSL_GUARDED_BY(mu_) = 0;      // the first index not yet put
  size_t taken_ ABSL_GUARDED_BY(mu_) = 0;     // the first not yet taken
  size_t written_ ABSL_GUARDED_BY(mu_) = 0;   // lines out, by WriteTo
  size_t arrivals_ ABSL_GUARDED_BY(mu_) = 0;  // unordered: lines put
  // The spill file (-1 until the first spill), its end, and how many of its
  // lines are not yet taken (at 0 it is emptied).
  int spill_fd_ ABSL_GUARDED_BY(mu_) = -1;
  int64_t spill_end_ ABSL_GUARDED_BY(mu_) = 0;
  size_t spill_unread_ ABSL_GUARDED_BY(mu_) = 0;
  size_t spilled_total_ ABSL_GUARDED_BY(mu_) = 0;
  std::string read_error_ ABSL_GUARDED_BY(mu_);
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_ORDERED_OUTPUT_H_
