// Runs bench/asyncio_baseline.py (the Python asyncio.gather baselines) with
// python3 and reads its JSON line. The baselines are optional: without
// python3 or the script the bench reports them as n/a.
#ifndef BATCHEXEC_BENCH_ASYNCIO_BASELINE_H_
#define BATCHEXEC_BENCH_ASYNCIO_BASELINE_H_

#include <optional>
#include <string>

namespace batchexec::bench {

struct AsyncioResult {
  double wall_s = 0;
  double tasks_per_s = 0;
};

class AsyncioBaseline {
 public:
  // `script` empty means: look for bench/asyncio_baseline.py in the runfiles
  // (bazel run) or in the workspace (BUILD_WORKSPACE_DIRECTORY).
  AsyncioBaseline(std::string python, std::string script);

  // False if python or the script is missing; say why in `why`.
  bool available(std::string* why = nullptr) const;

  // `args` as on the script's command line, e.g. "sleep --n 1000 --seconds
  // 0.01 --concurrency 100". nullopt if it did not run or printed no result.
  std::optional<AsyncioResult> Run(const std::string& args) const;

 private:
  std::string python_;
  std::string script_;  // empty if not found
};

}  // namespace batchexec::bench

#endif  // BATCHEXEC_BENCH_ASYNCIO_BASELINE_H_
