// Latency summaries for the bench: percentiles over raw samples. Samples are
// kept whole (a few hundred thousand doubles at most) so p99 is exact rather
// than estimated from buckets.
#ifndef BATCHEXEC_BENCH_STATS_H_
#define BATCHEXEC_BENCH_STATS_H_

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <vector>

namespace batchexec::bench {

struct LatencySummary {
  size_t count = 0;
  double p50 = 0;
  double p99 = 0;
  double max = 0;
};

// Nearest-rank percentile (p in [0, 100]) of `samples`, which it sorts.
inline double Percentile(std::vector<double>& samples, double p) {
  if (samples.empty()) return 0;
  std::sort(samples.begin(), samples.end());
  size_t rank = static_cast<size_t>(std::ceil(p / 100.0 * samples.size()));
  return samples[std::clamp<size_t>(rank, 1, samples.size()) - 1];
}

inline LatencySummary Summarize(std::vector<double> samples) {
  LatencySummary s;
  s.count = samples.size();
  if (samples.empty()) return s;
  s.p50 = Percentile(samples, 50);
  s.p99 = Percentile(samples, 99);
  s.max = samples.back();
  return s;
}

// The median of a few repeated runs: steadier than the mean on a shared
// 2-core machine, where one run may lose the CPU to something else.
inline double Median(std::vector<double> runs) { return Percentile(runs, 50); }

}  // namespace batchexec::bench

#endif  // BATCHEXEC_BENCH_STATS_H_
