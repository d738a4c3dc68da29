#include "server/core/metrics_exposition.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"

namespace batchexec {
namespace {

// HELP text escapes only \ and newline.
std::string EscapeHelp(absl::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char c : help) {
    if (c == '\\') {
      out += "\\\\";
    } else if (c == '\n') {
      out += "\\n";
    } else {
      out += c;
    }
  }
  return out;
}

void AppendLabels(std::string& out, const MetricLabels& labels,
                  absl::string_view le) {
  if (labels.empty() && le.empty()) return;
  out += '{';
  bool first = true;
  for (const auto& [name, value] : labels) {
    if (!first) out += ',';
    first = false;
    absl::StrAppend(&out, name, "=\"", EscapeLabelValue(value), "\"");
  }
  if (!le.empty()) {
    if (!first) out += ',';
    absl::StrAppend(&out, "le=\"", le, "\"");
  }
  out += '}';
}

}  // namespace

std::string EscapeLabelValue(absl::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value) {
    switch (c) {
      case '\\':
        out += "\\\\";
        break;
      case '"':
        out += "\\\"";
        break;
      case '\n':
        out += "\\n";
        break;
      default:
        out += c;
    }
  }
  return out;
}

std::string FormatMetricValue(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "+Inf" : "-Inf";
  // Counts print exactly (no exponent) up to 2^53.
  if (value == std::floor(value) && std::fabs(value) < 9007199254740992.0) {
    return absl::StrCat(static_cast<int64_t>(value));
  }
  // The shortest spelling that reads back as the same double (0.005, not
  // 0.0050000000000000001).
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, value);
    if (std::strtod(buf, nullptr) == value) break;
  }
  return buf;
}

void ExpositionWriter::Family(absl::string_view name, absl::string_view type,
                              absl::string_view help) {
  absl::StrAppend(&out_, "# HELP ", name, " ", EscapeHelp(help), "\n",
                  "# TYPE ", name, " ", type, "\n");
}

void ExpositionWriter::Sample(absl::string_view name,
                              const MetricLabels& labels, double value) {
  out_.append(name.data(), name.size());
  AppendLabels(out_, labels, "");
  absl::StrAppend(&out_, " ", FormatMetricValue(value), "\n");
}

void ExpositionWriter::Histogram(absl::string_view name,
                                 const MetricLabels& labels,
                                 absl::Span<const double> bounds,
                                 absl::Span<const uint64_t> counts,
                                 double sum) {
  const std::string bucket = absl::StrCat(name, "_bucket");
  uint64_t cumulative = 0;
  for (size_t i = 0; i <= bounds.size(); ++i) {
    cumulative += i < counts.size() ? counts[i] : 0;
    out_ += bucket;
    AppendLabels(out_, labels,
                 i < bounds.size() ? FormatMetricValue(bounds[i]) : "+Inf");
    absl::StrAppend(&out_, " ", cumulative, "\n");
  }
  absl::StrAppend(&out_, name, "_sum");
  AppendLabels(out_, labels, "");
  absl::StrAppend(&out_, " ", FormatMetricValue(sum), "\n", name, "_count");
  AppendLabels(out_, labels, "");
  absl::StrAppend(&out_, " ", cumulative, "\n");
}

}  // namespace batchexec
