#include "server/tasks/http_client.h"

#include <cstdlib>
#include <fstream>
#include <memory>
#include <sstream>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "gtest/gtest.h"
#include "tests/test_util/http_test_server.h"

namespace batchexec {
namespace {

// Collects one response per request and lets the test wait for them.
class Responses {
 public:
  HttpClient::Callback Add() {
    return [this](absl::StatusOr<HttpResponse> r) {
      MutexLock lock(&mu_);
      got_.push_back(std::move(r));
    };
  }
  bool Wait(size_t n, absl::Duration timeout = absl::Seconds(20)) {
    MutexLock lock(&mu_);
    auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
      return got_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
  }
  std::vector<absl::StatusOr<HttpResponse>> got() {
    MutexLock lock(&mu_);
    return got_;
  }

 private:
  Mutex mu_;
  std::vector<absl::StatusOr<HttpResponse>> got_ ABSL_GUARDED_BY(mu_);
};

class HttpClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = HttpTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    auto client = HttpClient::Create(ProbeAllowlist::LoopbackOnly());
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  HttpRequest Get(absl::string_view path) {
    HttpRequest r;
    r.url = server_->Url(path);
    return r;
  }

  std::unique_ptr<HttpTestServer> server_;
  std::unique_ptr<HttpClient> client_;
};

TEST_F(HttpClientTest, GetsAResponse) {
  Responses responses;
  ASSERT_TRUE(client_->Start(Get("/ok"), responses.Add()).ok());
  ASSERT_TRUE(responses.Wait(1));
  auto r = responses.got()[0];
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->status, 200);
  EXPECT_EQ(r->body, "hello\n");
  EXPECT_FALSE(r->truncated);
  EXPECT_EQ(client_->active(), 0u);
}

TEST_F(HttpClientTest, ReusesOneConnectionAcrossRequests) {
  Responses responses;
  for (int i = 0; i < 5; ++i) {
    ASSERT_TRUE(client_->Start(Get("/ok"), responses.Add()).ok());
    ASSERT_TRUE(responses.Wait(i + 1));
  }
  for (auto& r : responses.got()) ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(server_->connections(), 1);
}

TEST_F(HttpClientTest, CancelClosesTheConnectionAtOnce) {
  Responses responses;
  auto id = client_->Start(Get("/slow?ms=10000"), responses.Add());
  ASSERT_TRUE(id.ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (server_->in_flight() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ASSERT_EQ(server_->in_flight(), 1);
  const absl::Time cancelled = absl::Now();
  EXPECT_TRUE(client_->Cancel(*id));
  EXPECT_FALSE(client_->Cancel(*id));
  EXPECT_EQ(client_->active(), 0u);
  // The server's request stops: its next write finds the connection gone.
  ASSERT_TRUE(server_->WaitAborted(1, absl::Seconds(3)));
  EXPECT_LT(absl::Now() - cancelled, absl::Seconds(2));
  EXPECT_TRUE(server_->WaitIdle(absl::Seconds(3)));
  EXPECT_TRUE(responses.got().empty());  // a cancelled request never calls back
}

TEST_F(HttpClientTest, ManyConcurrentRequestsShareOneLoop) {
  constexpr int kRequests = 200;
  Responses responses;
  const absl::Time start = absl::Now();
  for (int i = 0; i < kRequests; ++i) {
    ASSERT_TRUE(client_->Start(Get("/slow?ms=500"), responses.Add()).ok());
  }
  ASSERT_TRUE(responses.Wait(kRequests));
  const absl::Duration took = absl::Now() - start;
  for (auto& r : responses.got()) {
    ASSERT_TRUE(r.ok()) << r.status();
    EXPECT_EQ(r->status, 200);
  }
  std::printf("%d concurrent 0.5 s GETs took %s\n", kRequests,
              absl::FormatDuration(took).c_str());
  EXPECT_LT(took, absl::Seconds(5));
}

TEST_F(HttpClientTest, OffListAddressIsRefusedBeforeConnecting) {
  auto client = HttpClient::Create(*ProbeAllowlist::Parse("10.0.0.0/8"));
  ASSERT_TRUE(client.ok());
  Responses responses;
  ASSERT_TRUE((*client)->Start(Get("/ok"), responses.Add()).ok());
  ASSERT_TRUE(responses.Wait(1));
  auto r = responses.got()[0];
  EXPECT_EQ(r.status().code(), absl::StatusCode::kPermissionDenied)
      << r.status();
  EXPECT_NE(r.status().message().find("127.0.0.1:"), absl::string_view::npos);
  EXPECT_EQ(server_->connections(), 0);
}

TEST_F(HttpClientTest, DestroyingTheClientDropsRequestsInFlight) {
  Responses responses;
  ASSERT_TRUE(client_->Start(Get("/slow?ms=10000"), responses.Add()).ok());
  const absl::Time deadline = absl::Now() + absl::Seconds(5);
  while (server_->in_flight() == 0 && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  client_.reset();
  EXPECT_TRUE(server_->WaitAborted(1, absl::Seconds(3)));
  EXPECT_TRUE(responses.got().empty());
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// A CA and a certificate for 127.0.0.1 it signed, made with the openssl CLI.
TEST(HttpClientTlsTest, VerifiesPeersAgainstTheCaStore) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  const std::string dir = absl::StrCat(tmp ? tmp : "/tmp", "/http_pki");
  const std::string key =
      "-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes";
  const std::string script = absl::StrCat(
      "rm -rf ", dir, " && mkdir -p ", dir, " && cd ", dir,
      " && openssl req -x509 ", key,
      " -keyout ca.key -out ca.pem -days 1 -subj /CN=http-test-ca",
      " && printf 'subjectAltName=IP:127.0.0.1\\n' > server.ext",
      " && openssl req ", key,
      " -keyout server.key -out server.csr -subj /CN=127.0.0.1",
      " && openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key",
      " -CAcreateserial -days 1 -out server.pem -extfile server.ext",
      " 2>/dev/null");
  ASSERT_EQ(std::system(script.c_str()), 0) << script;
  auto server = HttpTestServer::StartTls(Slurp(dir + "/server.pem"),
                                         Slurp(dir + "/server.key"));
  ASSERT_TRUE(server.ok()) << server.status();
  HttpRequest get;
  get.url = (*server)->Url("/ok");
  ASSERT_EQ(get.url.rfind("https://", 0), 0u);

  // Trusting the test CA: the exchange goes through.
  HttpClient::Options trusting;
  trusting.ca_file = dir + "/ca.pem";
  auto client = HttpClient::Create(ProbeAllowlist::LoopbackOnly(), trusting);
  ASSERT_TRUE(client.ok());
  Responses ok;
  ASSERT_TRUE((*client)->Start(get, ok.Add()).ok());
  ASSERT_TRUE(ok.Wait(1));
  ASSERT_TRUE(ok.got()[0].ok()) << ok.got()[0].status();
  EXPECT_EQ(ok.got()[0]->body, "hello\n");

  // The system store (what the `http` kind uses) does not know the test CA.
  auto system = HttpClient::Create(ProbeAllowlist::LoopbackOnly());
  ASSERT_TRUE(system.ok());
  Responses refused;
  ASSERT_TRUE((*system)->Start(get, refused.Add()).ok());
  ASSERT_TRUE(refused.Wait(1));
  EXPECT_EQ(refused.got()[0].status().code(), absl::StatusCode::kUnavailable)
      << refused.got()[0].status();
}

}  // namespace
}  // namespace batchexec
