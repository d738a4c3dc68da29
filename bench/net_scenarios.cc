#include "bench/net_scenarios.h"

#include <algorithm>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "bench/local_targets.h"
#include "bench/report.h"
#include "client/client.h"
#include "server/rpc/builtin_server.h"

namespace batchexec::bench {
namespace {

constexpr int kTasks = 10'000;
constexpr int kConcurrency = 500;

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// One Gather of kTasks copies of `task` at max_concurrency kConcurrency;
// tasks/s on the client's clock, every task required to succeed.
absl::StatusOr<double> SdkRate(const std::shared_ptr<grpc::Channel>& channel,
                               const std::function<Task()>& task, int n) {
  Client client(channel);
  std::vector<Task> tasks;
  tasks.reserve(n);
  for (int i = 0; i < n; ++i) tasks.push_back(task());
  GatherOptions options;
  options.max_concurrency = kConcurrency;
  const absl::Time start = absl::Now();
  auto outputs = client.Gather(std::move(tasks), options);
  const double wall = absl::ToDoubleSeconds(absl::Now() - start);
  if (!outputs.ok()) return outputs.status();
  if (outputs->size() != static_cast<size_t>(n)) {
    return absl::InternalError("results missing");
  }
  return n / wall;
}

// Runs SDK and asyncio alternately (so load from elsewhere hits both alike)
// and adds the row: `key` names the BENCH figures.
void Compare(BenchEnv& env, const std::string& scenario, const std::string& key,
             const std::string& sdk_what, const std::function<Task()>& task,
             const std::string& py_what, const std::string& py_args,
             int n = kTasks) {
  const auto failed = [&](const absl::Status& why) {
    env.report->AddRow({scenario, absl::StrCat("FAILED: ", why.ToString()), "",
                        "", "", Met::kNo});
    env.report->AddFigure(absl::StrCat(key, "_tasks_per_s"), "failed");
  };
  const bool python = env.baselines && env.asyncio != nullptr;
  const int runs = env.quick ? 1 : 3;
  std::vector<double> sdk, py;
  for (int i = 0; i < runs; ++i) {
    absl::StatusOr<double> rate = SdkRate(env.channel, task, n);
    if (!rate.ok()) return failed(rate.status());
    sdk.push_back(*rate);
    if (!python) continue;
    auto result = env.asyncio->Run(
        absl::StrCat(py_args, " --n ", n, " --concurrency ", kConcurrency));
    if (result) py.push_back(result->tasks_per_s);
  }
  const double sdk_rate = Median(sdk);
  const std::string runs_note =
      runs > 1 ? absl::StrCat(", median of ", runs) : "";
  const std::string figure =
      absl::StrCat(Human(sdk_rate), " tasks/s (", sdk_what, runs_note, ")");
  env.report->AddFigure(absl::StrCat(key, "_tasks_per_s"), sdk_rate);
  if (py.empty()) {
    env.report->AddRow({scenario, figure,
                        absl::StrCat(py_what,
                                     ": n/a (--nobaselines, no script, "
                                     "or --python cannot import what it "
                                     "needs, e.g. aiohttp or grpc: try "
                                     "--python=/usr/bin/python3)"),
                        "", "report", Met::kNotApplicable});
    env.report->AddFigure(absl::StrCat(key, "_asyncio_tasks_per_s"), "n/a");
    return;
  }
  const double py_rate = Median(py);
  const double ratio = sdk_rate / py_rate;
  env.report->AddRow({scenario, figure,
                      absl::StrCat(py_what, ": ", Human(py_rate), " tasks/s"),
                      absl::StrCat(Fixed(ratio), "×"), "report",
                      Met::kNotApplicable});
  env.report->AddFigure(absl::StrCat(key, "_asyncio_tasks_per_s"), py_rate);
  env.report->AddFigure(absl::StrCat(key, "_vs_asyncio"), ratio);
}

std::string Target(int n = kTasks) {
  return absl::StrCat(Count(n), " at max_concurrency ", kConcurrency);
}

}  // namespace

void Http10k(BenchEnv& env) {
  const std::string scenario =
      absl::StrCat(Target(), ": `http` GET of a local C++ server (200 \"ok\")");
  auto server = HttpOkServer::Start();
  if (!server.ok()) {
    env.report->AddRow({scenario,
                        absl::StrCat("FAILED: ", server.status().ToString()),
                        "", "", "", Met::kNo});
    return;
  }
  const std::string url = (*server)->url();
  Compare(
      env, scenario, "http10k", "one Gather through the C++ SDK",
      [&] { return Task::Http(url); },
      "aiohttp, one session, asyncio.Semaphore(500)",
      absl::StrCat("http --url ", url));
}

void TcpProbe10k(BenchEnv& env) {
  const std::string scenario =
      absl::StrCat(Target(), ": `tcp_probe` of a local C++ acceptor");
  auto acceptor = TcpAcceptor::Start();
  if (!acceptor.ok()) {
    env.report->AddRow({scenario,
                        absl::StrCat("FAILED: ", acceptor.status().ToString()),
                        "", "", "", Met::kNo});
    return;
  }
  const int port = (*acceptor)->port();
  Compare(
      env, scenario, "tcp_probe10k", "one Gather through the C++ SDK",
      [&] { return Task::TcpProbe("127.0.0.1", port); },
      "asyncio.open_connection + close, asyncio.Semaphore(500)",
      absl::StrCat("tcp --host 127.0.0.1 --port ", port));
}

void Dns10k(BenchEnv& env) {
  Compare(
      env, absl::StrCat(Target(), ": `dns` of \"localhost\" (/etc/hosts)"),
      "dns10k",
      "one Gather through the C++ SDK; c-ares on the server's "
      "poller",
      [] { return Task::Dns("localhost"); },
      "loop.getaddrinfo, asyncio.Semaphore(500); blocking getaddrinfo on "
      "asyncio's default thread pool (asyncio has no async resolver)",
      "dns --name localhost");
}

void GrpcHealth2k(BenchEnv& env) {
  // The target: a second batchexec server in this process (it serves
  // grpc.health.v1 like any gRPC server), so the server running the checks
  // does not also answer them.
  constexpr int kChecks = 2'000;
  const std::string scenario = absl::StrCat(
      Target(kChecks), ": `grpc_health` of a local C++ gRPC server");
  auto target = StartBuiltinServer(ServerOptions{}, BuiltinKindsOptions{});
  if (!target.ok()) {
    env.report->AddRow({scenario,
                        absl::StrCat("FAILED: ", target.status().ToString()),
                        "", "", "", Met::kNo});
    return;
  }
  const std::string address = (*target)->target();
  Compare(
      env, scenario, "grpc_health2k", "one Gather through the C++ SDK",
      [&] { return Task::GrpcHealth(address); },
      "grpc.aio Health/Check, asyncio.Semaphore(500)",
      absl::StrCat("grpc_health --target ", address), kChecks);
  (*target)->Shutdown(absl::Seconds(1));
}

}  // namespace batchexec::bench
