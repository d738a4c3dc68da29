#include "bench/bare_echo_server.h"

#include "absl/strings/str_cat.h"

namespace batchexec::bench {

grpc::ServerUnaryReactor* BareEchoServer::Service::Echo(
    grpc::CallbackServerContext* context, const EchoMessage* request,
    EchoMessage* response) {
  response->set_payload(request->payload());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

absl::StatusOr<std::unique_ptr<BareEchoServer>> BareEchoServer::Start() {
  std::unique_ptr<BareEchoServer> server(new BareEchoServer());
  grpc::ServerBuilder builder;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &server->port_);
  builder.RegisterService(&server->service_);
  server->server_ = builder.BuildAndStart();
  if (server->server_ == nullptr || server->port_ == 0) {
    return absl::UnavailableError("bare echo server: could not listen");
  }
  return server;
}

BareEchoServer::~BareEchoServer() {
  if (server_ != nullptr) server_->Shutdown();
}

std::string BareEchoServer::target() const {
  return absl::StrCat("127.0.0.1:", port_);
}

}  // namespace batchexec::bench
