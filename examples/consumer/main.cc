// Builds a batchexec client from another Bazel workspace. Nothing listens on
// 127.0.0.1:1; constructing the client must not need a server.
#include <grpcpp/grpcpp.h>

#include <iostream>
#include <memory>

#include "client/client.h"

int main() {
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateChannel("127.0.0.1:1", grpc::InsecureChannelCredentials());
  batchexec::ClientOptions options;
  options.auth_token = "token-of-this-consumer";  // sent on every call
  batchexec::Client client(channel, options);
  (void)client;
  std::cout << "batchexec::Client constructed\n";
  return 0;
}
