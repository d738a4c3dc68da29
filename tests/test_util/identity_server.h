// A gRPC server whose every method answers with the caller that
// TokenAuthenticator::IdentifyCaller sees, in trailing metadata: caller
// identity (auth.h) tested over real connections, plaintext or TLS, without
// the executor.
#ifndef BATCHEXEC_TESTS_TEST_UTIL_IDENTITY_SERVER_H_
#define BATCHEXEC_TESTS_TEST_UTIL_IDENTITY_SERVER_H_

#include <chrono>
#include <memory>
#include <string>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "server/rpc/auth.h"

namespace batchexec::testing {

class IdentityServer {
 public:
  // `tls` null: plaintext. Calls are checked by `auth` in gRPC's auth filter
  // (TokenCheckedCredentials) and again in the handler, as in the real
  // server.
  IdentityServer(TokenAuthenticator auth,
                 std::shared_ptr<grpc::ServerCredentials> tls = nullptr)
      : auth_(std::move(auth)), service_(auth_) {
    grpc::ServerBuilder builder;
    builder.AddListeningPort(
        "127.0.0.1:0", TokenCheckedCredentials(auth_, std::move(tls)), &port_);
    builder.RegisterCallbackGenericService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~IdentityServer() {
    if (server_ != nullptr) server_->Shutdown();
  }

  int port() const { return port_; }
  std::string target() const { return absl::StrCat("127.0.0.1:", port_); }
  // Shares its token table with the server's filter and handler.
  TokenAuthenticator& auth() { return auth_; }

 private:
  class Service final : public grpc::CallbackGenericService {
   public:
    explicit Service(const TokenAuthenticator& auth) : auth_(auth) {}
    grpc::ServerGenericBidiReactor* CreateReactor(
        grpc::GenericCallbackServerContext* context) override {
      return new Reactor(auth_, context);
    }

   private:
    class Reactor final : public grpc::ServerGenericBidiReactor {
     public:
      Reactor(const TokenAuthenticator& auth,
              grpc::GenericCallbackServerContext* context) {
        if (absl::Status s = auth.Check(*context); !s.ok()) {
          Finish(grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                              std::string(s.message())));
          return;
        }
        const Caller caller = auth.IdentifyCaller(*context);
        context->AddTrailingMetadata("x-caller", caller.name);
        context->AddTrailingMetadata("x-weight", std::to_string(caller.weight));
        context->AddTrailingMetadata("x-peer", context->peer());
        Finish(grpc::Status::OK);
      }
      void OnDone() override { delete this; }
    };
    const TokenAuthenticator& auth_;
  };

  TokenAuthenticator auth_;
  Service service_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

struct Identity {
  grpc::Status status;
  std::string caller;  // Caller::name
  int weight = 0;
  std::string peer;  // the server's context->peer(), with the port
};

// Who the IdentityServer behind `channel` says made a call with `token`
// (none if empty).
inline Identity WhoAmI(const std::shared_ptr<grpc::Channel>& channel,
                       const std::string& token = "") {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  grpc::CompletionQueue cq;
  auto call =
      stub.PrepareCall(&context, "/batchexec.test.Identity/WhoAmI", &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  cq.Next(&tag, &ok);
  Identity identity;
  call->Finish(&identity.status, reinterpret_cast<void*>(2));
  cq.Next(&tag, &ok);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  auto value = [&](const char* key) {
    auto it = context.GetServerTrailingMetadata().find(key);
    if (it == context.GetServerTrailingMetadata().end()) return std::string();
    return std::string(it->second.data(), it->second.size());
  };
  identity.caller = value("x-caller");
  (void)absl::SimpleAtoi(value("x-weight"), &identity.weight);
  identity.peer = value("x-peer");
  return identity;
}

}  // namespace batchexec::testing

#endif  // BATCHEXEC_TESTS_TEST_UTIL_IDENTITY_SERVER_H_
