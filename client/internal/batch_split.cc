#include "client/internal/batch_split.h"

#include <algorithm>

namespace batchexec {

std::vector<IndexRange> SplitContiguous(size_t count, size_t parts) {
  std::vector<IndexRange> ranges;
  if (parts == 0) return ranges;
  if (count == 0) {
    ranges.push_back({0, 0});
    return ranges;
  }
  parts = std::min(parts, count);
  ranges.reserve(parts);
  const size_t base = count / parts;
  const size_t larger = count % parts;  // ranges that get one more
  size_t begin = 0;
  for (size_t i = 0; i < parts; ++i) {
    const size_t size = base + (i < larger ? 1 : 0);
    ranges.push_back({begin, begin + size});
    begin += size;
  }
  return ranges;
}

}  // namespace batchexec
