// TLS, mutual TLS and bearer-token authentication, against a real server.
// Certificates are made at test time with the openssl CLI: no private key is
// checked in.
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "cli/cli.h"
#include "client/client.h"
#include "common/file_util.h"
#include "common/process_memory.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/rpc/auth.h"
#include "server/rpc/builtin_server.h"
#include "src/proto/grpc/reflection/v1/reflection.grpc.pb.h"
#include "tests/test_util/health_check.h"
#include "tests/test_util/identity_server.h"

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

// A raw call to `method` carrying `authorization` (if not empty) that sends
// its headers and then nothing: no request message, no half-close. Only a
// server that decides on the headers alone can answer it before `deadline`.
grpc::Status CallWithoutSendingTheRequest(
    std::shared_ptr<grpc::Channel> channel, const std::string& method,
    const std::string& authorization, absl::Duration deadline) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
  if (!authorization.empty()) {
    context.AddMetadata("authorization", authorization);
  }
  grpc::CompletionQueue cq;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call =
      stub.PrepareCall(&context, method, &cq);
  void* tag;
  bool ok;
  call->StartCall(reinterpret_cast<void*>(1));
  EXPECT_TRUE(cq.Next(&tag, &ok));
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(2));
  EXPECT_TRUE(cq.Next(&tag, &ok));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return status;
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

// HTTP authentication schemes are case-insensitive (RFC 9110 11.1); the
// token is not.
TEST(TokenAuth, SchemeIsCaseInsensitiveButTheTokenIsNot) {
  ServerOptions options;
  options.auth_token = "s3cr3t-token";
  auto server = StartServer(options);
  auto channel =
      grpc::CreateChannel(server->target(), grpc::InsecureChannelCredentials());
  auto call = [&](const std::string& authorization) {
    auto stub = v1::BatchExecutor::NewStub(channel);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    context.AddMetadata("authorization", authorization);
    v1::ExecuteRequest request;
    request.add_tasks()->set_kind("echo");
    v1::GatherResponse response;
    return stub->Gather(&context, request, &response).error_code();
  };
  for (const char* ok : {"Bearer s3cr3t-token", "bearer s3cr3t-token",
                         "BEARER s3cr3t-token", "bEaReR s3cr3t-token"}) {
    EXPECT_EQ(call(ok), grpc::StatusCode::OK) << ok;
  }
  for (const char* bad :
       {"bearer S3CR3T-TOKEN", "Bearer s3cr3t-tokeN", "Bearers3cr3t-token",
        "Basic s3cr3t-token", "s3cr3t-token", "bearer"}) {
    EXPECT_EQ(call(bad), grpc::StatusCode::UNAUTHENTICATED) << bad;
  }
}

// The token is checked on the call's headers, in gRPC's auth filter, before
// the request is read: a client without it cannot make the server wait for,
// or buffer, its request.
class TokenBeforeRequest : public ::testing::TestWithParam<bool> {
 protected:
  void SetUp() override {
    ServerOptions options;
    if (tls()) options = pki_.ServerTls(/*mutual=*/false);
    options.auth_token = "s3cr3t-token";
    server_ = StartServer(options);
    ASSERT_NE(server_, nullptr);
    std::shared_ptr<grpc::ChannelCredentials> credentials =
        grpc::InsecureChannelCredentials();
    if (tls()) {
      grpc::SslCredentialsOptions ssl;
      ssl.pem_root_certs = pki_.pem("ca.pem");
      credentials = grpc::SslCredentials(ssl);
    }
    channel_ = grpc::CreateChannel(server_->target(), credentials);
  }
  bool tls() const { return GetParam(); }

  Pki pki_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_P(TokenBeforeRequest, CallsWithoutTheTokenFailWithoutSendingTheRequest) {
  const std::pair<const char*, const char*> calls[] = {
      {"/batchexec.v1.BatchExecutor/Gather", ""},
      {"/batchexec.v1.BatchExecutor/Execute", "Bearer wrong"},
      {"/batchexec.v1.BatchExecutor/ListTaskKinds", "Basic s3cr3t-token"},
      {"/batchexec.v1.BatchExecutor/GetServerStats", "bearer S3CR3T-TOKEN"},
      {"/batchexec.v1.NoSuchService/Method", ""}};
  for (const auto& [method, authorization] : calls) {
    // A server that waited for the request would let the deadline pass.
    grpc::Status status = CallWithoutSendingTheRequest(
        channel_, method, authorization, absl::Seconds(2));
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << method << " '" << authorization << "': " << status.error_message();
  }
  // With the token, the server does wait for the request.
  EXPECT_EQ(CallWithoutSendingTheRequest(
                channel_, "/batchexec.v1.BatchExecutor/Gather",
                "bearer s3cr3t-token", absl::Milliseconds(500))
                .error_code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_EQ(server_->executor().Stats().batches_started(), 0u);
}

// Health checking stays open; reflection needs the token as BatchExecutor
// does (see ServerOptions), and works with it as grpcurl sends it (-H).
TEST_P(TokenBeforeRequest, HealthIsOpenReflectionNeedsTheToken) {
  auto health = testing::CheckHealth(channel_);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, testing::kServing);
  auto list = [&](const char* authorization,
                  grpc::reflection::v1::ServerReflectionResponse* response) {
    auto stub = grpc::reflection::v1::ServerReflection::NewStub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(5));
    if (*authorization != '\0') {
      context.AddMetadata("authorization", authorization);
    }
    auto stream = stub->ServerReflectionInfo(&context);
    grpc::reflection::v1::ServerReflectionRequest request;
    request.set_list_services("");
    stream->Write(request);
    stream->WritesDone();
    stream->Read(response);
    return stream->Finish();
  };
  for (const char* bad : {"", "Bearer wrong"}) {
    grpc::reflection::v1::ServerReflectionResponse response;
    const grpc::Status status = list(bad, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
        << "'" << bad << "': " << status.error_message();
    EXPECT_EQ(response.list_services_response().service_size(), 0);
  }
  grpc::reflection::v1::ServerReflectionResponse response;
  const grpc::Status status = list("Bearer s3cr3t-token", &response);
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_GT(response.list_services_response().service_size(), 0);
}

// A 100 MiB request without the token: the server answers on the headers
// and drops the stream, so its memory does not grow by the request.
TEST_P(TokenBeforeRequest, HugeRequestWithoutTheTokenIsNotBuffered) {
  if (!kRssTracksHeap) GTEST_SKIP() << "RSS does not track the heap here";
  constexpr size_t kRequestBytes = 100 << 20;
  // Any bytes do: a server that read them would reject them only later.
  grpc::Slice slice(std::string(kRequestBytes, '\x7f'));
  grpc::ByteBuffer request(&slice, 1);
  if (!ResetPeakRss()) GTEST_SKIP() << "cannot reset VmHWM";
  const int64_t peak_before = ProcStatusBytes("VmHWM");
  grpc::GenericStub stub(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(30));
  grpc::ByteBuffer response;
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, "/batchexec.v1.BatchExecutor/Gather", {}, &request,
                 &response, [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  const int64_t growth = ProcStatusBytes("VmHWM") - peak_before;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNAUTHENTICATED)
      << status.error_message();
  EXPECT_LT(growth, int64_t{30} << 20)
      << "peak RSS grew by " << growth / 1e6 << " MB for a "
      << kRequestBytes / 1e6 << " MB request";
}

INSTANTIATE_TEST_SUITE_P(PlaintextAndTls, TokenBeforeRequest, ::testing::Bool(),
                         [](const ::testing::TestParamInfo<bool>& info) {
                           return info.param ? "Tls" : "Plaintext";
                         });

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
  ClientOptions client_options;
  client_options.credentials = *credentials;
  Client no_token = Client::ForTargets({server->target()}, client_options);
  auto denied = no_token.Gather({Task::Echo({{"x", 1}})});
  EXPECT_EQ(denied.status().code(), absl::StatusCode::kUnauthenticated);
  client_options.auth_token = "cli-token";
  Client client = Client::ForTargets({server->target()}, client_options);
  auto outputs = client.Gather({Task::Echo({{"x", 1}})});
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

// --- Caller identity under TLS (issue 18; plaintext in caller_identity_test)

std::shared_ptr<grpc::ServerCredentials> ServerTlsCredentials(const Pki& pki,
                                                              bool mutual) {
  grpc::SslServerCredentialsOptions ssl(
      mutual ? GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY
             : GRPC_SSL_DONT_REQUEST_CLIENT_CERTIFICATE);
  ssl.pem_key_cert_pairs.push_back(
      {pki.pem("server.key"), pki.pem("server.pem")});
  if (mutual) ssl.pem_root_certs = pki.pem("ca.pem");
  return grpc::SslServerCredentials(ssl);
}

std::shared_ptr<grpc::Channel> TlsChannel(const Pki& pki,
                                          const std::string& target,
                                          bool client_cert) {
  grpc::SslCredentialsOptions ssl;
  ssl.pem_root_certs = pki.pem("ca.pem");
  if (client_cert) {
    ssl.pem_cert_chain = pki.pem("client.pem");
    ssl.pem_private_key = pki.pem("client.key");
  }
  return grpc::CreateChannel(target, grpc::SslCredentials(ssl));
}

// gRPC 1.51 fills GRPC_X509_SUBJECT_PROPERTY_NAME from the verified client
// certificate; without named tokens that subject is the caller.
TEST(CallerIdentity, UnderMutualTlsTheCallerIsTheCertificateSubject) {
  Pki pki;
  for (const char* token : {"", "single-token"}) {
    testing::IdentityServer server(TokenAuthenticator(token),
                                   ServerTlsCredentials(pki, /*mutual=*/true));
    ASSERT_NE(server.port(), 0);
    auto identity = testing::WhoAmI(
        TlsChannel(pki, server.target(), /*client_cert=*/true), token);
    ASSERT_TRUE(identity.status.ok()) << identity.status.error_message();
    EXPECT_EQ(identity.caller, "CN=client") << token;
    EXPECT_EQ(identity.weight, 1);
  }
}

TEST(CallerIdentity, ANamedTokenWinsOverTheCertificateSubject) {
  Pki pki;
  testing::IdentityServer server(
      TokenAuthenticator({{"team-a", "tok-A", 3}, {"team-b", "tok-B", 1}}),
      ServerTlsCredentials(pki, /*mutual=*/true));
  auto channel = TlsChannel(pki, server.target(), /*client_cert=*/true);
  auto identity = testing::WhoAmI(channel, "tok-A");
  ASSERT_TRUE(identity.status.ok()) << identity.status.error_message();
  EXPECT_EQ(identity.caller, "team-a");
  EXPECT_EQ(identity.weight, 3);
  // The certificate alone does not pass the token check.
  EXPECT_EQ(testing::WhoAmI(channel).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(CallerIdentity, TlsWithoutAClientCertificateFallsBackToTheIp) {
  Pki pki;
  testing::IdentityServer server(TokenAuthenticator(""),
                                 ServerTlsCredentials(pki, /*mutual=*/false));
  auto identity =
      testing::WhoAmI(TlsChannel(pki, server.target(), /*client_cert=*/false));
  ASSERT_TRUE(identity.status.ok()) << identity.status.error_message();
  EXPECT_EQ(identity.caller, "ipv4:127.0.0.1");
}

// The TLS auth filter (a C++ AuthMetadataProcessor) holds a copy of the
// authenticator: replaced tokens must reach it too.
TEST(CallerIdentity, ARevokedTokenIsRefusedByTheTlsAuthFilter) {
  Pki pki;
  testing::IdentityServer server(
      TokenAuthenticator({{"team-a", "tok-A", 1}, {"team-b", "tok-B", 1}}),
      ServerTlsCredentials(pki, /*mutual=*/false));
  auto channel = TlsChannel(pki, server.target(), /*client_cert=*/false);
  ASSERT_TRUE(testing::WhoAmI(channel, "tok-B").status.ok());
  ASSERT_TRUE(server.auth().ReplaceTokens({{"team-a", "tok-A", 1}}).ok());
  // Sent without the request, only the filter can answer before the
  // deadline.
  EXPECT_EQ(CallWithoutSendingTheRequest(channel, "/batchexec.test.X/Y",
                                         "Bearer tok-B", absl::Seconds(2))
                .error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(testing::WhoAmI(channel, "tok-B").status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(testing::WhoAmI(channel, "tok-A").caller, "team-a");
}

}  // namespace
}  // namespace batchexec
