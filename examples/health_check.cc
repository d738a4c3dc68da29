#include "examples/health_check.h"

#include <netdb.h>
#include <sys/socket.h>

#include <memory>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
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

// "host:port" of a URL (default ports 80 and 443) or of a gRPC target,
// brackets kept for IPv6 ([::1]:80).
absl::StatusOr<std::pair<std::string, std::string>> HostAndPort(
    absl::string_view where, bool url) {
  absl::string_view rest = where;
  std::string port = "";
  if (url) {
    if (absl::ConsumePrefix(&rest, "http://")) {
      port = "80";
    } else if (absl::ConsumePrefix(&rest, "https://")) {
      port = "443";
    } else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--http ", where, ": expected an http:// or https:// URL"));
    }
    rest = rest.substr(0, rest.find_first_of("/?#"));
    if (size_t at = rest.rfind('@'); at != absl::string_view::npos) {
      rest = rest.substr(at + 1);  // user:password@
    }
  }
  std::string host(rest);
  const size_t close = rest.rfind(']');
  const size_t colon = rest.rfind(':');
  if (colon != absl::string_view::npos &&
      (close == absl::string_view::npos || colon > close)) {
    host = std::string(rest.substr(0, colon));
    port = std::string(rest.substr(colon + 1));
  }
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  int number = 0;
  if (host.empty() || !absl::SimpleAtoi(port, &number) || number < 1 ||
      number > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat(url ? "--http " : "--grpc ", where, ": expected ",
                     url ? "a URL with a host" : "host:port"));
  }
  return std::make_pair(host, port);
}

// Allowlist entries for every address `host` resolves to, on `port`: the
// in-process server may reach what the user named, and nothing else.
absl::StatusOr<std::vector<std::string>> AllowedAddresses(
    const std::string& host, const std::string& port) {
  addrinfo hints{};
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.c_str(), port.c_str(), &hints, &found);
      rc != 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot resolve ", host, ": ", gai_strerror(rc)));
  }
  std::vector<std::string> entries;
  for (addrinfo* a = found; a != nullptr; a = a->ai_next) {
    char name[NI_MAXHOST];
    if (getnameinfo(a->ai_addr, a->ai_addrlen, name, sizeof name, nullptr, 0,
                    NI_NUMERICHOST) != 0) {
      continue;
    }
    entries.push_back(a->ai_family == AF_INET6
                          ? absl::StrCat("[", name, "]:", port)
                          : absl::StrCat(name, ":", port));
  }
  freeaddrinfo(found);
  return entries;
}

// Services for --http and --grpc, adding what they reach to `allowlist`.
absl::StatusOr<std::vector<Service>> NetworkServices(
    const HealthCheckOptions& options, std::vector<std::string>* allowlist) {
  std::vector<Service> services;
  for (bool url : {true, false}) {
    for (const std::string& where : url ? options.urls : options.grpc_targets) {
      absl::StatusOr<std::pair<std::string, std::string>> host_port =
          HostAndPort(where, url);
      if (!host_port.ok()) return host_port.status();
      absl::StatusOr<std::vector<std::string>> allowed =
          AllowedAddresses(host_port->first, host_port->second);
      if (!allowed.ok()) return allowed.status();
      allowlist->insert(allowlist->end(), allowed->begin(), allowed->end());
      Task task = url ? Task::Http(where, {{"timeout", 5}})
                      : Task::GrpcHealth(where, {{"timeout", 5}});
      services.push_back({where, std::move(task).WithId(where), 0});
    }
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
  // Real checks of every kind asked for, or else the simulated services.
  std::vector<Service> services;
  std::vector<std::string> allowlist = options.probes;
  absl::StatusOr<std::vector<Service>> network =
      NetworkServices(options, &allowlist);
  absl::StatusOr<std::vector<Service>> probes = ProbeServices(options.probes);
  for (auto* part : {&network, &probes}) {
    if (!part->ok()) {
      out << part->status().message() << "\n";
      return 2;
    }
    for (Service& s : **part) services.push_back(std::move(s));
  }
  if (services.empty()) services = SimulatedServices(options.latency_scale);

  // Without --target, a server of our own, allowed to probe what was asked.
  std::unique_ptr<LocalServer> local;
  LocalServerOptions server_options;
  server_options.probe_allowlist = absl::StrJoin(allowlist, ",");
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
