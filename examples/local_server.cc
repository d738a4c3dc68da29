#include "examples/local_server.h"

#include <utility>

#include "server/server.h"
#include "server/task_registry.h"
#include "server/tasks/kinds.h"

namespace batchexec {

absl::StatusOr<std::unique_ptr<LocalServer>> LocalServer::Start(
    const LocalServerOptions& options) {
  BuiltinKindsOptions kinds;
  if (!options.probe_allowlist.empty()) {
    absl::StatusOr<ProbeAllowlist> allowlist =
        ProbeAllowlist::Parse(options.probe_allowlist);
    if (!allowlist.ok()) return allowlist.status();
    kinds.probe_allowlist = *std::move(allowlist);
  }
  auto registry = std::make_unique<TaskRegistry>();
  if (absl::Status s = RegisterBuiltinKinds(*registry, kinds); !s.ok()) {
    return s;
  }
  ServerOptions server_options;  // 127.0.0.1, a free port
  if (options.max_inflight_tasks > 0) {
    server_options.executor.max_inflight_tasks = options.max_inflight_tasks;
  }
  absl::StatusOr<std::unique_ptr<Server>> server =
      Server::BuildAndStart(std::move(server_options), std::move(registry));
  if (!server.ok()) return server.status();
  return std::unique_ptr<LocalServer>(new LocalServer(*std::move(server)));
}

LocalServer::LocalServer(std::unique_ptr<Server> server)
    : server_(std::move(server)) {}

LocalServer::~LocalServer() = default;

std::string LocalServer::target() const { return server_->target(); }

v1::ServerStats LocalServer::Stats() const {
  return server_->executor().Stats();
}

void LocalServer::Shutdown(absl::Duration grace) { server_->Shutdown(grace); }

}  // namespace batchexec
