// Writes the Prometheus text exposition format (version 0.0.4): HELP and
// TYPE lines, samples with escaped label values, histograms as cumulative
// _bucket{le=...} series ending in +Inf, then _sum and _count. gRPC-free.
#ifndef BATCHEXEC_SERVER_CORE_METRICS_EXPOSITION_H_
#define BATCHEXEC_SERVER_CORE_METRICS_EXPOSITION_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/types/span.h"

namespace batchexec {

// The content type scrapers expect for this format.
inline constexpr char kExpositionContentType[] =
    "text/plain; version=0.0.4; charset=utf-8";

using MetricLabels = std::vector<std::pair<absl::string_view, std::string>>;

class ExpositionWriter {
 public:
  // Starts a metric family: `type` is counter, gauge or histogram. Every
  // sample of the family follows before the next Family call.
  void Family(absl::string_view name, absl::string_view type,
              absl::string_view help);
  void Sample(absl::string_view name, const MetricLabels& labels, double value);
  // `counts[i]` observations fell at or under `bounds[i]` and above the
  // bound before (not cumulative); counts has one more entry, for +Inf.
  // Writes the cumulative buckets, _sum and _count.
  void Histogram(absl::string_view name, const MetricLabels& labels,
                 absl::Span<const double> bounds,
                 absl::Span<const uint64_t> counts, double sum);

  const std::string& text() const { return out_; }
  std::string Take() { return std::move(out_); }

 private:
  std::string out_;
};

// A label value with \, " and newline escaped, as the format requires.
std::string EscapeLabelValue(absl::string_view value);
// A number as the format spells it: integers exactly, +Inf, -Inf, NaN.
std::string FormatMetricValue(double value);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_METRICS_EXPOSITION_H_
