#include "bench/report.h"

#include <cmath>
#include <cstdio>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"

namespace batchexec::bench {

void Report::AddFigure(const std::string& key, double value) {
  // %.6g keeps tiny latencies and huge rates readable and exact enough.
  AddFigure(key, absl::StrFormat("%.6g", value));
}

void Report::AddFigure(const std::string& key, const std::string& value) {
  figures_.emplace_back(key, value);
}

std::string Report::Markdown() const {
  std::string out =
      "| scenario | figure | baseline (same run) | ratio | target | met? |\n"
      "|---|---|---|---|---|---|\n";
  for (const Row& r : rows_) {
    const char* met = r.met == Met::kYes  ? "yes"
                      : r.met == Met::kNo ? "**NO**"
                                          : "—";
    absl::StrAppend(&out, "| ", r.scenario, " | ", r.figure, " | ",
                    r.baseline.empty() ? "—" : r.baseline, " | ",
                    r.ratio.empty() ? "—" : r.ratio, " | ",
                    r.target.empty() ? "report" : r.target, " | ", met, " |\n");
  }
  return out;
}

std::string Report::BenchLine() const {
  return absl::StrCat("BENCH ",
                      absl::StrJoin(figures_, " ", absl::PairFormatter("=")));
}

int Report::missed() const {
  int n = 0;
  for (const Row& r : rows_) n += r.met == Met::kNo;
  return n;
}

std::string Human(double value) {
  const double a = std::fabs(value);
  if (a >= 1e6) return absl::StrFormat("%.2fM", value / 1e6);
  if (a >= 1e4) return absl::StrFormat("%.1fk", value / 1e3);
  return absl::StrFormat("%.0f", value);
}

std::string Count(int64_t n) {
  if (n >= 1'000'000 && n % 1'000'000 == 0)
    return absl::StrCat(n / 1'000'000, "M");
  if (n >= 1'000 && n % 1'000 == 0) return absl::StrCat(n / 1'000, "k");
  return absl::StrCat(n);
}

std::string Fixed(double value, int digits) {
  return absl::StrFormat("%.*f", digits, value);
}

}  // namespace batchexec::bench
