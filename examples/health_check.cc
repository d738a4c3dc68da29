#include "examples/health_check.h"

#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "examples/local_server.h"
#include "grpcpp/grpcpp.h"

namespace batchexec {
namespace {

struct Service {
  std::string name;
  Task task;
  double expected_seconds = 0;  // simulated latency; 0 for probes
};

std::vector<Service> SimulatedServices(double scale) {
  std::vector<Service> services;
  for (const auto& [name, seconds] :
       std::vector<std::pair<std::string, double>>{
           {"A", 2.0}, {"B", 3.0}, {"C", 1.0}}) {
    services.push_back(
        {name, Task::Sleep(absl::Seconds(seconds * scale)).WithId(name),
         seconds * scale});
  }
  return services;
}

absl::StatusOr<std::vector<Service>> ProbeServices(
    const std::vector<std::string>& probes) {
  std::vector<Service> services;
  for (const std::string& probe : probes) {
    const size_t colon = probe.rfind(':');
    int port = 0;
    if (colon == std::string::npos ||
        !absl::SimpleAtoi(probe.substr(colon + 1), &port)) {
      return absl::InvalidArgumentError(
          absl::StrCat("--probe ", probe, ": expected host:port"));
    }
    std::string host = probe.substr(0, colon);
    if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
      host = host.substr(1, host.size() - 2);  // [::1]:80
    }
    services.push_back(
        {probe, Task::TcpProbe(host, port, absl::Seconds(2)).WithId(probe), 0});
  }
  return services;
}

// "ok", or why the service is not healthy.
std::string Verdict(const absl::StatusOr<TaskOutput>& result) {
  if (!result.ok()) return absl::StrCat("FAILED: ", result.status().ToString());
  const auto& fields = result->output.struct_value().fields();
  auto reachable = fields.find("reachable");
  if (reachable != fields.end() && !reachable->second.bool_value()) {
    auto error = fields.find("error");
    return absl::StrCat("UNREACHABLE",
                        error != fields.end()
                            ? absl::StrCat(": ", error->second.string_value())
                            : "");
  }
  return "ok";
}

bool Healthy(const absl::StatusOr<TaskOutput>& result) {
  return Verdict(result) == "ok";
}

}  // namespace

int RunHealthCheck(const HealthCheckOptions& options, std::ostream& out) {
  std::vector<Service> services;
  if (options.probes.empty()) {
    services = SimulatedServices(options.latency_scale);
  } else {
    absl::StatusOr<std::vector<Service>> probes = ProbeServices(options.probes);
    if (!probes.ok()) {
      out << probes.status().message() << "\n";
      return 2;
    }
    services = *std::move(probes);
  }

  // Without --target, a server of our own, allowed to probe what was asked.
  std::unique_ptr<LocalServer> local;
  LocalServerOptions server_options;
  server_options.probe_allowlist = absl::StrJoin(options.probes, ",");
  absl::StatusOr<std::string> target =
      TargetOrLocalServer(options.target, server_options, &local);
  if (!target.ok()) {
    out << "could not start a local server: " << target.status() << "\n";
    return 2;
  }
  Client client(
      grpc::CreateChannel(*target, grpc::InsecureChannelCredentials()));

  std::vector<Task> tasks;
  for (const Service& s : services) tasks.push_back(s.task);
  out << "Checking " << services.size() << " services concurrently on "
      << *target << (local != nullptr ? " (in-process server)" : "") << "\n";

  const absl::Time start = absl::Now();
  GatherOptions gather;
  gather.failure_policy = FailurePolicy::kCollectAll;  // report every one
  // Runs on a gRPC thread as each check ends; the main thread only waits,
  // so writing to `out` here does not race with it.
  gather.on_result = [&](size_t index, const absl::StatusOr<TaskOutput>& r) {
    out << absl::StrFormat("  [%5.2fs] %s answered: %s\n",
                           absl::ToDoubleSeconds(absl::Now() - start),
                           services[index].name, Verdict(r))
        << std::flush;
  };
  GatherResult result =
      client.StartGather(std::move(tasks), std::move(gather))->TakeResult();

  out << "Report, in request order:\n";
  double one_by_one = 0;
  bool all_healthy = true;
  for (size_t i = 0; i < services.size(); ++i) {
    const absl::StatusOr<TaskOutput>& r = result.results[i];
    const double took = r.ok() ? absl::ToDoubleSeconds(r->run_time()) : 0;
    one_by_one +=
        services[i].expected_seconds > 0 ? services[i].expected_seconds : took;
    all_healthy &= Healthy(r);
    out << absl::StrFormat("  %-22s %-8s %.2fs\n", services[i].name,
                           Healthy(r) ? "healthy" : "DOWN", took);
    if (!Healthy(r)) out << "      " << Verdict(r) << "\n";
  }
  out << absl::StrFormat(
      "Total: %.2f s for %d checks run concurrently (%.1f s if run one by "
      "one)\n",
      absl::ToDoubleSeconds(result.elapsed), services.size(), one_by_one);
  return all_healthy ? 0 : 1;
}

}  // namespace batchexec
