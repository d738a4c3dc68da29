// Parse-level tests of the exposition text: every line is read back by a
// small parser of the Prometheus text format (0.0.4) and checked against
// the format's rules and DESIGN.md section 6.
#include "server/core/metrics.h"

#include <cmath>
#include <cstdlib>
#include <map>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"
#include "server/core/metrics_exposition.h"
#include "server/core/task_registry.h"

namespace batchexec {
namespace {

struct ParsedSample {
  std::string name;
  std::map<std::string, std::string> labels;
  double value = 0;
};

struct Parsed {
  std::map<std::string, std::string> types;  // family -> type
  std::map<std::string, std::string> help;
  std::vector<ParsedSample> samples;
  std::vector<std::string> errors;
};

bool IsNameChar(char c, bool first) {
  return std::isalpha(static_cast<unsigned char>(c)) || c == '_' || c == ':' ||
         (!first && std::isdigit(static_cast<unsigned char>(c)));
}

// The family a sample belongs to (histograms: without _bucket/_sum/_count).
std::string FamilyOf(const Parsed& p, const std::string& name) {
  if (p.types.count(name)) return name;
  for (const char* suffix : {"_bucket", "_sum", "_count"}) {
    if (absl::EndsWith(name, suffix)) {
      std::string base = name.substr(0, name.size() - strlen(suffix));
      auto it = p.types.find(base);
      if (it != p.types.end() && it->second == "histogram") return base;
    }
  }
  return "";
}

Parsed Parse(const std::string& text) {
  Parsed p;
  if (text.empty() || text.back() != '\n') p.errors.push_back("no final \\n");
  std::set<std::string> series;
  for (absl::string_view line : absl::StrSplit(text, '\n', absl::SkipEmpty())) {
    std::string l(line);
    if (l[0] == '#') {
      std::vector<std::string> parts =
          absl::StrSplit(l, absl::MaxSplits(' ', 3));
      if (parts.size() < 4 || (parts[1] != "HELP" && parts[1] != "TYPE")) {
        p.errors.push_back("bad comment: " + l);
        continue;
      }
      if (parts[1] == "TYPE") {
        if (p.types.count(parts[2])) p.errors.push_back("TYPE twice: " + l);
        static const std::set<std::string> kTypes = {
            "counter", "gauge", "histogram", "summary", "untyped"};
        if (!kTypes.count(parts[3])) p.errors.push_back("bad type: " + l);
        p.types[parts[2]] = parts[3];
      } else {
        p.help[parts[2]] = parts[3];
      }
      continue;
    }
    ParsedSample s;
    size_t i = 0;
    while (i < l.size() && IsNameChar(l[i], i == 0)) ++i;
    s.name = l.substr(0, i);
    if (s.name.empty()) p.errors.push_back("no name: " + l);
    if (i < l.size() && l[i] == '{') {
      ++i;
      while (i < l.size() && l[i] != '}') {
        size_t start = i;
        while (i < l.size() && IsNameChar(l[i], i == start)) ++i;
        std::string label = l.substr(start, i - start);
        if (label.empty() || i + 1 >= l.size() || l[i] != '=' ||
            l[i + 1] != '"') {
          p.errors.push_back("bad label: " + l);
          break;
        }
        i += 2;
        std::string value;
        while (i < l.size() && l[i] != '"') {
          if (l[i] == '\\') {
            ++i;
            if (i >= l.size()) break;
            if (l[i] == 'n') {
              value += '\n';
            } else if (l[i] == '\\' || l[i] == '"') {
              value += l[i];
            } else {
              p.errors.push_back("bad escape: " + l);
            }
          } else {
            value += l[i];
          }
          ++i;
        }
        ++i;  // closing quote
        if (s.labels.count(label)) p.errors.push_back("label twice: " + l);
        s.labels[label] = value;
        if (i < l.size() && l[i] == ',') ++i;
      }
      ++i;  // closing brace
    }
    if (i >= l.size() || l[i] != ' ') {
      p.errors.push_back("no value: " + l);
      continue;
    }
    std::string value = l.substr(i + 1);
    char* end = nullptr;
    s.value = std::strtod(value.c_str(), &end);
    if (value.empty() || *end != '\0') p.errors.push_back("bad value: " + l);
    std::string family = FamilyOf(p, s.name);
    if (family.empty()) p.errors.push_back("sample before TYPE: " + l);
    std::string key = s.name;
    for (auto& [k, v] : s.labels) key += "|" + k + "=" + v;
    if (!series.insert(key).second) p.errors.push_back("series twice: " + l);
    p.samples.push_back(std::move(s));
  }
  return p;
}

double Value(const Parsed& p, const std::string& name,
             const std::map<std::string, std::string>& labels) {
  for (const ParsedSample& s : p.samples) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return -1;
}

// Checks each histogram series: buckets ascending by le, cumulative, ending
// in +Inf equal to _count.
void ExpectWellFormedHistograms(const Parsed& p) {
  for (const auto& [family, type] : p.types) {
    if (type != "histogram") continue;
    std::map<std::map<std::string, std::string>,
             std::vector<std::pair<double, double>>>
        buckets;
    for (const ParsedSample& s : p.samples) {
      if (s.name != family + "_bucket") continue;
      auto labels = s.labels;
      ASSERT_TRUE(labels.count("le")) << family;
      double le = std::strtod(labels["le"].c_str(), nullptr);
      labels.erase("le");
      buckets[labels].push_back({le, s.value});
    }
    EXPECT_FALSE(buckets.empty()) << family;
    for (const auto& [labels, series] : buckets) {
      for (size_t i = 1; i < series.size(); ++i) {
        EXPECT_LT(series[i - 1].first, series[i].first) << family;
        EXPECT_LE(series[i - 1].second, series[i].second) << family;
      }
      ASSERT_TRUE(std::isinf(series.back().first)) << family;
      EXPECT_EQ(series.back().second, Value(p, family + "_count", labels))
          << family;
      EXPECT_GE(Value(p, family + "_sum", labels), 0) << family;
    }
  }
}

TaskRegistry TwoKinds() {
  TaskRegistry registry;
  for (const char* name : {"echo", "sleep"}) {
    TaskKind kind;
    kind.name = name;
    kind.handler = [](std::shared_ptr<TaskContext>) {};
    EXPECT_TRUE(registry.Register(std::move(kind)).ok());
  }
  return registry;
}

TEST(MetricsTest, RendersEveryDesignedFamilyWithItsType) {
  TaskRegistry registry = TwoKinds();
  Metrics metrics(registry);
  Parsed p = Parse(metrics.Render({}));
  EXPECT_TRUE(p.errors.empty()) << absl::StrJoin(p.errors, "\n");
  const std::map<std::string, std::string> want = {
      {"batchexec_batches_started_total", "counter"},
      {"batchexec_batches_open", "gauge"},
      {"batchexec_tasks_completed_total", "counter"},
      {"batchexec_tasks_inflight", "gauge"},
      {"batchexec_tasks_queued", "gauge"},
      {"batchexec_task_duration_seconds", "histogram"},
      {"batchexec_batch_duration_seconds", "histogram"},
      {"batchexec_process_heap_bytes", "gauge"},
      {"batchexec_requests_rejected_total", "counter"},
      {"batchexec_connections_dropped_total", "counter"},
  };
  EXPECT_EQ(p.types, want);
  // glibc's heap figure; the ASan and TSan allocators replace glibc's, so
  // under them mallinfo2 reports 0 (BATCHEXEC_TSAN: see .bazelrc).
#if defined(__SANITIZE_ADDRESS__) || defined(BATCHEXEC_TSAN)
  EXPECT_GE(Value(p, "batchexec_process_heap_bytes", {}), 0);
#else
  EXPECT_GT(Value(p, "batchexec_process_heap_bytes", {}), 0);
#endif
  for (const auto& [family, type] : want) {
    EXPECT_FALSE(p.help[family].empty()) << family;
  }
  // Each kind's OK series exists from the start, so rate() sees it rise.
  EXPECT_EQ(Value(p, "batchexec_tasks_completed_total",
                  {{"kind", "echo"}, {"code", "OK"}}),
            0);
  ExpectWellFormedHistograms(p);
}

TEST(MetricsTest, CountsTasksByKindAndGrpcCodeName) {
  TaskRegistry registry = TwoKinds();
  Metrics metrics(registry);
  const TaskKind& echo = *registry.Find("echo");
  const TaskKind& sleep = *registry.Find("sleep");
  metrics.TaskEnded(echo, 0, absl::Microseconds(50));
  metrics.TaskEnded(echo, 0, absl::Milliseconds(3));
  metrics.TaskEnded(echo, 5, absl::Milliseconds(3));
  metrics.TaskEnded(sleep, 1, absl::InfiniteDuration());  // never started
  Parsed p = Parse(metrics.Render({}));
  ASSERT_TRUE(p.errors.empty()) << absl::StrJoin(p.errors, "\n");
  const std::string c = "batchexec_tasks_completed_total";
  EXPECT_EQ(Value(p, c, {{"kind", "echo"}, {"code", "OK"}}), 2);
  EXPECT_EQ(Value(p, c, {{"kind", "echo"}, {"code", "NOT_FOUND"}}), 1);
  EXPECT_EQ(Value(p, c, {{"kind", "sleep"}, {"code", "CANCELLED"}}), 1);
  EXPECT_EQ(Value(p, c, {{"kind", "sleep"}, {"code", "OK"}}), 0);
  // Three ran; the cancelled one never started and has no duration.
  const std::string h = "batchexec_task_duration_seconds";
  EXPECT_EQ(Value(p, h + "_count", {{"kind", "echo"}}), 3);
  EXPECT_EQ(Value(p, h + "_count", {{"kind", "sleep"}}), 0);
  EXPECT_EQ(Value(p, h + "_bucket", {{"kind", "echo"}, {"le", "0.0001"}}), 1);
  EXPECT_EQ(Value(p, h + "_bucket", {{"kind", "echo"}, {"le", "0.005"}}), 3);
  EXPECT_NEAR(Value(p, h + "_sum", {{"kind", "echo"}}), 0.00605, 1e-9);
  ExpectWellFormedHistograms(p);
}

TEST(MetricsTest, BatchesGaugesAndRejectionsComeOutAsGiven) {
  TaskRegistry registry = TwoKinds();
  Metrics metrics(registry);
  metrics.BatchEnded(absl::Milliseconds(20));
  metrics.BatchEnded(absl::Seconds(2));
  metrics.Rejected(RejectReason::kMaxOpenBatches);
  metrics.Rejected(RejectReason::kMaxOpenBatches);
  metrics.Rejected(RejectReason::kShuttingDown);
  Metrics::External external;
  external.batches_started = 7;
  external.batches_open = 2;
  external.tasks_inflight = 5;
  external.tasks_queued = 11;
  external.unauthenticated = 4;
  external.connections_dropped = 3;
  Parsed p = Parse(metrics.Render(external));
  ASSERT_TRUE(p.errors.empty()) << absl::StrJoin(p.errors, "\n");
  EXPECT_EQ(Value(p, "batchexec_batches_started_total", {}), 7);
  EXPECT_EQ(Value(p, "batchexec_batches_open", {}), 2);
  EXPECT_EQ(Value(p, "batchexec_tasks_inflight", {}), 5);
  EXPECT_EQ(Value(p, "batchexec_tasks_queued", {}), 11);
  const std::string r = "batchexec_requests_rejected_total";
  EXPECT_EQ(Value(p, r, {{"reason", "max_open_batches"}}), 2);
  EXPECT_EQ(Value(p, r, {{"reason", "shutting_down"}}), 1);
  EXPECT_EQ(Value(p, r, {{"reason", "unauthenticated"}}), 4);
  EXPECT_EQ(Value(p, r, {{"reason", "max_queued_tasks"}}), 0);
  EXPECT_EQ(Value(p, "batchexec_connections_dropped_total", {}), 3);
  EXPECT_EQ(Value(p, "batchexec_batch_duration_seconds_count", {}), 2);
  EXPECT_EQ(
      Value(p, "batchexec_batch_duration_seconds_bucket", {{"le", "0.05"}}), 1);
  EXPECT_NEAR(Value(p, "batchexec_batch_duration_seconds_sum", {}), 2.02, 1e-9);
  ExpectWellFormedHistograms(p);
}

TEST(MetricsTest, CountsFromManyThreadsAddUpWithoutALock) {
  TaskRegistry registry = TwoKinds();
  Metrics metrics(registry);
  const TaskKind& echo = *registry.Find("echo");
  std::vector<std::thread> threads;
  for (int t = 0; t < 8; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 10000; ++i) {
        metrics.TaskEnded(echo, 0, absl::Microseconds(i % 700));
      }
    });
  }
  for (auto& t : threads) t.join();
  Parsed p = Parse(metrics.Render({}));
  EXPECT_EQ(Value(p, "batchexec_tasks_completed_total",
                  {{"kind", "echo"}, {"code", "OK"}}),
            80000);
  EXPECT_EQ(
      Value(p, "batchexec_task_duration_seconds_count", {{"kind", "echo"}}),
      80000);
  ExpectWellFormedHistograms(p);
}

TEST(ExpositionWriterTest, EscapesLabelValuesSoTheyParseBack) {
  ExpositionWriter w;
  w.Family("x_total", "counter", "help with \\ and\nnewline");
  const std::string nasty = "a\"b\\c\nd}e,f=g";
  w.Sample("x_total", {{"kind", nasty}}, 3);
  EXPECT_TRUE(absl::StrContains(
      w.text(), "# HELP x_total help with \\\\ and\\nnewline\n"));
  Parsed p = Parse(w.text());
  ASSERT_TRUE(p.errors.empty()) << absl::StrJoin(p.errors, "\n");
  EXPECT_EQ(Value(p, "x_total", {{"kind", nasty}}), 3);
}

TEST(ExpositionWriterTest, SpellsNumbersAsTheFormatDoes) {
  EXPECT_EQ(FormatMetricValue(0), "0");
  EXPECT_EQ(FormatMetricValue(123456789012), "123456789012");
  EXPECT_EQ(FormatMetricValue(0.005), "0.005");
  EXPECT_EQ(FormatMetricValue(1e300 * 1e300), "+Inf");
  EXPECT_EQ(FormatMetricValue(std::nan("")), "NaN");
}

// mallinfo2 locks every malloc arena: scrapes in a row share one reading.
TEST(MetricsTest, ScrapesInARowReadTheHeapOnce) {
  TaskRegistry registry = TwoKinds();
  int reads = 0;
  Metrics metrics(registry, [&] {
    ++reads;
    return int64_t{12345};
  });
  const std::string first = metrics.Render({});
  const std::string second = metrics.Render({});
  EXPECT_EQ(reads, 1);
  EXPECT_EQ(Value(Parse(second), "batchexec_process_heap_bytes", {}), 12345);
  EXPECT_EQ(Value(Parse(first), "batchexec_process_heap_bytes", {}), 12345);
}

}  // namespace
}  // namespace batchexec
