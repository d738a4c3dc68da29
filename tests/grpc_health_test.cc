// The grpc_health kind end to end: a batchexec server checks a real gRPC
// server with health checking that the test starts on a loopback port, a
// closed port, and a listener that never speaks HTTP/2.
#include "server/tasks/grpc_health.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "grpcpp/ext/health_check_service_server_builder_option.h"
#include "grpcpp/generic/async_generic_service.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/health_check_service_interface.h"
#include "gtest/gtest.h"
#include "server/rpc/builtin_server.h"
#include "server/tasks/grpc_channel_cache.h"
#include "server/test_util/dns_responder.h"
#include "server/test_util/values.h"
#include "src/proto/grpc/health/v1/health.grpc.pb.h"
#include "tests/wait_until.h"

namespace batchexec {
namespace {

using ::batchexec::testing::Bool;
using ::batchexec::testing::Num;
using ::batchexec::testing::Str;

using v1::GatherResponse;

constexpr int kCancelled = static_cast<int>(grpc::StatusCode::CANCELLED);
constexpr int kDeadlineExceeded =
    static_cast<int>(grpc::StatusCode::DEADLINE_EXCEEDED);
constexpr int kNotFound = static_cast<int>(grpc::StatusCode::NOT_FOUND);
constexpr int kPermissionDenied =
    static_cast<int>(grpc::StatusCode::PERMISSION_DENIED);
constexpr int kUnavailable = static_cast<int>(grpc::StatusCode::UNAVAILABLE);

// A plain gRPC server with the default health service: "" and "svc-up"
// SERVING, "svc-down" NOT_SERVING.
class HealthServer {
 public:
  HealthServer() {
    grpc::EnableDefaultHealthCheckService(true);
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    // Health alone leaves the builder no completion queue to poll.
    builder.RegisterCallbackGenericService(&generic_);
    server_ = builder.BuildAndStart();
    server_->GetHealthCheckService()->SetServingStatus("svc-up", true);
    server_->GetHealthCheckService()->SetServingStatus("svc-down", false);
  }
  ~HealthServer() { server_->Shutdown(); }
  int port() const { return port_; }

 private:
  int port_ = 0;
  grpc::CallbackGenericService generic_;
  std::unique_ptr<grpc::Server> server_;
};

// A health service that never answers: each Check waits until its caller
// goes away. Counts the checks it saw start and the cancellations gRPC
// delivered to it, so a test can see a check stop on the target's side.
class HangingHealthServer {
 public:
  HangingHealthServer() {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                             &port_);
    // This service, not gRPC's default one, answers grpc.health.v1.
    builder.SetOption(
        std::make_unique<grpc::HealthCheckServiceServerBuilderOption>(nullptr));
    builder.RegisterService(&service_);
    server_ = builder.BuildAndStart();
  }
  ~HangingHealthServer() { server_->Shutdown(); }
  int port() const { return port_; }
  int started() const { return service_.started.load(); }
  int cancelled() const { return service_.cancelled.load(); }

 private:
  class Service : public grpc::health::v1::Health::CallbackService {
   public:
    grpc::ServerUnaryReactor* Check(
        grpc::CallbackServerContext*,
        const grpc::health::v1::HealthCheckRequest*,
        grpc::health::v1::HealthCheckResponse*) override {
      started.fetch_add(1);
      return new Waiter(&cancelled);
    }
    std::atomic<int> started{0};
    std::atomic<int> cancelled{0};
  };
  // Finishes only when its call is cancelled.
  class Waiter : public grpc::ServerUnaryReactor {
   public:
    explicit Waiter(std::atomic<int>* cancelled) : cancelled_(cancelled) {}
    void OnCancel() override {
      cancelled_->fetch_add(1);
      Finish(grpc::Status::CANCELLED);
    }
    void OnDone() override { delete this; }

   private:
    std::atomic<int>* cancelled_;
  };

  int port_ = 0;
  Service service_;
  std::unique_ptr<grpc::Server> server_;
};

// A TCP listener that accepts connections (in the kernel) and never says a
// word: gRPC's HTTP/2 handshake waits forever.
class SilentListener {
 public:
  SilentListener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 128);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~SilentListener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
};

int ClosedTcpPort() {
  SilentListener gone;
  return gone.port();
}

v1::Task Health(const std::string& target,
                std::map<std::string, google::protobuf::Value> more = {}) {
  v1::Task t;
  t.set_kind("grpc_health");
  auto& f = *t.mutable_args()->mutable_fields();
  f["target"].set_string_value(target);
  for (auto& [k, v] : more) f[k] = v;
  return t;
}

class GrpcHealthTest : public ::testing::Test {
 protected:
  void SetUp() override {
    testing::DnsZone zone;
    zone.addresses["health.batchexec.test"] = {"127.0.0.1"};
    zone.addresses["elsewhere.batchexec.test"] = {"192.0.2.1"};
    auto responder = testing::DnsResponder::Start(zone);
    ASSERT_TRUE(responder.ok()) << responder.status();
    responder_ = *std::move(responder);
    ServerOptions options;
    options.address = "127.0.0.1:0";
    options.executor.cpu_workers = 1;
    options.access_log = "none";
    BuiltinKindsOptions kinds;  // loopback-only allowlist
    kinds.dns_servers = responder_->address();
    auto server = StartBuiltinServer(options, kinds);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = *std::move(server);
    stub_ = v1::BatchExecutor::NewStub(grpc::CreateChannel(
        server_->target(), grpc::InsecureChannelCredentials()));
  }

  std::vector<v1::TaskResult> Gather(std::vector<v1::Task> tasks,
                                     v1::FailurePolicy policy = v1::COLLECT_ALL,
                                     grpc::Status* call = nullptr) {
    v1::ExecuteRequest request;
    for (auto& t : tasks) *request.add_tasks() = std::move(t);
    request.set_failure_policy(policy);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(30)));
    GatherResponse response;
    grpc::Status status = stub_->Gather(&context, request, &response);
    if (call != nullptr) {
      *call = status;
    } else {
      EXPECT_TRUE(status.ok()) << status.error_message();
    }
    return {response.results().begin(), response.results().end()};
  }
  v1::TaskResult One(v1::Task task) {
    auto results = Gather({std::move(task)});
    return results.empty() ? v1::TaskResult() : results[0];
  }

  HealthServer health_;
  std::unique_ptr<testing::DnsResponder> responder_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::BatchExecutor::Stub> stub_;
};

TEST_F(GrpcHealthTest, ServingIsOk) {
  const std::string target = absl::StrCat("127.0.0.1:", health_.port());
  for (const char* service : {"", "svc-up"}) {
    auto r = One(Health(target, {{"service", Str(service)}}));
    ASSERT_EQ(r.status().code(), 0) << service << ": " << r.status().message();
    const auto& f = r.output().struct_value().fields();
    EXPECT_EQ(f.at("status").string_value(), "SERVING");
    EXPECT_GE(f.at("latency_ms").number_value(), 0);
  }
}

TEST_F(GrpcHealthTest, NotServingIsUnavailable) {
  auto r = One(Health(absl::StrCat("127.0.0.1:", health_.port()),
                      {{"service", Str("svc-down")}}));
  EXPECT_EQ(r.status().code(), kUnavailable);
  EXPECT_NE(r.status().message().find("NOT_SERVING"), std::string::npos)
      << r.status().message();
}

TEST_F(GrpcHealthTest, UnknownServiceIsNotFound) {
  auto r = One(Health(absl::StrCat("127.0.0.1:", health_.port()),
                      {{"service", Str("no.such.Service")}}));
  EXPECT_EQ(r.status().code(), kNotFound) << r.status().message();
}

TEST_F(GrpcHealthTest, ClosedPortIsUnavailable) {
  const absl::Time start = absl::Now();
  auto r = One(Health(absl::StrCat("127.0.0.1:", ClosedTcpPort())));
  EXPECT_EQ(r.status().code(), kUnavailable) << r.status().message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(4));
}

TEST_F(GrpcHealthTest, SilentServerEndsAtTheTimeout) {
  SilentListener silent;
  const absl::Time start = absl::Now();
  auto r = One(Health(absl::StrCat("127.0.0.1:", silent.port()),
                      {{"timeout", Num(0.5)}}));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status().code(), kDeadlineExceeded) << r.status().message();
  EXPECT_GE(took, absl::Milliseconds(450));
  EXPECT_LT(took, absl::Seconds(3));
}

TEST_F(GrpcHealthTest, HostNamesAreResolvedThenChecked) {
  // From the hosts file, then from the test's DNS server: both loopback.
  for (const char* host : {"localhost", "health.batchexec.test"}) {
    auto r = One(Health(absl::StrCat(host, ":", health_.port())));
    EXPECT_EQ(r.status().code(), 0) << host << ": " << r.status().message();
  }
  // A name for an address off the allowlist is refused before connecting.
  auto off = One(Health(absl::StrCat("elsewhere.batchexec.test:", 80)));
  EXPECT_EQ(off.status().code(), kPermissionDenied) << off.status().message();
  EXPECT_NE(off.status().message().find("192.0.2.1"), std::string::npos)
      << off.status().message();
  auto unknown = One(Health("nosuch.batchexec.test:80"));
  EXPECT_EQ(unknown.status().code(), kUnavailable)
      << unknown.status().message();
}

TEST_F(GrpcHealthTest, AddressesOffTheAllowlistAreRefused) {
  for (const char* target : {"192.0.2.1:50051", "[2001:db8::1]:443"}) {
    auto r = One(Health(target));
    EXPECT_EQ(r.status().code(), kPermissionDenied) << target;
    EXPECT_NE(r.status().message().find("allowlist"), std::string::npos);
  }
}

TEST_F(GrpcHealthTest, TlsAgainstAPlaintextServerIsUnavailable) {
  auto r = One(Health(absl::StrCat("127.0.0.1:", health_.port()),
                      {{"tls", Bool(true)}, {"timeout", Num(2)}}));
  EXPECT_EQ(r.status().code(), kUnavailable) << r.status().message();
}

TEST_F(GrpcHealthTest, FailFastCancelsTheCallInFlightAtOnce) {
  SilentListener silent;
  v1::Task then_fail;
  then_fail.set_kind("fail");
  (*then_fail.mutable_args()->mutable_fields())["code"] = Num(14);
  const absl::Time start = absl::Now();
  // The check waits on the silent listener; the fail task ends the batch.
  auto results = Gather({Health(absl::StrCat("127.0.0.1:", silent.port()),
                                {{"timeout", Num(30)}}),
                         std::move(then_fail)},
                        v1::FAIL_FAST);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status().code(), kCancelled)
      << results[0].status().message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_TRUE(WaitUntil([&] {
    auto s = server_->executor().Stats();
    return s.inflight_tasks() == 0 && s.open_batches() == 0;
  }));
}

// Fail-fast, the caller's cancel and the task's timeout each reach the
// check in flight: the target server sees its call cancelled.
TEST_F(GrpcHealthTest, FailFastCancelReachesTheTargetServer) {
  HangingHealthServer hanging;
  SilentListener silent;
  // The second check fails 0.3 s in (DEADLINE_EXCEEDED), long after the
  // first has reached the hanging target; fail-fast then cancels the first.
  auto results = Gather({Health(absl::StrCat("127.0.0.1:", hanging.port()),
                                {{"timeout", Num(30)}}),
                         Health(absl::StrCat("127.0.0.1:", silent.port()),
                                {{"timeout", Num(0.3)}})},
                        v1::FAIL_FAST);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status().code(), kCancelled);
  EXPECT_EQ(results[1].status().code(), kDeadlineExceeded);
  EXPECT_EQ(hanging.started(), 1);
  EXPECT_TRUE(
      WaitUntil([&] { return hanging.cancelled() == 1; }, absl::Seconds(5)))
      << "the target never saw its call cancelled";
}

TEST_F(GrpcHealthTest, CallCancelReachesTheTargetServer) {
  HangingHealthServer hanging;
  v1::ExecuteRequest request;
  for (int i = 0; i < 20; ++i) {
    *request.add_tasks() = Health(absl::StrCat("127.0.0.1:", hanging.port()),
                                  {{"timeout", Num(30)}});
  }
  grpc::ClientContext context;
  GatherResponse response;
  grpc::Status status;
  std::atomic<bool> done{false};
  stub_->async()->Gather(&context, &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    done = true;
  });
  ASSERT_TRUE(
      WaitUntil([&] { return hanging.started() == 20; }, absl::Seconds(10)))
      << hanging.started();
  const absl::Time cancel = absl::Now();
  context.TryCancel();
  EXPECT_TRUE(
      WaitUntil([&] { return hanging.cancelled() == 20; }, absl::Seconds(5)))
      << hanging.cancelled() << " of 20 cancelled on the target";
  EXPECT_LT(absl::Now() - cancel, absl::Seconds(2));
  ASSERT_TRUE(WaitUntil([&] { return done.load(); }));
  EXPECT_EQ(status.error_code(), grpc::StatusCode::CANCELLED);
  EXPECT_TRUE(WaitUntil([&] {
    auto s = server_->executor().Stats();
    return s.inflight_tasks() == 0 && s.open_batches() == 0;
  }));
}

TEST_F(GrpcHealthTest, TimeoutReachesTheTargetServer) {
  HangingHealthServer hanging;
  auto r = One(Health(absl::StrCat("127.0.0.1:", hanging.port()),
                      {{"timeout", Num(0.3)}}));
  EXPECT_EQ(r.status().code(), kDeadlineExceeded) << r.status().message();
  EXPECT_EQ(hanging.started(), 1);
  EXPECT_TRUE(
      WaitUntil([&] { return hanging.cancelled() == 1; }, absl::Seconds(5)));
}

TEST_F(GrpcHealthTest, ManyChecksRunTogether) {
  const std::string target = absl::StrCat("127.0.0.1:", health_.port());
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 200; ++i) {
    tasks.push_back(
        Health(target, {{"service", Str(i % 2 ? "svc-up" : "svc-down")}}));
  }
  auto results = Gather(std::move(tasks));
  ASSERT_EQ(results.size(), 200u);
  for (int i = 0; i < 200; ++i) {
    ASSERT_EQ(results[i].status().code(), i % 2 ? 0 : kUnavailable) << i;
  }
}

TEST_F(GrpcHealthTest, RejectsBadArgsBeforeAnythingRuns) {
  struct Case {
    v1::Task task;
    std::string field;
  };
  std::vector<Case> cases = {
      {Health("127.0.0.1"), "args.target"},
      {Health("127.0.0.1:0"), "args.target"},
      {Health("127.0.0.1:70000"), "args.target"},
      {Health("::1:50051"), "args.target"},
      {Health("[127.0.0.1]:50051"), "args.target"},
      {Health("bad host:50051"), "args.target"},
      {Health(":50051"), "args.target"},
      {Health("127.0.0.1:50051", {{"timeout", Num(0)}}), "args.timeout"},
      {Health("127.0.0.1:50051", {{"timeout", Num(3601)}}), "args.timeout"},
      {Health("127.0.0.1:50051", {{"tls", Str("yes")}}), "args.tls"},
      {Health("127.0.0.1:50051", {{"service", Str(std::string(2000, 's'))}}),
       "args.service"},
  };
  for (auto& c : cases) {
    const std::string target =
        c.task.args().fields().at("target").string_value();
    grpc::Status call;
    Gather({std::move(c.task)}, v1::COLLECT_ALL, &call);
    EXPECT_EQ(call.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << target;
    EXPECT_NE(call.error_message().find("tasks[0]"), std::string::npos)
        << call.error_message();
    EXPECT_NE(call.error_message().find(c.field), std::string::npos)
        << call.error_message();
  }
}

TEST_F(GrpcHealthTest, ListTaskKindsDocumentsEveryArg) {
  grpc::ClientContext context;
  v1::ListTaskKindsRequest request;
  v1::ListTaskKindsResponse response;
  ASSERT_TRUE(stub_->ListTaskKinds(&context, request, &response).ok());
  std::map<std::string, std::vector<std::string>> args;
  for (const auto& kind : response.kinds()) {
    if (kind.name() != "grpc_health" && kind.name() != "dns") continue;
    EXPECT_FALSE(kind.description().empty());
    for (const auto& a : kind.args()) {
      args[kind.name()].push_back(a.name());
      EXPECT_FALSE(a.description().empty()) << kind.name() << "." << a.name();
    }
  }
  EXPECT_EQ(args["grpc_health"],
            (std::vector<std::string>{"target", "service", "timeout", "tls"}));
  EXPECT_EQ(args["dns"],
            (std::vector<std::string>{"name", "family", "timeout"}));
}

TEST(GrpcChannelCache, ReusesChannelsAndEvictsTheOldest) {
  GrpcChannelCache cache(2);
  int made = 0;
  auto make = [&] {
    ++made;
    return grpc::CreateChannel("127.0.0.1:1",
                               grpc::InsecureChannelCredentials());
  };
  auto a = cache.Get("a", make);
  EXPECT_EQ(cache.Get("a", make), a);
  cache.Get("b", make);
  cache.Get("a", make);  // now the most recently used
  cache.Get("c", make);  // evicts b
  EXPECT_EQ(made, 3);
  EXPECT_EQ(cache.size(), 2u);
  EXPECT_EQ(cache.Get("a", make), a);
  cache.Get("b", make);
  EXPECT_EQ(made, 4);
}

}  // namespace
}  // namespace batchexec
