#include "examples/local_server.h"

#include <utility>

#include "server/rpc/builtin_server.h"

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
  ServerOptions server_options;  // 127.0.0.1, a free port
  if (options.max_inflight_tasks > 0) {
    server_options.executor.max_inflight_tasks = options.max_inflight_tasks;
  }
  absl::StatusOr<std::unique_ptr<Server>> server =
      StartBuiltinServer(std::move(server_options), kinds);
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

absl::StatusOr<std::string> TargetOrLocalServer(
    const std::string& target, const LocalServerOptions& options,
    std::unique_ptr<LocalServer>* local) {
  if (!target.empty()) return target;
  absl::StatusOr<std::unique_ptr<LocalServer>> server =
      LocalServer::Start(options);
  if (!server.ok()) return server.status();
  *local = *std::move(server);
  return (*local)->target();
}

}  // namespace batchexec
