// The real batchexec_server binary started as a child process of the bench,
// fresh, on a port it picks itself: for the figures an in-process server
// cannot give honestly (the first call of a new process, the memory of the
// server alone).
#ifndef BATCHEXEC_BENCH_CHILD_SERVER_H_
#define BATCHEXEC_BENCH_CHILD_SERVER_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace batchexec::bench {

class ChildServer {
 public:
  // Starts `//server:batchexec_server --port=0 --access_log=none` plus
  // `args` (e.g. --metrics_port=N) and waits for its "listening on" line.
  static absl::StatusOr<std::unique_ptr<ChildServer>> Start(
      const std::vector<std::string>& args = {});
  // SIGTERM (the server is started with --drain_delay=0
  // --shutdown_grace=0), then waits for it.
  ~ChildServer();

  pid_t pid() const { return pid_; }
  const std::string& target() const { return target_; }  // 127.0.0.1:PORT

  // A "VmRSS"/"VmHWM"-style field of the child's /proc/PID/status, in
  // bytes; -1 if absent.
  int64_t StatusBytes(const std::string& field) const;
  // Resets the child's VmHWM to its current RSS (/proc/PID/clear_refs);
  // false if the kernel refused.
  bool ResetPeakRss() const;

 private:
  ChildServer() = default;
  pid_t pid_ = -1;
  int stdout_ = -1;  // the read end of the child's stdout
  std::string target_;
};

// The server binary: a data dependency in runfiles under `bazel run`, else
// the workspace's bazel-bin; "" if not found.
std::string FindServerBinary();

// GET http://127.0.0.1:PORT/metrics and return the value of the unlabelled
// sample `name`; an error if the scrape fails or the sample is absent.
absl::StatusOr<double> ScrapeMetric(int port, const std::string& name);

// A loopback port free now.
int FreeLoopbackPort();

}  // namespace batchexec::bench

#endif  // BATCHEXEC_BENCH_CHILD_SERVER_H_
