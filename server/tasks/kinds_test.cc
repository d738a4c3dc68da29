#include "server/tasks/kinds.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/executor.h"
#include "server/test_util/recording_sink.h"

namespace batchexec {
namespace {

v1::TaskResult RunOne(const std::string& kind,
                      std::map<std::string, google::protobuf::Value> args,
                      BuiltinKindsOptions kinds = {}) {
  TaskRegistry registry;
  EXPECT_TRUE(RegisterBuiltinKinds(registry, kinds).ok());
  ExecutorOptions options;
  options.cpu_workers = 1;
  Executor executor(options, registry);
  auto request = std::make_unique<v1::ExecuteRequest>();
  v1::Task* task = request->add_tasks();
  task->set_kind(kind);
  for (auto& [k, v] : args) (*task->mutable_args()->mutable_fields())[k] = v;
  auto sink = std::make_shared<RecordingSink>();
  auto batch = executor.Start(std::move(request), absl::InfiniteFuture(), sink);
  EXPECT_TRUE(batch.ok()) << batch.status();
  if (!batch.ok()) return {};
  EXPECT_TRUE(sink->WaitDone());
  return sink->ByIndex().at(0);
}

google::protobuf::Value Num(double d) {
  google::protobuf::Value v;
  v.set_number_value(d);
  return v;
}
google::protobuf::Value Str(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  return v;
}
double Field(const v1::TaskResult& r, const std::string& name) {
  return r.output().struct_value().fields().at(name).number_value();
}

TEST(EchoKind, ReturnsItsArgs) {
  auto r = RunOne("echo", {{"x", Num(1)}, {"s", Str("hi")}});
  EXPECT_EQ(r.status().code(), 0);
  EXPECT_EQ(Field(r, "x"), 1);
  EXPECT_EQ(r.output().struct_value().fields().at("s").string_value(), "hi");
}

TEST(SleepKind, WaitsOnATimer) {
  const absl::Time start = absl::Now();
  auto r = RunOne("sleep", {{"seconds", Num(0.2)}});
  EXPECT_EQ(r.status().code(), 0);
  EXPECT_GE(absl::Now() - start, absl::Milliseconds(190));
  EXPECT_EQ(r.output().number_value(), 0.2);
}

TEST(FailKind, EndsWithTheStatusAskedFor) {
  auto r = RunOne("fail", {{"code", Num(5)}, {"message", Str("gone")}});
  EXPECT_EQ(r.status().code(), 5);
  EXPECT_EQ(r.status().message(), "gone");
}

TEST(PrimesKind, CountsPrimesOnTheCpuPool) {
  auto r = RunOne("primes", {{"n", Num(100000)}});
  EXPECT_EQ(r.status().code(), 0);
  EXPECT_EQ(Field(r, "count"), 9592);
}

// A listening socket on loopback for tcp_probe to find.
class Listener {
 public:
  Listener() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 16);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
  }
  ~Listener() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
};

TEST(TcpProbeKind, ReachesAListeningLoopbackPort) {
  Listener listener;
  auto r = RunOne("tcp_probe",
                  {{"host", Str("127.0.0.1")}, {"port", Num(listener.port())}});
  EXPECT_EQ(r.status().code(), 0) << r.status().message();
  EXPECT_TRUE(r.output().struct_value().fields().at("reachable").bool_value());
  EXPECT_GE(Field(r, "latency_ms"), 0);
}

TEST(TcpProbeKind, ReportsAClosedPortAsUnreachable) {
  int port;
  {
    Listener listener;
    port = listener.port();
  }  // closed again: connecting is refused
  auto r =
      RunOne("tcp_probe", {{"host", Str("localhost")}, {"port", Num(port)}});
  EXPECT_EQ(r.status().code(), 0);
  EXPECT_FALSE(r.output().struct_value().fields().at("reachable").bool_value());
  EXPECT_FALSE(
      r.output().struct_value().fields().at("error").string_value().empty());
}

TEST(TcpProbeKind, RefusesTargetsOffTheAllowlist) {
  // Documentation ranges (RFC 5737 / 3849): never routed, never contacted.
  for (const char* host : {"192.0.2.1", "198.51.100.7", "2001:db8::1"}) {
    auto r = RunOne("tcp_probe", {{"host", Str(host)}, {"port", Num(80)}});
    EXPECT_EQ(r.status().code(),
              static_cast<int>(absl::StatusCode::kPermissionDenied))
        << host;
    EXPECT_NE(r.status().message().find("allowlist"), std::string::npos);
  }
}

TEST(TcpProbeKind, AllowlistCanNameOnePort) {
  Listener listener;
  BuiltinKindsOptions kinds;
  kinds.probe_allowlist =
      *ProbeAllowlist::Parse(absl::StrCat("127.0.0.1:", listener.port()));
  auto ok = RunOne("tcp_probe",
                   {{"host", Str("127.0.0.1")}, {"port", Num(listener.port())}},
                   kinds);
  EXPECT_EQ(ok.status().code(), 0);
  auto denied = RunOne(
      "tcp_probe",
      {{"host", Str("127.0.0.1")}, {"port", Num(listener.port() == 1 ? 2 : 1)}},
      kinds);
  EXPECT_EQ(denied.status().code(),
            static_cast<int>(absl::StatusCode::kPermissionDenied));
}

TEST(ProbeAllowlist, ParsesCidrsAndPorts) {
  auto list =
      ProbeAllowlist::Parse("10.0.0.0/8, 192.0.2.5:443, [::1]:80, fe80::/10");
  ASSERT_TRUE(list.ok()) << list.status();
  auto ip = [](const char* s) { return *IpAddress::Parse(s); };
  EXPECT_TRUE(list->Allows(ip("10.1.2.3"), 1));
  EXPECT_FALSE(list->Allows(ip("11.1.2.3"), 1));
  EXPECT_TRUE(list->Allows(ip("192.0.2.5"), 443));
  EXPECT_FALSE(list->Allows(ip("192.0.2.5"), 444));
  EXPECT_TRUE(list->Allows(ip("::1"), 80));
  EXPECT_FALSE(list->Allows(ip("::1"), 81));
  EXPECT_TRUE(list->Allows(ip("fe80::1"), 9));
  EXPECT_FALSE(ProbeAllowlist::LoopbackOnly().Allows(ip("192.0.2.1"), 80));
  EXPECT_TRUE(ProbeAllowlist::LoopbackOnly().Allows(ip("127.8.9.10"), 80));
}

TEST(ProbeAllowlist, RejectsBadEntriesByName) {
  auto bad = ProbeAllowlist::Parse("127.0.0.1/40");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("127.0.0.1/40"), std::string::npos);
  EXPECT_FALSE(ProbeAllowlist::Parse("example.com").ok());
}

}  // namespace
}  // namespace batchexec
