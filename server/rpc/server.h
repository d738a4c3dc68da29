// A running batchexec server: the executor, the gRPC service, health
// checking and reflection, started together and shut down gracefully. This
// is what main.cc runs and what tests and other services embed.
#ifndef BATCHEXEC_SERVER_RPC_SERVER_H_
#define BATCHEXEC_SERVER_RPC_SERVER_H_

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/core/access_log.h"
#include "server/core/executor.h"
#include "server/core/limits.h"
#include "server/core/metrics.h"
#include "server/core/task_registry.h"
#include "server/rpc/auth.h"
#include "server/rpc/metrics_http.h"
#include "server/rpc/reflection_service.h"
#include "server/rpc/service.h"
#include "server/rpc/tokens_file.h"

namespace batchexec {

struct ServerOptions {
  // host:port to listen on; port 0 picks a free one (see Server::port()).
  std::string address = "127.0.0.1:0";
  // Let other processes listen on the same port (SO_REUSEPORT; the kernel
  // then splits connections between them). Off, a second server on a busy
  // port fails to start instead of silently taking part of the calls.
  bool reuse_port = false;
  ExecutorOptions executor;
  // Serve grpc.reflection so grpcurl needs no .proto files. With a token
  // (auth_token or auth_tokens) it needs one too, like BatchExecutor:
  // `grpcurl -H 'authorization: Bearer <token>' ... list`. It shows the
  // schema only, but each lookup costs CPU, which a server with tokens
  // spends on its callers alone. Names and requests are capped
  // (kMaxReflectionNameLength, kMaxReflectionRequestBytes in limits.h).
  bool enable_reflection = true;

  // TLS from PEM files; all empty means plaintext. With tls_client_ca_file,
  // clients must present a certificate signed by it (mutual TLS).
  std::string tls_cert_file;
  std::string tls_key_file;
  std::string tls_client_ca_file;

  // Bearer token every BatchExecutor and reflection call must carry
  // (`authorization: Bearer <token>`); empty means no authentication.
  // Health stays open.
  std::string auth_token;
  // Named callers instead (--auth_tokens_file): any of these tokens passes,
  // and its name is the caller's identity. Not with auth_token.
  std::vector<NamedToken> auth_tokens;

  // Transport limits against oversized or abusive clients.
  int max_receive_message_bytes = kDefaultMaxReceiveMessageBytes;
  int max_concurrent_streams = kDefaultMaxConcurrentStreams;
  // Keepalive: the server pings idle connections every keepalive_time and
  // drops those silent for keepalive_timeout (so dead clients release their
  // batches); clients pinging more often than min_client_ping_interval are
  // disconnected (GOAWAY too_many_pings).
  absl::Duration keepalive_time = kKeepaliveTime;
  absl::Duration keepalive_timeout = kKeepaliveTimeout;
  absl::Duration min_client_ping_interval = kMinClientPingInterval;

  // GET /metrics in the Prometheus text format (DESIGN.md section 6) on
  // this port, 0 for none; on metrics_host, or on the address's host when
  // that is empty.
  int metrics_port = 0;
  std::string metrics_host;
  // One line per batch when its call ends (access_log.h): "none", "stderr"
  // or a file path (appended to).
  std::string access_log = "none";
  AccessLog::Format access_log_format = AccessLog::Format::kPlain;

  // INVALID_ARGUMENT naming the first field (spelled like its flag in
  // main.cc) whose value cannot work, e.g. a limit of 0 on which every batch
  // would wait forever. BuildAndStart calls it; main.cc too, before anything
  // starts.
  absl::Status Validate() const;
};

class Server {
 public:
  // Starts a server running the kinds in `registry` (e.g. the built-ins from
  // RegisterBuiltinKinds plus the embedder's own).
  static absl::StatusOr<std::unique_ptr<Server>> BuildAndStart(
      ServerOptions options, std::unique_ptr<TaskRegistry> registry);

  // Shuts down with no grace if Shutdown was not called.
  ~Server();

  int port() const { return port_; }
  // "127.0.0.1:PORT" form, ready for grpc::CreateChannel.
  std::string target() const;
  Executor& executor() { return *executor_; }
  // The port GET /metrics is served on; 0 if metrics_port was 0.
  int metrics_port() const { return metrics_port_; }

  // The first step of a drain: health goes NOT_SERVING and new batches are
  // refused with UNAVAILABLE, while the server keeps accepting connections
  // (so probes on new ones see NOT_SERVING) and running batches go on.
  // Shutdown follows. Idempotent; thread-safe.
  void StartDraining();

  // Health goes NOT_SERVING and new batches are refused; running batches get
  // up to `grace` to finish, then are cancelled; every open call ends with
  // its summary or a status. Idempotent; thread-safe.
  void Shutdown(absl::Duration grace);

  // Blocks until Shutdown has completed.
  void Wait();

  // Swaps in a new set of named tokens (e.g. the tokens file re-read on
  // SIGHUP): running batches go on, calls from now on are checked against
  // `tokens`. FAILED_PRECONDITION if started without auth_tokens.
  // Thread-safe.
  absl::Status ReplaceAuthTokens(std::vector<NamedToken> tokens) {
    return auth_->ReplaceTokens(std::move(tokens));
  }

 private:
  Server() = default;
  std::string RenderMetrics() const;

  std::string host_;
  int port_ = 0;
  std::unique_ptr<TaskRegistry> registry_;
  // Outlive the executor, which counts and logs into them.
  std::unique_ptr<Metrics> metrics_;
  std::unique_ptr<AccessLog> access_log_;
  std::unique_ptr<Executor> executor_;
  // Renders from the executor: goes first.
  std::unique_ptr<MetricsHttpServer> metrics_http_;
  int metrics_port_ = 0;
  std::unique_ptr<TokenAuthenticator> auth_;
  std::unique_ptr<BatchExecutorService> service_;
  std::unique_ptr<ReflectionDescriptors> reflection_descriptors_;
  std::unique_ptr<ReflectionV1Service> reflection_v1_;
  std::unique_ptr<ReflectionV1AlphaService> reflection_v1alpha_;
  std::unique_ptr<grpc::Server> server_;
  Mutex mu_;
  bool shutdown_started_ ABSL_GUARDED_BY(mu_) = false;
  bool shutdown_done_ ABSL_GUARDED_BY(mu_) = false;
  // The condition Shutdown's second caller and Wait() wait for.
  bool ShutdownDone() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return shutdown_done_;
  }
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_SERVER_H_
