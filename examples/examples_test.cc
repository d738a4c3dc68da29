// The examples run with short latencies and print what their headers
// promise: answers as they arrive, then the ordered report.
#include <sstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "examples/health_check.h"
#include "examples/local_server.h"
#include "examples/resilient.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/test_util/http_test_server.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;

// Position of `needle` in `text`, failing the test if absent.
size_t Find(const std::string& text, const std::string& needle) {
  size_t at = text.find(needle);
  EXPECT_NE(at, std::string::npos) << "no '" << needle << "' in:\n" << text;
  return at;
}

TEST(HealthCheck, PrintsAnswersAsTheyArriveThenTheOrderedReport) {
  HealthCheckOptions options;
  options.latency_scale = 0.1;
  std::ostringstream out;
  EXPECT_EQ(RunHealthCheck(options, out), 0);
  const std::string text = out.str();
  // As they arrive: C (0.1 s), A (0.2 s), B (0.3 s).
  const size_t c = Find(text, "] C answered: ok");
  const size_t a = Find(text, "] A answered: ok");
  const size_t b = Find(text, "] B answered: ok");
  EXPECT_LT(c, a);
  EXPECT_LT(a, b);
  // Then in request order.
  const size_t report = Find(text, "Report, in request order:");
  const size_t ra = Find(text, "  A ");
  const size_t rb = Find(text, "  B ");
  const size_t rc = Find(text, "  C ");
  EXPECT_LT(b, report);
  EXPECT_LT(report, ra);
  EXPECT_LT(ra, rb);
  EXPECT_LT(rb, rc);
  EXPECT_THAT(text, HasSubstr("(0.6 s if run one by one)"));
}

TEST(HealthCheck, ProbesRealPorts) {
  // A listening port (a server of our own) and a closed one.
  auto server = LocalServer::Start();
  ASSERT_TRUE(server.ok()) << server.status();
  HealthCheckOptions options;
  options.probes = {(*server)->target(), "127.0.0.1:1"};
  std::ostringstream out;
  EXPECT_EQ(RunHealthCheck(options, out), 1);  // one is down
  const std::string text = out.str();
  EXPECT_THAT(text,
              HasSubstr(absl::StrCat((*server)->target(), " answered: ok")));
  EXPECT_THAT(text, HasSubstr("127.0.0.1:1 answered: UNREACHABLE"));
}

TEST(HealthCheck, ChecksRealHttpAndGrpcServicesInRequestOrder) {
  // A real HTTP server (200 and 503) and a real gRPC server with health
  // checking (a batchexec server of our own, SERVING), plus a closed port.
  auto http = HttpTestServer::Start();
  ASSERT_TRUE(http.ok()) << http.status();
  auto grpc_server = LocalServer::Start();
  ASSERT_TRUE(grpc_server.ok()) << grpc_server.status();
  HealthCheckOptions options;
  const std::string up = (*http)->Url("/ok");
  const std::string down = (*http)->Url("/status/503");
  options.urls = {up, down};
  options.grpc_targets = {(*grpc_server)->target(), "127.0.0.1:1"};
  std::ostringstream out;
  EXPECT_EQ(RunHealthCheck(options, out), 1);  // two are down
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr(absl::StrCat(up, " answered: ok")));
  EXPECT_THAT(text, HasSubstr("HTTP 503"));
  EXPECT_THAT(
      text, HasSubstr(absl::StrCat((*grpc_server)->target(), " answered: ok")));
  EXPECT_THAT(text, HasSubstr("127.0.0.1:1 answered: FAILED: UNAVAILABLE"));
  // The report lists them in request order: URLs, then gRPC targets.
  const size_t report = text.find("Report, in request order:");
  ASSERT_NE(report, std::string::npos);
  const size_t first = text.find(up, report);
  const size_t second = text.find(down, report);
  const size_t third = text.find((*grpc_server)->target(), report);
  const size_t fourth = text.find("127.0.0.1:1 ", report);
  EXPECT_LT(first, second);
  EXPECT_LT(second, third);
  EXPECT_LT(third, fourth);
  EXPECT_NE(fourth, std::string::npos);
}

TEST(HealthCheck, RejectsABadUrl) {
  HealthCheckOptions options;
  options.urls = {"ftp://127.0.0.1/x"};
  std::ostringstream out;
  EXPECT_EQ(RunHealthCheck(options, out), 2);
  EXPECT_THAT(out.str(), HasSubstr("http:// or https://"));
}

TEST(HealthCheck, RejectsABadProbe) {
  HealthCheckOptions options;
  options.probes = {"no-port"};
  std::ostringstream out;
  EXPECT_EQ(RunHealthCheck(options, out), 2);
}

TEST(Resilient, ShowsFailFastThenEachOutcome) {
  ResilientOptions options;
  options.latency_scale = 0.1;
  std::ostringstream out;
  EXPECT_EQ(RunResilient(options, out), 0) << out.str();
  const std::string text = out.str();
  EXPECT_THAT(text, HasSubstr("Gather failed: UNAVAILABLE: task 1 (id "
                              "\"charge\") failed: payment service is down"));
  EXPECT_THAT(text, HasSubstr("notify ended: CANCELLED"));
  const size_t fetch = Find(text, "[0] fetch: ok");
  const size_t charge = Find(text, "[1] charge: UNAVAILABLE");
  const size_t notify = Find(text, "[2] notify: ok");
  EXPECT_LT(fetch, charge);
  EXPECT_LT(charge, notify);
}

}  // namespace
}  // namespace batchexec
