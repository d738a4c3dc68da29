// How a batch is divided among servers: contiguous ranges of near-equal
// size, so each server gets one slice of the request order and merging is
// an offset per slice.
#ifndef BATCHEXEC_CLIENT_INTERNAL_BATCH_SPLIT_H_
#define BATCHEXEC_CLIENT_INTERNAL_BATCH_SPLIT_H_

#include <cstddef>
#include <vector>

namespace batchexec {

// Tasks [begin, end) of a batch.
struct IndexRange {
  size_t begin = 0;
  size_t end = 0;
  size_t size() const { return end - begin; }
};

// Splits [0, count) into min(parts, count) contiguous ranges, in order,
// whose sizes differ by at most one (the larger ones first). An empty batch
// gives one empty range, so it still reaches a server (and gets a summary,
// or the server's error); `parts` == 0 gives none.
std::vector<IndexRange> SplitContiguous(size_t count, size_t parts);

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_INTERNAL_BATCH_SPLIT_H_
