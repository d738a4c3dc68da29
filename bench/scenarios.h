// The scenarios of gather_bench. Each measures one figure of
// bench/README.md's table together with its baseline, in the same run and
// process, and adds its rows and BENCH figures to the report.
#ifndef BATCHEXEC_BENCH_SCENARIOS_H_
#define BATCHEXEC_BENCH_SCENARIOS_H_

#include <memory>
#include <string>
#include <vector>

#include "batchexec/v1/batch.grpc.pb.h"
#include "bench/asyncio_baseline.h"
#include "bench/bare_echo.grpc.pb.h"
#include "bench/report.h"
#include "server/rpc/server.h"

namespace batchexec::bench {

// What every scenario gets.
struct BenchEnv {
  bool quick = false;  // smaller sizes and fewer repetitions
  // False skips the slow baselines (asyncio, 100k unary RPCs), e.g. to
  // profile the server alone.
  bool baselines = true;
  v1::BatchExecutor::Stub* batch = nullptr;
  std::string target;  // batch's server, for processes of their own
  std::shared_ptr<grpc::Channel> channel;  // batch's, for the SDK
  BareEcho::Stub* bare = nullptr;
  Server* server = nullptr;  // the in-process server; null with --target
  const AsyncioBaseline* asyncio = nullptr;  // null: baselines n/a
  Report* report = nullptr;
};

struct Scenario {
  const char* name;  // for --scenarios
  void (*run)(BenchEnv& env);
};

// In the order of bench/README.md's table.
const std::vector<Scenario>& AllScenarios();

}  // namespace batchexec::bench

#endif  // BATCHEXEC_BENCH_SCENARIOS_H_
