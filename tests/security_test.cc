// TLS, mutual TLS and bearer-token authentication, against a real server.
// Certificates are made at test time with the openssl CLI: no private key is
// checked in.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "client/cli.h"
#include "client/client.h"
#include "common/file_util.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/auth.h"
#include "server/builtin_server.h"
#include "tests/test_util/health_check.h"

namespace batchexec {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A CA, a server certificate for 127.0.0.1/localhost and a client
// certificate, in a fresh directory.
class Pki {
 public:
  Pki() {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = absl::StrCat(tmp ? tmp : "/tmp", "/pki");
    const std::string key =
        "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
    Run(absl::StrCat(
        "rm -rf ", dir_, " && mkdir -p ", dir_, " && cd ", dir_,
        " && openssl req -x509 ", key,
        " -keyout ca.key -out ca.pem -days 1 -subj /CN=batchexec-test-ca",
        " && printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\\n' > "
        "server.ext",
        " && printf 'extendedKeyUsage=clientAuth\\n' > client.ext"));
    for (const char* who : {"server", "client"}) {
      Run(absl::StrCat(
          "cd ", dir_, " && openssl req ", key, " -keyout ", who, ".key -out ",
          who, ".csr -subj /CN=", who, " && openssl x509 -req -in ", who,
          ".csr -CA ca.pem -CAkey ca.key -CAcreateserial -days 1 -out ", who,
          ".pem -extfile ", who, ".ext"));
    }
  }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }
  std::string pem(const std::string& name) const { return Slurp(path(name)); }
  // A server on this PKI's certificate; with `mutual`, clients must present
  // one from its CA.
  ServerOptions ServerTls(bool mutual) const {
    ServerOptions options;
    options.tls_cert_file = path("server.pem");
    options.tls_key_file = path("server.key");
    if (mutual) options.tls_client_ca_file = path("ca.pem");
    return options;
  }

 private:
  static void Run(const std::string& cmd) {
    ASSERT_EQ(std::system((cmd + " >/dev/null 2>&1").c_str()), 0) << cmd;
  }
  std::string dir_;
};

std::unique_ptr<Server> StartServer(ServerOptions options) {
  options.executor.cpu_workers = 1;
  auto server = StartBuiltinServer(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return server.ok() ? std::move(*server) : nullptr;
}

grpc::Status Echo(std::shared_ptr<grpc::Channel> channel,
                  const std::string& token = "") {
  auto stub = v1::BatchExecutor::NewStub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
  v1::ExecuteRequest request;
  request.add_tasks()->set_kind("echo");
  v1::GatherResponse response;
  return stub->Gather(&context, request, &response);
}

TEST(ConstantTimeEquals, ComparesWholeStrings) {
  EXPECT_TRUE(ConstantTimeEquals("secret", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secreT", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret-and-more", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("", "secret"));
  EXPECT_FALSE(ConstantTimeEquals("secret", ""));
}

TEST(TokenAuth, CallsNeedTheBearerToken) {
  ServerOptions options;
  options.auth_token = "s3cr3t-token";
  auto server = StartServer(options);
  auto channel =
      grpc::CreateChannel(server->target(), grpc::InsecureChannelCredentials());
  grpc::Status none = Echo(channel);
  EXPECT_EQ(none.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_NE(none.error_message().find("authorization"), std::string::npos);
  EXPECT_EQ(Echo(channel, "wrong").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_TRUE(Echo(channel, "s3cr3t-token").ok());
  // Execute (streaming) is guarded too.
  auto stub = v1::BatchExecutor::NewStub(channel);
  grpc::ClientContext context;
  v1::ExecuteRequest request;
  request.add_tasks()->set_kind("echo");
  auto reader = stub->Execute(&context, request);
  v1::ExecuteEvent event;
  EXPECT_FALSE(reader->Read(&event));
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(server->executor().Stats().batches_started(), 1u);
  // Health checking stays open for load balancers and orchestrators.
  auto health = testing::CheckHealth(channel);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, testing::kServing);
}

TEST(TokenAuth, TokenFileIsTrimmedAndMustNotBeEmpty) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  std::ofstream(dir + "/token") << "  abc123\n";
  std::ofstream(dir + "/empty") << "\n";
  EXPECT_EQ(*ReadTokenFile(dir + "/token"), "abc123");
  EXPECT_EQ(ReadTokenFile(dir + "/empty").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ReadTokenFile(dir + "/missing").status().code(),
            absl::StatusCode::kNotFound);
}

TEST(Tls, ServesOverTlsAndRefusesPlaintext) {
  Pki pki;
  ServerOptions options = pki.ServerTls(/*mutual=*/false);
  auto server = StartServer(options);
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pki.pem("ca.pem");
  EXPECT_TRUE(
      Echo(grpc::CreateChannel(server->target(), grpc::SslCredentials(ssl)))
          .ok());
  EXPECT_FALSE(Echo(grpc::CreateChannel(server->target(),
                                        grpc::InsecureChannelCredentials()))
                   .ok());
}

TEST(Tls, MutualTlsRequiresAClientCertificateFromTheCa) {
  Pki pki;
  ServerOptions options = pki.ServerTls(/*mutual=*/true);
  auto server = StartServer(options);
  grpc::SslCredentialsOptions anonymous;
  anonymous.pem_root_certs = pki.pem("ca.pem");
  EXPECT_FALSE(Echo(grpc::CreateChannel(server->target(),
                                        grpc::SslCredentials(anonymous)))
                   .ok());
  grpc::SslCredentialsOptions with_cert = anonymous;
  with_cert.pem_cert_chain = pki.pem("client.pem");
  with_cert.pem_private_key = pki.pem("client.key");
  EXPECT_TRUE(Echo(grpc::CreateChannel(server->target(),
                                       grpc::SslCredentials(with_cert)))
                  .ok());
}

TEST(Tls, BadTlsOptionsFailClearly) {
  ServerOptions options;
  options.tls_cert_file = "/nonexistent/cert.pem";
  options.tls_key_file = "/nonexistent/key.pem";
  auto registry = std::make_unique<TaskRegistry>();
  auto server = Server::BuildAndStart(options, std::move(registry));
  ASSERT_FALSE(server.ok());
  EXPECT_NE(server.status().message().find("/nonexistent/cert.pem"),
            std::string::npos);
  ServerOptions half;
  half.tls_client_ca_file = "/some/ca.pem";
  EXPECT_EQ(Server::BuildAndStart(half, std::make_unique<TaskRegistry>())
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

// The SDK and the CLI speak TLS and send the token.
TEST(Tls, SdkAndCliUseTlsAndTheToken) {
  Pki pki;
  ServerOptions options = pki.ServerTls(/*mutual=*/true);
  options.auth_token = "cli-token";
  auto server = StartServer(options);

  TlsFiles tls{pki.path("ca.pem"), pki.path("client.pem"),
               pki.path("client.key")};
  auto credentials = MakeChannelCredentials(tls);
  ASSERT_TRUE(credentials.ok()) << credentials.status();
  Client client(grpc::CreateChannel(server->target(), *credentials));
  auto denied = client.Gather({sdk::Task::Echo({{"x", 1}})});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kUnauthenticated);
  client.set_auth_token("cli-token");
  auto outputs = client.Gather({sdk::Task::Echo({{"x", 1}})});
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(outputs->size(), 1u);
  EXPECT_TRUE(client.ListTaskKinds().ok());

  const std::string token_file =
      std::string(std::getenv("TEST_TMPDIR")) + "/cli.token";
  std::ofstream(token_file) << "cli-token\n";
  auto cli = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"gather",
                                     "--target=" + server->target(),
                                     "--tls_ca=" + pki.path("ca.pem"),
                                     "--tls_cert=" + pki.path("client.pem"),
                                     "--tls_key=" + pki.path("client.key"),
                                     "--progress=none",
                                     "echo:"};
    args.insert(args.end(), extra.begin(), extra.end());
    std::istringstream in;
    std::ostringstream out, err;
    int code = RunCli(args, in, out, err);
    return std::make_pair(code, out.str() + err.str());
  };
  auto [ok_code, ok_text] = cli({"--auth_token_file=" + token_file});
  EXPECT_EQ(ok_code, 0) << ok_text;
  auto [bad_code, bad_text] = cli({});
  EXPECT_EQ(bad_code, 1) << bad_text;
  EXPECT_NE(bad_text.find("UNAUTHENTICATED"), std::string::npos) << bad_text;
  auto [missing_code, missing_text] =
      cli({"--auth_token_file=/nonexistent/token"});
  EXPECT_EQ(missing_code, 2);
  EXPECT_NE(missing_text.find("/nonexistent/token"), std::string::npos);
}

}  // namespace
}  // namespace batchexec
