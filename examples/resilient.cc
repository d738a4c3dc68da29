#include "examples/resilient.h"

#include <memory>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "client/client.h"
#include "examples/local_server.h"
#include "grpcpp/grpcpp.h"

namespace batchexec {
namespace {

std::vector<Task> Tasks(double scale) {
  return {
      Task::Echo({{"order", 42}}).WithId("fetch"),
      Task::Fail(absl::StatusCode::kUnavailable, "payment service is down")
          .WithId("charge"),
      Task::Sleep(absl::Seconds(2 * scale)).WithId("notify"),
  };
}

std::string Describe(const absl::StatusOr<TaskOutput>& r) {
  return r.ok() ? "ok" : r.status().ToString();
}

}  // namespace

int RunResilient(const ResilientOptions& options, std::ostream& out) {
  std::unique_ptr<LocalServer> local;
  absl::StatusOr<std::string> target =
      TargetOrLocalServer(options.target, {}, &local);
  if (!target.ok()) {
    out << "could not start a local server: " << target.status() << "\n";
    return 2;
  }
  Client client(
      grpc::CreateChannel(*target, grpc::InsecureChannelCredentials()));
  const char* names[] = {"fetch", "charge", "notify"};
  bool as_described = true;

  out << "1. Gather (fail-fast): the first failure fails the call and "
         "cancels the rest.\n";
  GatherOptions watch;
  // On a gRPC thread, while the main thread waits in Gather.
  watch.on_result = [&](size_t index, const absl::StatusOr<TaskOutput>& r) {
    out << "     " << names[index] << " ended: " << Describe(r) << "\n";
  };
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<TaskOutput>> outputs =
      client.Gather(Tasks(options.latency_scale), watch);
  const absl::Duration took = absl::Now() - start;
  if (outputs.ok()) {
    out << "   unexpectedly succeeded\n";
    as_described = false;
  } else {
    out << "   Gather failed: " << outputs.status() << "\n";
    out << absl::StrFormat(
        "   after %.2fs: 'notify' (a %.1fs sleep) was cancelled, not waited "
        "for\n",
        absl::ToDoubleSeconds(took), 2 * options.latency_scale);
    as_described &= outputs.status().code() == absl::StatusCode::kUnavailable;
  }

  out << "2. GatherAll (return_exceptions): every task's own outcome, in "
         "order.\n";
  std::vector<absl::StatusOr<TaskOutput>> results =
      client.GatherAll(Tasks(options.latency_scale));
  for (size_t i = 0; i < results.size(); ++i) {
    out << "   [" << i << "] " << names[i] << ": " << Describe(results[i])
        << "\n";
  }
  as_described &= results.size() == 3 && results[0].ok() && !results[1].ok() &&
                  results[2].ok();
  return as_described ? 0 : 1;
}

}  // namespace batchexec
