#include "bench/cli_scenario.h"

#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/report.h"
#include "client/client.h"

namespace batchexec::bench {
namespace {

constexpr int kTasks = 100'000;
constexpr double kTarget = 3.0;  // CLI wall ≤ 3× the SDK's

bool Exists(const std::string& path) { return access(path.c_str(), X_OK) == 0; }

// The CLI binary: a data dependency in runfiles under `bazel run`, else
// the workspace's bazel-bin.
std::string FindCli() {
  for (const char* path : {"cli/batchexec", "batchexec/cli/batchexec"}) {
    if (Exists(path)) return path;
  }
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY")) {
    std::string path = absl::StrCat(ws, "/bazel-bin/cli/batchexec");
    if (Exists(path)) return path;
  }
  return "";
}

// The bench's echo task i (scenarios.cc's EchoTask) as a JSON line.
std::string EchoLines() {
  std::string lines;
  lines.reserve(kTasks * 40);
  for (int i = 0; i < kTasks; ++i) {
    absl::StrAppend(&lines, "{\"kind\":\"echo\",\"args\":{\"i\":", i, "}}\n");
  }
  return lines;
}

struct CliRun {
  absl::Duration wall;        // start of the process to its exit
  absl::Duration first_line;  // start of the process to the first result
};

absl::StatusOr<CliRun> RunCli(const std::string& cli, const std::string& target,
                              const std::string& file) {
  const std::string command =
      absl::StrCat(cli, " gather --progress=none --target=", target, " ", file);
  const absl::Time start = absl::Now();
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return absl::InternalError("popen failed");
  CliRun run{absl::ZeroDuration(), absl::InfiniteDuration()};
  size_t lines = 0;
  char buffer[1 << 16];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) {
    if (lines == 0) run.first_line = absl::Now() - start;
    lines += std::count(buffer, buffer + n, '\n');
  }
  const int status = pclose(pipe);
  run.wall = absl::Now() - start;
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
    return absl::InternalError(absl::StrCat("`", command, "` failed"));
  }
  if (lines != kTasks) {
    return absl::InternalError(
        absl::StrCat("the CLI printed ", lines, " lines, not ", kTasks));
  }
  return run;
}

absl::StatusOr<absl::Duration> RunSdk(
    const std::shared_ptr<grpc::Channel>& channel) {
  Client client(channel);
  std::vector<Task> tasks;
  tasks.reserve(kTasks);
  for (int i = 0; i < kTasks; ++i) tasks.push_back(Task::Echo({{"i", i}}));
  const absl::Time start = absl::Now();
  auto outputs = client.Gather(std::move(tasks));
  const absl::Duration wall = absl::Now() - start;
  if (!outputs.ok()) return outputs.status();
  if (outputs->size() != kTasks) return absl::InternalError("results missing");
  return wall;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Ms(double ms) { return absl::StrCat(Fixed(ms, 1), " ms"); }

}  // namespace

void CliVsSdk(BenchEnv& env) {
  const std::string scenario = "100k echo tasks through the CLI";
  const auto failed = [&](const absl::Status& why) {
    env.report->AddRow({scenario, absl::StrCat("FAILED: ", why.ToString()), "",
                        "", "", Met::kNo});
    env.report->AddFigure("cli100k_ms", "failed");
  };
  const std::string cli = FindCli();
  if (cli.empty()) return failed(absl::NotFoundError("cli/batchexec"));
  const char* tmp = std::getenv("TMPDIR");
  const std::string file =
      absl::StrCat(tmp != nullptr ? tmp : "/tmp", "/gather_bench_echo100k_",
                   getpid(), ".jsonl");
  std::ofstream(file) << EchoLines();

  // Alternate the two, so that load from elsewhere hits both alike.
  const int runs = env.quick ? 3 : 5;
  std::vector<double> cli_ms, first_ms, sdk_ms;
  for (int i = 0; i < runs; ++i) {
    absl::StatusOr<CliRun> run = RunCli(cli, env.target, file);
    if (!run.ok()) {
      std::remove(file.c_str());
      return failed(run.status());
    }
    cli_ms.push_back(absl::ToDoubleMilliseconds(run->wall));
    first_ms.push_back(absl::ToDoubleMilliseconds(run->first_line));
    absl::StatusOr<absl::Duration> sdk = RunSdk(env.channel);
    if (!sdk.ok()) {
      std::remove(file.c_str());
      return failed(sdk.status());
    }
    sdk_ms.push_back(absl::ToDoubleMilliseconds(*sdk));
  }
  std::remove(file.c_str());

  const double cli_median = Median(cli_ms);
  const double sdk_median = Median(sdk_ms);
  const double ratio = cli_median / sdk_median;
  env.report->AddRow(
      {scenario,
       absl::StrCat("`batchexec gather tasks.jsonl` (JSON lines in, one JSON "
                    "line per result into a pipe): ",
                    Ms(cli_median),
                    " from process start to exit, first line "
                    "after ",
                    Ms(Median(first_ms)), "; median of ", runs),
       absl::StrCat("the same batch through the C++ SDK (Client::Gather, "
                    "tasks built in process), same server: ",
                    Ms(sdk_median)),
       absl::StrCat(Fixed(ratio), "×"), "≤ 3× the SDK", Check(ratio, kTarget)});
  env.report->AddFigure("cli100k_ms", cli_median);
  env.report->AddFigure("cli100k_first_line_ms", Median(first_ms));
  env.report->AddFigure("cli100k_sdk_ms", sdk_median);
  env.report->AddFigure("cli100k_vs_sdk", ratio);
}

}  // namespace batchexec::bench
