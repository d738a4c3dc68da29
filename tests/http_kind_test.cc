// The `http` kind's contract (DESIGN §6), outcome by outcome, against a real
// HTTP server on loopback, through the executor as the service runs it.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/time/time.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"
#include "server/core/executor.h"
#include "server/core/limits.h"
#include "server/tasks/kinds.h"
#include "server/test_util/dns_responder.h"
#include "server/test_util/recording_sink.h"
#include "tests/test_util/http_test_server.h"

namespace batchexec {
namespace {

using Code = absl::StatusCode;

// A request from JSON, with $URL replaced by the test server's base URL.
std::unique_ptr<v1::ExecuteRequest> Request(const std::string& json,
                                            const std::string& base) {
  auto request = std::make_unique<v1::ExecuteRequest>();
  auto status = google::protobuf::util::JsonStringToMessage(
      absl::StrReplaceAll(json, {{"$URL", base}}), request.get());
  EXPECT_TRUE(status.ok()) << status.ToString() << "\n" << json;
  return request;
}

int CodeOf(Code code) { return static_cast<int>(code); }

class HttpKindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = HttpTestServer::Start();
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    Restart(BuiltinKindsOptions());
  }

  void Restart(BuiltinKindsOptions kinds) {
    executor_.reset();
    registry_ = std::make_unique<TaskRegistry>();
    ASSERT_TRUE(RegisterBuiltinKinds(*registry_, kinds).ok());
    ExecutorOptions options;
    options.cpu_workers = 1;
    executor_ = std::make_unique<Executor>(options, *registry_);
  }

  std::string Base() const { return server_->Url(""); }

  // Starts a batch; the sink to wait on.
  std::shared_ptr<RecordingSink> Start(const std::string& json,
                                       std::shared_ptr<Batch>* out = nullptr) {
    auto sink = std::make_shared<RecordingSink>();
    auto batch =
        executor_->Start(Request(json, Base()), absl::InfiniteFuture(), sink);
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (out != nullptr && batch.ok()) *out = *batch;
    return sink;
  }

  std::vector<v1::TaskResult> Run(const std::string& json) {
    auto sink = Start(json);
    EXPECT_TRUE(sink->WaitDone());
    return sink->ByIndex();
  }

  // One http task with these args (a JSON object's inside).
  v1::TaskResult RunOne(const std::string& args) {
    auto results =
        Run(absl::StrCat(R"({"tasks":[{"kind":"http","args":{)", args, "}}]}"));
    EXPECT_EQ(results.size(), 1u);
    return results.empty() ? v1::TaskResult() : results[0];
  }

  absl::Status Validate(const std::string& args) {
    return executor_->Validate(*Request(
        absl::StrCat(R"({"tasks":[{"kind":"http","args":{)", args, "}}]}"),
        Base()));
  }

  static double Number(const v1::TaskResult& r, const std::string& field) {
    return r.output().struct_value().fields().at(field).number_value();
  }
  static bool Bool(const v1::TaskResult& r, const std::string& field) {
    return r.output().struct_value().fields().at(field).bool_value();
  }

  bool WaitInFlight(int n) {
    const absl::Time deadline = absl::Now() + absl::Seconds(5);
    while (server_->in_flight() < n && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(5));
    }
    return server_->in_flight() >= n;
  }

  std::unique_ptr<HttpTestServer> server_;
  std::unique_ptr<TaskRegistry> registry_;
  std::unique_ptr<Executor> executor_;
};

TEST_F(HttpKindTest, OkReturnsStatusLatencyAndBodyInPayload) {
  auto r = RunOne(R"("url":"$URL/ok")");
  ASSERT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_EQ(Number(r, "status"), 200);
  EXPECT_EQ(Number(r, "body_bytes"), 6);
  EXPECT_FALSE(Bool(r, "truncated"));
  EXPECT_GE(Number(r, "latency_ms"), 0);
  EXPECT_EQ(r.payload(), "hello\n");
}

TEST_F(HttpKindTest, UnexpectedStatusesFollowGrpcsMapping) {
  const std::vector<std::pair<int, Code>> cases = {
      {400, Code::kInternal},         {401, Code::kUnauthenticated},
      {403, Code::kPermissionDenied}, {404, Code::kUnimplemented},
      {429, Code::kUnavailable},      {502, Code::kUnavailable},
      {503, Code::kUnavailable},      {504, Code::kUnavailable},
      {500, Code::kUnknown},          {418, Code::kUnknown},
      {409, Code::kUnknown},
  };
  std::string tasks;
  for (const auto& [status, code] : cases) {
    absl::StrAppend(&tasks, tasks.empty() ? "" : ",",
                    R"({"kind":"http","args":{"url":"$URL/status/)", status,
                    R"("}})");
  }
  auto results = Run(absl::StrCat(
      R"({"failure_policy":"COLLECT_ALL","tasks":[)", tasks, "]}"));
  ASSERT_EQ(results.size(), cases.size());
  for (size_t i = 0; i < cases.size(); ++i) {
    EXPECT_EQ(results[i].status().code(), CodeOf(cases[i].second))
        << cases[i].first << ": " << results[i].status().message();
    EXPECT_EQ(results[i].status().message().rfind(
                  absl::StrCat("HTTP ", cases[i].first, " "), 0),
              0u)
        << results[i].status().message();
  }
}

TEST_F(HttpKindTest, TwoAndThreeHundredsAreOkByDefault) {
  auto results = Run(R"({"failure_policy":"COLLECT_ALL","tasks":[
      {"kind":"http","args":{"url":"$URL/status/204"}},
      {"kind":"http","args":{"url":"$URL/status/304"}}]})");
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status().code(), 0) << results[0].status().message();
  EXPECT_EQ(Number(results[0], "status"), 204);
  EXPECT_EQ(results[1].status().code(), 0) << results[1].status().message();
}

TEST_F(HttpKindTest, ExpectStatusChoosesWhatIsOk) {
  auto r = RunOne(R"("url":"$URL/status/404","expect_status":[404,410])");
  EXPECT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_EQ(Number(r, "status"), 404);
  r = RunOne(R"("url":"$URL/ok","expect_status":[201])");
  EXPECT_EQ(r.status().code(), CodeOf(Code::kUnknown));
  EXPECT_EQ(r.status().message(),
            absl::StrCat("HTTP 200 from GET ", server_->Url("/ok"),
                         " (expected 201)"));
  // The message names the URL without its credentials.
  r = RunOne(absl::StrCat(R"("url":"http://user:secret@127.0.0.1:)",
                          server_->port(), R"(/status/503")"));
  EXPECT_EQ(r.status().code(), CodeOf(Code::kUnavailable));
  EXPECT_EQ(r.status().message().find("secret"), std::string::npos)
      << r.status().message();
}

TEST_F(HttpKindTest, RedirectsAreNotFollowedUnlessAsked) {
  auto r = RunOne(R"("url":"$URL/redirect?to=/ok")");
  ASSERT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_EQ(Number(r, "status"), 302);
  r = RunOne(R"("url":"$URL/redirect?to=/ok","follow_redirects":true)");
  ASSERT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_EQ(Number(r, "status"), 200);
  EXPECT_EQ(r.payload(), "hello\n");
}

TEST_F(HttpKindTest, RedirectToAnOffListAddressIsPermissionDenied) {
  // Another real server on loopback, left off the allowlist.
  auto other = HttpTestServer::Start();
  ASSERT_TRUE(other.ok());
  BuiltinKindsOptions kinds;
  kinds.probe_allowlist =
      *ProbeAllowlist::Parse(absl::StrCat("127.0.0.1:", server_->port()));
  Restart(kinds);
  auto r =
      RunOne(absl::StrCat(R"("url":"$URL/redirect?to=)", (*other)->Url("/ok"),
                          R"(","follow_redirects":true)"));
  EXPECT_EQ(r.status().code(), CodeOf(Code::kPermissionDenied))
      << r.status().message();
  EXPECT_NE(r.status().message().find("not on the probe allowlist"),
            std::string::npos)
      << r.status().message();
  EXPECT_EQ(server_->requests("/redirect"), 1);  // the first hop ran
  EXPECT_EQ((*other)->connections(), 0);         // the second never connected
}

TEST_F(HttpKindTest, RedirectToAnotherSchemeIsRefused) {
  auto r = RunOne(
      R"("url":"$URL/redirect?to=ftp://127.0.0.1/x","follow_redirects":true)");
  EXPECT_EQ(r.status().code(), CodeOf(Code::kPermissionDenied))
      << r.status().message();
}

TEST_F(HttpKindTest, OffListHostIsPermissionDenied) {
  auto r = RunOne(R"("url":"http://192.0.2.1/")");  // TEST-NET-1
  EXPECT_EQ(r.status().code(), CodeOf(Code::kPermissionDenied))
      << r.status().message();
  EXPECT_NE(r.status().message().find("192.0.2.1:80"), std::string::npos);
}

TEST_F(HttpKindTest, NamesAreCheckedByTheAddressTheyResolveTo) {
  auto r = RunOne(
      absl::StrCat(R"("url":"http://localhost:)", server_->port(), R"(/ok")"));
  EXPECT_EQ(r.status().code(), 0) << r.status().message();
  BuiltinKindsOptions kinds;
  kinds.probe_allowlist = *ProbeAllowlist::Parse("10.0.0.0/8");
  Restart(kinds);
  r = RunOne(
      absl::StrCat(R"("url":"http://localhost:)", server_->port(), R"(/ok")"));
  EXPECT_EQ(r.status().code(), CodeOf(Code::kPermissionDenied))
      << r.status().message();
}

TEST_F(HttpKindTest, HostNamesAreResolvedByTheServersResolverAndPinned) {
  // Names only this DNS server knows: curl's own resolver (the system's)
  // cannot find them, so a success shows the c-ares answer was pinned.
  testing::DnsZone zone;
  zone.addresses["web.batchexec.test"] = {"127.0.0.1"};
  zone.addresses["far.batchexec.test"] = {"192.0.2.1"};
  zone.silent = {"quiet.batchexec.test"};
  auto dns = testing::DnsResponder::Start(zone);
  ASSERT_TRUE(dns.ok()) << dns.status();
  BuiltinKindsOptions kinds;
  kinds.dns_servers = (*dns)->address();
  Restart(kinds);
  const std::string port = absl::StrCat(server_->port());
  auto r = RunOne(
      absl::StrCat(R"("url":"http://web.batchexec.test:)", port, R"(/ok")"));
  EXPECT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_EQ(Number(r, "status"), 200);
  EXPECT_GE((*dns)->queries_for("web.batchexec.test"), 1);
  // The pinned address is still checked on connect.
  r = RunOne(
      absl::StrCat(R"("url":"http://far.batchexec.test:)", port, R"(/ok")"));
  EXPECT_EQ(r.status().code(), CodeOf(Code::kPermissionDenied))
      << r.status().message();
  // No such name: UNAVAILABLE, as curl reports it.
  r = RunOne(absl::StrCat(R"("url":"http://missing.batchexec.test:)", port,
                          R"(/ok")"));
  EXPECT_EQ(r.status().code(), CodeOf(Code::kUnavailable))
      << r.status().message();
  EXPECT_NE(r.status().message().find("resolve"), std::string::npos)
      << r.status().message();
  // A resolver that never answers: the exchange's timeout.
  r = RunOne(absl::StrCat(R"("url":"http://quiet.batchexec.test:)", port,
                          R"(/ok","timeout":0.5)"));
  EXPECT_EQ(r.status().code(), CodeOf(Code::kDeadlineExceeded))
      << r.status().message();
}

TEST_F(HttpKindTest, RefusedConnectionIsUnavailable) {
  // A port that was free a moment ago: nothing listens there.
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  ASSERT_EQ(bind(fd, reinterpret_cast<sockaddr*>(&addr), len), 0);
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  auto r = RunOne(absl::StrCat(R"("url":"http://127.0.0.1:)",
                               ntohs(addr.sin_port), R"(/")"));
  EXPECT_EQ(r.status().code(), CodeOf(Code::kUnavailable))
      << r.status().message();
}

TEST_F(HttpKindTest, ConnectionClosedWithoutAnswerIsUnavailable) {
  auto r = RunOne(R"("url":"$URL/reset")");
  EXPECT_EQ(r.status().code(), CodeOf(Code::kUnavailable))
      << r.status().message();
}

TEST_F(HttpKindTest, UnresolvableNameIsUnavailable) {
  auto r = RunOne(R"("url":"http://no-such-host.invalid/","timeout":5)");
  EXPECT_EQ(r.status().code(), CodeOf(Code::kUnavailable))
      << r.status().message();
}

TEST_F(HttpKindTest, OverTimeoutIsDeadlineExceededAndStopsTheRequest) {
  const absl::Time start = absl::Now();
  auto r = RunOne(R"("url":"$URL/slow?ms=10000","timeout":0.3)");
  EXPECT_EQ(r.status().code(), CodeOf(Code::kDeadlineExceeded))
      << r.status().message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(3));
  EXPECT_TRUE(server_->WaitAborted(1, absl::Seconds(3)));
}

TEST_F(HttpKindTest, BodyIsCappedAtMaxBodyBytes) {
  auto r = RunOne(R"("url":"$URL/large?bytes=100000","max_body_bytes":1000)");
  ASSERT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_TRUE(Bool(r, "truncated"));
  EXPECT_EQ(Number(r, "body_bytes"), 1000);
  EXPECT_EQ(r.payload(), std::string(1000, 'x'));
  r = RunOne(R"("url":"$URL/large?bytes=100000")");  // default 65536
  ASSERT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_TRUE(Bool(r, "truncated"));
  EXPECT_EQ(r.payload().size(), 65536u);
  r = RunOne(R"("url":"$URL/large?bytes=65536")");  // exactly the cap
  ASSERT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_FALSE(Bool(r, "truncated"));
  EXPECT_EQ(r.payload().size(), 65536u);
}

// The largest cap a task may ask for must give a result that fits in one
// message: a body at the cap arrives whole, with a long id beside it, not
// as a RESOURCE_EXHAUSTED result after the download.
TEST_F(HttpKindTest, TheLargestAllowedBodyFitsInItsResult) {
  const std::string id(1000, 'i');
  for (const int64_t bytes : {kMaxHttpMaxBodyBytes, kMaxHttpMaxBodyBytes + 1}) {
    auto results = Run(absl::StrCat(R"({"tasks":[{"kind":"http","id":")", id,
                                    R"(","args":{"url":"$URL/large?bytes=)",
                                    bytes, R"(","max_body_bytes":)",
                                    kMaxHttpMaxBodyBytes, "}}]}"));
    ASSERT_EQ(results.size(), 1u);
    const v1::TaskResult& r = results[0];
    ASSERT_EQ(r.status().code(), 0) << bytes << ": " << r.status().message();
    EXPECT_EQ(r.payload().size(), static_cast<size_t>(kMaxHttpMaxBodyBytes));
    EXPECT_EQ(Bool(r, "truncated"), bytes > kMaxHttpMaxBodyBytes);
    EXPECT_EQ(r.id(), id);
    EXPECT_LE(r.ByteSizeLong(), static_cast<size_t>(kMaxStreamedResultBytes));
  }
}

TEST_F(HttpKindTest, SendsMethodHeadersAndBody) {
  auto r =
      RunOne(R"("url":"$URL/echo","method":"POST","headers":{"X-Test":"v 1"},)"
             R"("body":"abc")");
  ASSERT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_EQ(r.payload(), "POST\nv 1\nabc");
  // Task.payload is the body when set (bytes; base64 in JSON).
  auto results = Run(
      R"({"tasks":[{"kind":"http","args":{"url":"$URL/echo","method":"PUT"},)"
      R"("payload":"eHl6"}]})");
  ASSERT_EQ(results[0].status().code(), 0) << results[0].status().message();
  EXPECT_EQ(results[0].payload(), "PUT\n\nxyz");
  r = RunOne(R"("url":"$URL/ok","method":"HEAD")");
  ASSERT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_EQ(Number(r, "status"), 200);
  EXPECT_EQ(Number(r, "body_bytes"), 0);
}

TEST_F(HttpKindTest, BadArgsAreRejectedBeforeAnythingRuns) {
  const std::vector<std::pair<std::string, std::string>> cases = {
      {R"("url":"not a url")", "args.url"},
      {R"("url":"ftp://127.0.0.1/")", "args.url must be http:// or https://"},
      {R"("url":"file:///etc/passwd")", "args.url"},
      {R"("url":"http://")", "args.url"},
      {R"("url":"$URL/ok","method":"FETCH")", "args.method"},
      {R"("url":"$URL/ok","method":"get")", "args.method"},
      {R"("url":"$URL/ok","headers":{"X":"a\r\nInjected: 1"})",
       "args.headers.X"},
      {R"("url":"$URL/ok","headers":{"Bad Name":"v"})", "args.headers"},
      {R"("url":"$URL/ok","headers":{"X":1})", "args.headers.X"},
      {R"("url":"$URL/ok","timeout":0)", "args.timeout"},
      {R"("url":"$URL/ok","timeout":3601)", "args.timeout"},
      {R"("url":"$URL/ok","max_body_bytes":-1)", "args.max_body_bytes"},
      {R"("url":"$URL/ok","max_body_bytes":1.5)", "args.max_body_bytes"},
      {absl::StrCat(R"("url":"$URL/ok","max_body_bytes":)",
                    kMaxHttpMaxBodyBytes + 1),
       "args.max_body_bytes"},
      {R"("url":"$URL/ok","expect_status":[99])", "args.expect_status"},
      {R"("url":"$URL/ok","expect_status":[])", "args.expect_status"},
      {R"("url":"$URL/ok","body":"x")", "args.body"},
      {R"("url":"$URL/ok","follow_redirects":"yes")", "follow_redirects"},
      {R"("url":"$URL/ok","nope":1)", "nope"},
      // Framing and routing headers the transfer sets: a caller's own would
      // smuggle a request onto a connection shared with other callers.
      {R"("url":"$URL/ok","headers":{"Content-Length":"0"})",
       "args.headers.Content-Length is not allowed: Content-Length is set by "
       "the server"},
      {R"("url":"$URL/ok","headers":{"transfer-encoding":"chunked"})",
       "args.headers.transfer-encoding is not allowed: Transfer-Encoding"},
      {R"("url":"$URL/ok","headers":{"CONNECTION":"keep-alive"})",
       "is not allowed: Connection"},
      {R"("url":"$URL/ok","headers":{"hOsT":"evil.example"})",
       "is not allowed: Host"},
      {R"("url":"$URL/ok","headers":{" Host ":"evil.example"})",
       "is not allowed: Host"},
      {R"("url":"$URL/ok","headers":{"\tContent-Length":"5"})",
       "is not allowed: Content-Length"},
      {R"("url":"$URL/ok","headers":{"Host:":"evil.example"})",
       "is not an HTTP token"},
      {R"("url":"$URL/ok","headers":{"X\r\nHost":"evil.example"})",
       "is not an HTTP token"},
  };
  for (const auto& [args, want] : cases) {
    absl::Status s = Validate(args);
    EXPECT_EQ(s.code(), Code::kInvalidArgument) << args;
    EXPECT_NE(s.message().find("tasks[0]"), absl::string_view::npos)
        << s.message();
    EXPECT_NE(s.message().find(want), absl::string_view::npos)
        << args << " -> " << s.message();
  }
  EXPECT_TRUE(Validate(R"("url":"$URL/ok")").ok());
  EXPECT_TRUE(
      Validate(absl::StrCat(R"("url":"https://example.com:8443/a?b=c#d",)"
                            R"("method":"OPTIONS","timeout":3600,)"
                            R"("max_body_bytes":)",
                            kMaxHttpMaxBodyBytes,
                            R"(,"expect_status":[200],)"
                            R"("headers":{"Authorization":"Bearer x"})"))
          .ok());
  EXPECT_EQ(server_->connections(), 0);
}

TEST_F(HttpKindTest, TwoHundredSlowRequestsTakeAboutOneRequestsTime) {
  constexpr int kTasks = 200;
  std::string tasks;
  for (int i = 0; i < kTasks; ++i) {
    absl::StrAppend(&tasks, i ? "," : "",
                    R"({"kind":"http","args":{"url":"$URL/slow?ms=500"}})");
  }
  const absl::Time start = absl::Now();
  auto results = Run(absl::StrCat(R"({"tasks":[)", tasks, "]}"));
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(results.size(), static_cast<size_t>(kTasks));
  for (const auto& r : results) {
    ASSERT_EQ(r.status().code(), 0) << r.status().message();
  }
  std::printf("%d concurrent 0.5 s http tasks took %s\n", kTasks,
              absl::FormatDuration(took).c_str());
  EXPECT_LT(took, absl::Seconds(5));
}

TEST_F(HttpKindTest, CancellingTheCallStopsTheRequestAtOnce) {
  std::shared_ptr<Batch> batch;
  auto sink = Start(
      R"({"tasks":[{"kind":"http","args":{"url":"$URL/slow?ms=10000"}}]})",
      &batch);
  ASSERT_TRUE(WaitInFlight(1));
  const absl::Time cancelled = absl::Now();
  batch->Cancel(absl::CancelledError("client cancelled"));
  ASSERT_TRUE(sink->WaitDone(absl::Seconds(3)));
  EXPECT_EQ(sink->ByIndex()[0].status().code(), CodeOf(Code::kCancelled));
  EXPECT_TRUE(server_->WaitAborted(1, absl::Seconds(3)));
  EXPECT_LT(absl::Now() - cancelled, absl::Seconds(2));
}

TEST_F(HttpKindTest, FailFastStopsSiblingRequests) {
  auto sink = Start(R"({"tasks":[
      {"kind":"http","args":{"url":"$URL/slow?ms=10000"}},
      {"kind":"http","args":{"url":"$URL/status/503"}}]})");
  ASSERT_TRUE(sink->WaitDone(absl::Seconds(5)));
  auto results = sink->ByIndex();
  EXPECT_EQ(results[1].status().code(), CodeOf(Code::kUnavailable));
  EXPECT_EQ(results[0].status().code(), CodeOf(Code::kCancelled));
  EXPECT_TRUE(server_->WaitIdle(absl::Seconds(3)));
}

TEST_F(HttpKindTest, TaskDeadlineStopsTheRequest) {
  auto r = Run(R"({"tasks":[{"kind":"http","timeout":"0.3s",)"
               R"("args":{"url":"$URL/slow?ms=10000"}}]})");
  EXPECT_EQ(r[0].status().code(), CodeOf(Code::kDeadlineExceeded));
  EXPECT_TRUE(server_->WaitAborted(1, absl::Seconds(3)));
}

TEST_F(HttpKindTest, ShutdownStopsRequestsInFlight) {
  auto sink = Start(
      R"({"tasks":[{"kind":"http","args":{"url":"$URL/slow?ms=10000"}}]})");
  ASSERT_TRUE(WaitInFlight(1));
  executor_.reset();  // cancels every batch and waits for them
  EXPECT_EQ(sink->ByIndex()[0].status().code(), CodeOf(Code::kCancelled));
  EXPECT_TRUE(server_->WaitAborted(1, absl::Seconds(3)));
}

TEST_F(HttpKindTest, RetryPolicyRetriesAFlakyEndpointUntilOk) {
  auto r = Run(R"({"retry_policy":{"max_attempts":3,"initial_backoff":"0.01s",)"
               R"("max_backoff":"0.05s","backoff_multiplier":2,)"
               R"("retryable_status_codes":["UNAVAILABLE"]},)"
               R"("tasks":[{"kind":"http",)"
               R"("args":{"url":"$URL/flaky?key=a&fail=2"}}]})");
  ASSERT_EQ(r[0].status().code(), 0) << r[0].status().message();
  EXPECT_EQ(r[0].attempts(), 3u);
  EXPECT_EQ(r[0].payload(), "recovered\n");
  EXPECT_EQ(server_->requests("/flaky"), 3);
}

TEST_F(HttpKindTest, ListTaskKindsDocumentsEveryArg) {
  const TaskKind* kind = registry_->Find("http");
  ASSERT_NE(kind, nullptr);
  std::vector<std::string> names;
  for (const auto& arg : kind->args) {
    names.push_back(arg.name);
    EXPECT_FALSE(arg.description.empty()) << arg.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{
                       "url", "method", "headers", "body", "timeout",
                       "follow_redirects", "max_body_bytes", "expect_status"}));
  EXPECT_NE(kind->description.find("PERMISSION_DENIED"), std::string::npos);
}

}  // namespace
}  // namespace batchexec
