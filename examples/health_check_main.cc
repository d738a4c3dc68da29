// bazel run //examples:health_check [-- --latency_scale=0.1]
// bazel run //examples:health_check -- --probe=127.0.0.1:22,127.0.0.1:80
// bazel run //examples:health_check -- --http=http://127.0.0.1:8080/health
// bazel run //examples:health_check -- --grpc=127.0.0.1:50051
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_split.h"
#include "examples/health_check.h"

ABSL_FLAG(std::string, target, "",
          "batchexec server host:port; empty starts one in process");
ABSL_FLAG(double, latency_scale, 1.0,
          "multiplies the simulated latencies (2.0, 3.0 and 1.0 s)");
ABSL_FLAG(std::string, probe, "",
          "comma-separated host:port pairs to check with tcp_probe instead "
          "of the simulated services (numeric addresses or localhost). "
          "Without --target, the in-process server's allowlist is exactly "
          "these, so any address given is probed (e.g. 10.1.2.3:80); with "
          "--target, that server's --probe_allowlist decides.");

ABSL_FLAG(std::string, http, "",
          "comma-separated URLs to GET with the http kind (2xx/3xx is "
          "healthy)");
ABSL_FLAG(std::string, grpc, "",
          "comma-separated host:port gRPC servers to check with grpc_health "
          "(SERVING is healthy)");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  batchexec::HealthCheckOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.latency_scale = absl::GetFlag(FLAGS_latency_scale);
  options.probes =
      absl::StrSplit(absl::GetFlag(FLAGS_probe), ',', absl::SkipWhitespace());
  options.urls =
      absl::StrSplit(absl::GetFlag(FLAGS_http), ',', absl::SkipWhitespace());
  options.grpc_targets =
      absl::StrSplit(absl::GetFlag(FLAGS_grpc), ',', absl::SkipWhitespace());
  return batchexec::RunHealthCheck(options, std::cout);
}
