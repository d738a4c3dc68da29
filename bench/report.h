// The bench's output: a markdown table (one row per figure and its
// baseline) and a final machine-readable line
//   BENCH key=value key=value ...
// carrying every figure, so runs can be compared by a script.
#ifndef BATCHEXEC_BENCH_REPORT_H_
#define BATCHEXEC_BENCH_REPORT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace batchexec::bench {

enum class Met { kYes, kNo, kNotApplicable };

// Whether `value` satisfies `value <= limit` (or >= when `at_least`).
inline Met Check(double value, double limit, bool at_least = false) {
  return (at_least ? value >= limit : value <= limit) ? Met::kYes : Met::kNo;
}

struct Row {
  std::string scenario;
  std::string figure;    // what was measured, with its value
  std::string baseline;  // what it is compared with, with its value
  std::string ratio;     // figure / baseline, or "" when there is none
  std::string target;
  Met met = Met::kNotApplicable;
};

class Report {
 public:
  void AddRow(Row row) { rows_.push_back(std::move(row)); }
  // One key=value of the BENCH line; keys are lower_snake_case.
  void AddFigure(const std::string& key, double value);
  void AddFigure(const std::string& key, const std::string& value);

  // The rows as a GitHub markdown table.
  std::string Markdown() const;
  // "BENCH k=v k=v ..." with every figure, in the order they were added.
  std::string BenchLine() const;
  // Rows whose target was missed.
  int missed() const;

 private:
  std::vector<Row> rows_;
  std::vector<std::pair<std::string, std::string>> figures_;
};

// Number formatting shared by the scenarios: "1234567" -> "1.23M".
std::string Human(double value);
// Task counts: 200000 -> "200k", 1000000 -> "1M".
std::string Count(int64_t n);
// "123.4" with `digits` decimals.
std::string Fixed(double value, int digits = 2);

}  // namespace batchexec::bench

#endif  // BATCHEXEC_BENCH_REPORT_H_
