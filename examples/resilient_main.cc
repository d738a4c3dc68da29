// bazel run //examples:resilient
#include <iostream>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "examples/resilient.h"

ABSL_FLAG(std::string, target, "",
          "batchexec server host:port; empty starts one in process");
ABSL_FLAG(double, latency_scale, 1.0, "multiplies the third task's 2 s sleep");

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  batchexec::ResilientOptions options;
  options.target = absl::GetFlag(FLAGS_target);
  options.latency_scale = absl::GetFlag(FLAGS_latency_scale);
  return batchexec::RunResilient(options, std::cout);
}
