// The scenario batchexec was built for: check several services at once and
// report them in order. Three simulated services A, B and C answer after
// 2.0, 3.0 and 1.0 s; checked concurrently, the whole check takes as long as
// the slowest (about 3 s) instead of the sum (6 s). Each answer is printed
// as it arrives (C, A, B), then the report in request order (A, B, C).
// With probes, real tcp_probe checks of host:port pairs replace them; with
// URLs, real `http` requests; with gRPC targets, real `grpc_health` checks.
#ifndef BATCHEXEC_EXAMPLES_HEALTH_CHECK_H_
#define BATCHEXEC_EXAMPLES_HEALTH_CHECK_H_

#include <ostream>
#include <string>
#include <vector>

namespace batchexec {

struct HealthCheckOptions {
  // Server to use; empty starts one in process.
  std::string target;
  // Multiplies the simulated latencies (0.1 turns 3 s into 0.3 s).
  double latency_scale = 1.0;
  // "host:port" pairs (numeric address or localhost) to probe instead of
  // the simulated services. The in-process server (no target) is allowed to
  // probe exactly these, whatever they are: the user who names them could
  // connect to them directly. A target server keeps its own allowlist.
  std::vector<std::string> probes;
  // URLs to GET with the `http` kind (2xx/3xx is healthy) and "host:port"
  // gRPC servers to ask grpc.health.v1.Health/Check (SERVING is healthy).
  // The in-process server may reach exactly their hosts' addresses.
  std::vector<std::string> urls;
  std::vector<std::string> grpc_targets;
};

// Runs the check, printing to `out`. Returns 0 if every service is healthy,
// 1 if one is not, 2 if the check could not run.
int RunHealthCheck(const HealthCheckOptions& options, std::ostream& out);

}  // namespace batchexec

#endif  // BATCHEXEC_EXAMPLES_HEALTH_CHECK_H_
