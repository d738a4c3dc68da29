// gather_bench: measures the batchexec server against its baselines in the
// same run and prints a markdown table and a final BENCH line.
//
//   bazel run -c opt //bench:gather_bench -- --quick
//
// By default the server runs in this process (so its memory can be read
// from /proc/self); --target measures an external server instead. A bare
// echo gRPC service runs in this process either way: it is the baseline of
// what any RPC costs here.
#include <algorithm>
#include <cstdio>
#include <fstream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "bench/asyncio_baseline.h"
#include "bench/bare_echo.grpc.pb.h"
#include "bench/bare_echo_server.h"
#include "bench/report.h"
#include "bench/scenarios.h"
#include "grpcpp/grpcpp.h"
#include "server/rpc/builtin_server.h"
#include "server/rpc/server.h"
#include "server/tasks/kinds.h"

ABSL_FLAG(bool, quick, false,
          "Smaller sizes and fewer repetitions (under 90 s on 2 cores); the "
          "table says which sizes shrank.");
ABSL_FLAG(std::string, target, "",
          "host:port of a running batchexec server to measure instead of an "
          "in-process one (the memory scenario then reports n/a).");
ABSL_FLAG(std::string, scenarios, "",
          "Comma-separated scenario names to run (default: all): echo1, "
          "echo100k, sleep10k, sleep100k, sleep_bounded, callers64, "
          "small_under_load, memory, stream, metrics, cli100k, http10k, "
          "tcp_probe10k, dns10k, grpc_health2k.");
ABSL_FLAG(bool, baselines, true,
          "Run the slow baselines (asyncio, 100k unary RPCs); --nobaselines "
          "with --scenarios profiles the server alone.");
ABSL_FLAG(bool, mutex_deadlock_detection, false,
          "Abseil's Mutex deadlock detection (on in Debian's build). Off by "
          "default, as batchexec_server turns it off; true measures the "
          "cost (see README.md, profile findings).");
ABSL_FLAG(std::string, python, "python3",
          "Interpreter for the asyncio baselines.");
ABSL_FLAG(std::string, asyncio_script, "",
          "Path of asyncio_baseline.py (default: found in runfiles or the "
          "workspace).");
namespace batchexec::bench {
namespace {

std::string CpuModel() {
  std::ifstream cpuinfo("/proc/cpuinfo");
  std::string line;
  while (std::getline(cpuinfo, line)) {
    if (line.rfind("model name", 0) == 0) {
      return line.substr(line.find(':') + 2);
    }
  }
  return "unknown CPU";
}

int Main() {
  const bool quick = absl::GetFlag(FLAGS_quick);
  const absl::Time start = absl::Now();
  if (!absl::GetFlag(FLAGS_mutex_deadlock_detection)) {
    absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
  }

  std::unique_ptr<Server> server;
  std::string target = absl::GetFlag(FLAGS_target);
  if (target.empty()) {
    // Every built-in kind, grpc_health included, as the shipped server has.
    auto started = StartBuiltinServer(ServerOptions{});
    if (!started.ok()) {
      std::fprintf(stderr, "gather_bench: %s\n",
                   started.status().ToString().c_str());
      return 1;
    }
    server = std::move(*started);
    target = server->target();
  }
  auto bare_server = BareEchoServer::Start();
  if (!bare_server.ok()) {
    std::fprintf(stderr, "gather_bench: %s\n",
                 bare_server.status().ToString().c_str());
    return 1;
  }

  // Gather answers 100k results in one message: lift the clients' limit.
  grpc::ChannelArguments batch_args;
  batch_args.SetMaxReceiveMessageSize(-1);
  std::shared_ptr<grpc::Channel> batch_channel = grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), batch_args);
  auto batch_stub = v1::BatchExecutor::NewStub(batch_channel);
  auto bare_stub = BareEcho::NewStub(grpc::CreateCustomChannel(
      (*bare_server)->target(), grpc::InsecureChannelCredentials(),
      batch_args));

  AsyncioBaseline asyncio(absl::GetFlag(FLAGS_python),
                          absl::GetFlag(FLAGS_asyncio_script));
  std::string asyncio_why;
  const bool have_asyncio = asyncio.available(&asyncio_why);

  Report report;
  BenchEnv env;
  env.quick = quick;
  env.baselines = absl::GetFlag(FLAGS_baselines);
  env.batch = batch_stub.get();
  env.target = target;
  env.channel = batch_channel;
  env.bare = bare_stub.get();
  env.server = server.get();
  env.asyncio = have_asyncio ? &asyncio : nullptr;
  env.report = &report;

  const std::string only = absl::GetFlag(FLAGS_scenarios);
  const std::vector<std::string> selected =
      absl::StrSplit(only, ',', absl::SkipEmpty());
  for (const Scenario& scenario : AllScenarios()) {
    if (!selected.empty() && std::find(selected.begin(), selected.end(),
                                       scenario.name) == selected.end()) {
      continue;
    }
    std::fprintf(stderr, "gather_bench: %s ...", scenario.name);
    const absl::Time t = absl::Now();
    scenario.run(env);
    std::fprintf(stderr, " %.1f s\n", absl::ToDoubleSeconds(absl::Now() - t));
  }

  const double total = absl::ToDoubleSeconds(absl::Now() - start);
  std::printf(
      "## gather_bench%s: %u cores (%s), %s\n\n", quick ? " --quick" : "",
      std::thread::hardware_concurrency(), CpuModel().c_str(),
      absl::FormatTime("%Y-%m-%d %H:%M UTC", absl::Now(), absl::UTCTimeZone())
          .c_str());
  std::printf("server: %s; baselines measured in the same run%s\n\n",
              server != nullptr ? "in-process" : target.c_str(),
              have_asyncio
                  ? ""
                  : absl::StrCat(" (asyncio n/a: ", asyncio_why, ")").c_str());
  std::printf("%s\n", report.Markdown().c_str());
  std::printf("%d target(s) missed; took %.1f s\n\n", report.missed(), total);
  report.AddFigure("quick", quick ? 1 : 0);
  report.AddFigure("cores", std::thread::hardware_concurrency());
  report.AddFigure("targets_missed", report.missed());
  report.AddFigure("total_s", total);
  std::printf("%s\n", report.BenchLine().c_str());
  std::fflush(stdout);

  if (server != nullptr) server->Shutdown(absl::Seconds(1));
  return 0;
}

}  // namespace
}  // namespace batchexec::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  return batchexec::bench::Main();
}
