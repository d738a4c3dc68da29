// A test fixture: an in-process server with the built-in kinds on a free
// loopback port, and an SDK client connected to it, fresh for each test.
#ifndef BATCHEXEC_TESTS_TEST_UTIL_LOCAL_SERVER_TEST_H_
#define BATCHEXEC_TESTS_TEST_UTIL_LOCAL_SERVER_TEST_H_

#include <memory>

#include "client/client.h"
#include "examples/local_server.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"

namespace batchexec {

class LocalServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = LocalServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    client_ = std::make_unique<Client>(grpc::CreateChannel(
        server_->target(), grpc::InsecureChannelCredentials()));
  }

  std::unique_ptr<LocalServer> server_;
  std::unique_ptr<Client> client_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_TESTS_TEST_UTIL_LOCAL_SERVER_TEST_H_
