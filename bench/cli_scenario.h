// The CLI against the SDK on the same 100k echo batch, same server, same
// run: `batchexec gather tasks.jsonl` as a user runs it (a process of its
// own reading JSON lines, printing a JSON line per result into a pipe) vs
// Client::Gather in this process. The target: CLI ≤ 3× the SDK.
#ifndef BATCHEXEC_BENCH_CLI_SCENARIO_H_
#define BATCHEXEC_BENCH_CLI_SCENARIO_H_

#include "bench/scenarios.h"

namespace batchexec::bench {

void CliVsSdk(BenchEnv& env);

}  // namespace batchexec::bench

#endif  // BATCHEXEC_BENCH_CLI_SCENARIO_H_
