#include "server/server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"

namespace batchexec {
namespace {

constexpr char kServiceName[] = "batchexec.v1.BatchExecutor";

void SetServing(grpc::Server& server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);  // overall ("") and every service
  health->SetServingStatus(kServiceName, serving);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::BuildAndStart(
    ServerOptions options, std::unique_ptr<TaskRegistry> registry) {
  std::unique_ptr<Server> server(new Server());
  server->registry_ = std::move(registry);
  server->executor_ =
      std::make_unique<Executor>(options.executor, *server->registry_);
  server->service_ = std::make_unique<BatchExecutorService>(*server->executor_);

  grpc::EnableDefaultHealthCheckService(true);
  // Linked in explicitly: --as-needed would drop the self-registering plugin.
  if (options.enable_reflection) {
    grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  }
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.RegisterService(server->service_.get());
  // Results can be large; the client's receive limit is what bounds them.
  builder.SetMaxSendMessageSize(-1);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError(
        absl::StrCat("could not listen on ", options.address));
  }
  server->host_ = options.address.substr(0, options.address.rfind(':'));
  SetServing(*server->server_, true);
  return server;
}

Server::~Server() { Shutdown(absl::ZeroDuration()); }

std::string Server::target() const {
  std::string host = host_;
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  return absl::StrCat(host, ":", port_);
}

void Server::Shutdown(absl::Duration grace) {
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_started_) {
      auto done = [this] { return shutdown_done_; };
      mu_.Await(absl::Condition(&done));
      return;
    }
    shutdown_started_ = true;
  }
  SetServing(*server_, false);
  executor_->StopAccepting();
  if (!executor_->WaitIdle(absl::Now() + grace)) {
    executor_->CancelAll(absl::CancelledError(
        "server shutting down: grace period over, batch cancelled"));
  }
  // Every batch is ending now, so its call ends soon; gRPC cancels whatever
  // is still open (e.g. a reader that never reads) after this deadline.
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  executor_->WaitIdle(absl::InfiniteFuture());
  absl::MutexLock lock(&mu_);
  shutdown_done_ = true;
}

void Server::Wait() {
  absl::MutexLock lock(&mu_);
  auto done = [this] { return shutdown_done_; };
  mu_.Await(absl::Condition(&done));
}

}  // namespace batchexec
