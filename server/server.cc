#include "server/server.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "grpcpp/health_check_service_interface.h"
#include "src/proto/grpc/health/v1/health.pb.h"

namespace batchexec {
namespace {

constexpr char kServiceName[] = "batchexec.v1.BatchExecutor";

void SetServing(grpc::Server& server, bool serving) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  if (health == nullptr) return;
  health->SetServingStatus(serving);  // overall ("") and every service
  health->SetServingStatus(kServiceName, serving);
}

// The TLS credentials; null for plaintext.
absl::StatusOr<std::shared_ptr<grpc::ServerCredentials>> TlsCredentials(
    const ServerOptions& options) {
  if (options.tls_cert_file.empty() && options.tls_key_file.empty()) {
    if (!options.tls_client_ca_file.empty()) {
      return absl::InvalidArgumentError(
          "tls_client_ca_file needs tls_cert_file and tls_key_file");
    }
    return nullptr;
  }
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both tls_cert_file and tls_key_file");
  }
  auto cert = ReadFile(options.tls_cert_file);
  if (!cert.ok()) return cert.status();
  auto key = ReadFile(options.tls_key_file);
  if (!key.ok()) return key.status();
  grpc::SslServerCredentialsOptions ssl;
  ssl.pem_key_cert_pairs.push_back({*key, *cert});
  if (!options.tls_client_ca_file.empty()) {
    auto ca = ReadFile(options.tls_client_ca_file);
    if (!ca.ok()) return ca.status();
    ssl.pem_root_certs = *ca;
    ssl.client_certificate_request =
        GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY;
  }
  return grpc::SslServerCredentials(ssl);
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::BuildAndStart(
    ServerOptions options, std::unique_ptr<TaskRegistry> registry) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  auto tls = TlsCredentials(options);
  if (!tls.ok()) return tls.status();
  std::unique_ptr<Server> server(new Server());
  server->registry_ = std::move(registry);
  server->executor_ =
      std::make_unique<Executor>(options.executor, *server->registry_);
  server->auth_ = std::make_unique<TokenAuthenticator>(options.auth_token);
  server->service_ = std::make_unique<BatchExecutorService>(*server->executor_,
                                                            *server->auth_);
  // The token is checked on each call's headers, before gRPC reads (and
  // buffers) its request.
  std::shared_ptr<grpc::ServerCredentials> credentials =
      TokenCheckedCredentials(*server->auth_, *std::move(tls));

  grpc::EnableDefaultHealthCheckService(true);
  // Touching the descriptor keeps health.pb.o linked, so reflection (and
  // `grpcurl describe grpc.health.v1.Health`) can find the service.
  (void)grpc::health::v1::HealthCheckRequest::descriptor();
  grpc::ServerBuilder builder;
  builder.AddListeningPort(options.address, credentials, &server->port_);
  builder.RegisterService(server->service_.get());
  if (options.enable_reflection) {
    server->reflection_descriptors_ = std::make_unique<ReflectionDescriptors>(
        std::vector<std::string>{kServiceName, "grpc.health.v1.Health",
                                 "grpc.reflection.v1.ServerReflection",
                                 "grpc.reflection.v1alpha.ServerReflection"});
    server->reflection_v1_ =
        std::make_unique<ReflectionV1Service>(*server->reflection_descriptors_);
    server->reflection_v1alpha_ = std::make_unique<ReflectionV1AlphaService>(
        *server->reflection_descriptors_);
    builder.RegisterService(server->reflection_v1_.get());
    builder.RegisterService(server->reflection_v1alpha_.get());
  }
  // Results can be large; the client's receive limit is what bounds them.
  builder.SetMaxSendMessageSize(-1);
  builder.SetMaxReceiveMessageSize(options.max_receive_message_bytes);
  builder.AddChannelArgument(GRPC_ARG_MAX_CONCURRENT_STREAMS,
                             options.max_concurrent_streams);
  builder.AddChannelArgument(GRPC_ARG_KEEPALIVE_TIME_MS,
                             absl::ToInt64Milliseconds(options.keepalive_time));
  builder.AddChannelArgument(
      GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
      absl::ToInt64Milliseconds(options.keepalive_timeout));
  builder.AddChannelArgument(
      GRPC_ARG_HTTP2_MIN_RECV_PING_INTERVAL_WITHOUT_DATA_MS,
      absl::ToInt64Milliseconds(options.min_client_ping_interval));
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
    MutexLock lock(&mu_);
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
  MutexLock lock(&mu_);
  shutdown_done_ = true;
}

void Server::Wait() {
  MutexLock lock(&mu_);
  auto done = [this] { return shutdown_done_; };
  mu_.Await(absl::Condition(&done));
}

}  // namespace batchexec
