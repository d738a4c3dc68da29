#include "server/rpc/server.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/file_util.h"
#include "grpcpp/health_check_service_interface.h"
#include "server/rpc/accept_shed.h"
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
          "--tls_client_ca (tls_client_ca_file) needs --tls_cert and "
          "--tls_key (tls_cert_file, tls_key_file)");
    }
    return nullptr;
  }
  // Named as flags first: most people meet this from batchexec_server.
  if (options.tls_cert_file.empty() || options.tls_key_file.empty()) {
    return absl::InvalidArgumentError(
        "TLS needs both --tls_cert and --tls_key (tls_cert_file, "
        "tls_key_file)");
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

// Why `address` cannot be listened on, as the kernel says it, or "" if a
// trial bind works. gRPC's builder only reports that it failed (the reason
// goes to its log), and "address in use" is the one people need to see.
std::string WhyCannotListen(const std::string& address, int* error) {
  const size_t colon = address.rfind(':');
  if (colon == std::string::npos) return "";
  std::string host = address.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  if (int rc = getaddrinfo(host.empty() ? nullptr : host.c_str(),
                           address.substr(colon + 1).c_str(), &hints, &found);
      rc != 0) {
    return gai_strerror(rc);
  }
  std::string why;
  for (addrinfo* a = found; a != nullptr && why.empty(); a = a->ai_next) {
    const int fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
    if (fd < 0) continue;
    const int on = 1;
    // As gRPC binds: a port in TIME_WAIT is not "in use".
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (bind(fd, a->ai_addr, a->ai_addrlen) != 0) {
      *error = errno;
      why = std::strerror(errno);
    }
    close(fd);
  }
  freeaddrinfo(found);
  return why;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Server>> Server::BuildAndStart(
    ServerOptions options, std::unique_ptr<TaskRegistry> registry) {
  if (absl::Status valid = options.Validate(); !valid.ok()) return valid;
  auto tls = TlsCredentials(options);
  if (!tls.ok()) return tls.status();
  if (!options.auth_token.empty() && !options.auth_tokens.empty()) {
    return absl::InvalidArgumentError(
        "auth_token and auth_tokens exclude each other");
  }
  std::unique_ptr<Server> server(new Server());
  server->registry_ = std::move(registry);
  auto access_log =
      AccessLog::Open(options.access_log, options.access_log_format);
  if (!access_log.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("access_log: ", access_log.status().message()));
  }
  server->access_log_ = *std::move(access_log);
  options.executor.access_log = server->access_log_.get();
  if (options.metrics_port != 0) {
    server->metrics_ = std::make_unique<Metrics>(*server->registry_);
    options.executor.metrics = server->metrics_.get();
  }
  server->executor_ =
      std::make_unique<Executor>(options.executor, *server->registry_);
  server->auth_ = options.auth_tokens.empty()
                      ? std::make_unique<TokenAuthenticator>(options.auth_token)
                      : std::make_unique<TokenAuthenticator>(
                            std::move(options.auth_tokens));
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
  // gRPC sets SO_REUSEPORT by default, so a second server on a busy port
  // would start and take part of the calls; it must fail instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT,
                             options.reuse_port ? 1 : 0);
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
    int error = 0;
    std::string message = absl::StrCat("could not listen on ", options.address);
    if (std::string why = WhyCannotListen(options.address, &error);
        !why.empty()) {
      absl::StrAppend(&message, ": ", why);
    }
    if (error == EADDRINUSE) {
      absl::StrAppend(&message,
                      " (another process listens there; reuse_port, "
                      "--reuse_port in batchexec_server, shares the port)");
    }
    return absl::UnavailableError(message);
  }
  server->host_ = options.address.substr(0, options.address.rfind(':'));
  if (server->metrics_ != nullptr) {
    Server* s = server.get();
    auto http = MetricsHttpServer::Start(
        options.metrics_host.empty() ? server->host_ : options.metrics_host,
        options.metrics_port, [s] { return s->RenderMetrics(); });
    if (!http.ok()) return http.status();
    server->metrics_http_ = *std::move(http);
    server->metrics_port_ = server->metrics_http_->port();
  }
  SetServing(*server->server_, true);
  return server;
}

Server::~Server() {
  // A server that could not listen (e.g. a busy port) never started.
  if (server_ != nullptr) Shutdown(absl::ZeroDuration());
}

std::string Server::target() const {
  std::string host = host_;
  if (host.empty() || host == "0.0.0.0" || host == "[::]") host = "127.0.0.1";
  return absl::StrCat(host, ":", port_);
}

std::string Server::RenderMetrics() const {
  const v1::ServerStats stats = executor_->Stats();
  Metrics::External external;
  external.batches_started = stats.batches_started();
  external.batches_open = stats.open_batches();
  external.tasks_inflight = stats.inflight_tasks();
  external.tasks_queued = stats.queued_tasks();
  external.unauthenticated = auth_->rejected();
  external.connections_dropped = ConnectionsDroppedForDescriptors();
  return metrics_->Render(external);
}

void Server::StartDraining() {
  SetServing(*server_, false);
  executor_->StopAccepting();
}

void Server::Shutdown(absl::Duration grace) {
  {
    MutexLock lock(&mu_);
    if (shutdown_started_) {
      mu_.Await(absl::Condition(this, &Server::ShutdownDone));
      return;
    }
    shutdown_started_ = true;
  }
  SetServing(*server_, false);
  executor_->StopAccepting();
  if (!executor_->WaitIdle(grace)) {
    executor_->CancelAll(absl::CancelledError(
        "server shutting down: grace period over, batch cancelled"));
  }
  // Every batch is ending now, so its call ends soon; gRPC cancels whatever
  // is still open (e.g. a reader that never reads) after this deadline.
  server_->Shutdown(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
  executor_->WaitIdle(absl::InfiniteDuration());
  metrics_http_.reset();  // scrapes go on while draining, not after
  MutexLock lock(&mu_);
  shutdown_done_ = true;
}

void Server::Wait() {
  MutexLock lock(&mu_);
  mu_.Await(absl::Condition(this, &Server::ShutdownDone));
}

}  // namespace batchexec
