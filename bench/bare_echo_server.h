// A gRPC server hosting only BareEcho, on the callback API like the
// batchexec server, so that both share the process's gRPC threads and the
// bench compares a batch with a bare RPC under the same conditions.
#ifndef BATCHEXEC_BENCH_BARE_ECHO_SERVER_H_
#define BATCHEXEC_BENCH_BARE_ECHO_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "bench/bare_echo.grpc.pb.h"
#include "grpcpp/grpcpp.h"

namespace batchexec::bench {

class BareEchoServer {
 public:
  // Listens on 127.0.0.1 and a free port.
  static absl::StatusOr<std::unique_ptr<BareEchoServer>> Start();
  ~BareEchoServer();

  // "127.0.0.1:PORT", ready for grpc::CreateChannel.
  std::string target() const;

 private:
  class Service final : public BareEcho::CallbackService {
    grpc::ServerUnaryReactor* Echo(grpc::CallbackServerContext* context,
                                   const EchoMessage* request,
                                   EchoMessage* response) override;
  };

  BareEchoServer() = default;

  Service service_;
  std::unique_ptr<grpc::Server> server_;
  int port_ = 0;
};

}  // namespace batchexec::bench

#endif  // BATCHEXEC_BENCH_BARE_ECHO_SERVER_H_
