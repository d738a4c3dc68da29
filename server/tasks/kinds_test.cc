#include "server/tasks/kinds.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/core/executor.h"
#include "server/test_util/recording_sink.h"
#include "server/test_util/values.h"

namespace batchexec {
namespace {

using ::batchexec::testing::Num;
using ::batchexec::testing::Str;

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

// Each kind registers itself from its own file (kinds.h): all of them must
// have been linked in and registered, once.
TEST(RegisterBuiltinKinds, RegistersEveryKindFileOnce) {
  TaskRegistry registry;
  ASSERT_TRUE(RegisterBuiltinKinds(registry).ok());
  std::vector<std::string> names;
  for (const TaskKind* kind : registry.List()) names.push_back(kind->name);
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, (std::vector<std::string>{"dns", "echo", "fail", "http",
                                             "primes", "sleep", "tcp_probe"}));
  // A second registry gets its own kinds; registering twice into one fails.
  TaskRegistry second;
  EXPECT_TRUE(RegisterBuiltinKinds(second).ok());
  EXPECT_FALSE(RegisterBuiltinKinds(second).ok());
}

// Batches of these kinds are kept as wire bytes (TaskList): echo alone
// returns its args, so it needs its task after its handler returned.
TEST(RegisterBuiltinKinds, EveryKindButEchoReadsItsTaskOnlyAtStart) {
  TaskRegistry registry;
  ASSERT_TRUE(RegisterBuiltinKinds(registry).ok());
  for (const TaskKind* kind : registry.List()) {
    EXPECT_EQ(kind->reads_task_only_at_start, kind->name != "echo")
        << kind->name;
  }
}

// A bad option fails registration with the kind's own message.
TEST(RegisterBuiltinKinds, BadDnsServersFailRegistration) {
  TaskRegistry registry;
  BuiltinKindsOptions options;
  options.dns_servers = "not an address";
  EXPECT_FALSE(RegisterBuiltinKinds(registry, options).ok());
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

// A listener whose accept queue is full and never drained: the kernel drops
// further SYNs, so connects to it hang until their timeout.
class Blackhole {
 public:
  Blackhole() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(fd_, 0);
    socklen_t len = sizeof a;
    getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    // Fill the backlog with connections nobody accepts.
    for (int i = 0; i < 4; ++i) {
      int c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
      connect(c, reinterpret_cast<sockaddr*>(&a), sizeof a);
      fillers_.push_back(c);
    }
  }
  ~Blackhole() {
    for (int c : fillers_) close(c);
    close(fd_);
  }
  int port() const { return port_; }

 private:
  int fd_;
  int port_;
  std::vector<int> fillers_;
};

// Runs one batch of tcp_probes to `port` with a timeout so short that it
// races the probe's own setup, and checks that nothing outlives the batch.
void RunRacingProbes(int port, int tasks) {
  TaskRegistry registry;
  ASSERT_TRUE(RegisterBuiltinKinds(registry).ok());
  ExecutorOptions options;
  options.cpu_workers = 1;
  Executor executor(options, registry);
  auto request = std::make_unique<v1::ExecuteRequest>();
  for (int i = 0; i < tasks; ++i) {
    v1::Task* task = request->add_tasks();
    task->set_kind("tcp_probe");
    auto& args = *task->mutable_args()->mutable_fields();
    args["host"] = Str("127.0.0.1");
    args["port"] = Num(port);
    args["timeout"] = Num(1e-6);
  }
  auto sink = std::make_shared<RecordingSink>();
  std::weak_ptr<Batch> weak_batch;
  {
    auto batch =
        executor.Start(std::move(request), absl::InfiniteFuture(), sink);
    ASSERT_TRUE(batch.ok()) << batch.status();
    weak_batch = *batch;
  }
  ASSERT_TRUE(sink->WaitDone());
  int failed = 0;
  for (const auto& r : sink->ByIndex()) {
    ASSERT_EQ(r.status().code(), 0) << r.status().message();
    const auto& f = r.output().struct_value().fields();
    if (f.at("reachable").bool_value()) continue;
    // Unreachable only because the timeout won, never a poller error.
    const std::string& error = f.at("error").string_value();
    if (error.find("no answer within") != 0 && ++failed <= 5) {
      ADD_FAILURE() << "unexpected probe error: " << error;
    }
  }
  EXPECT_EQ(failed, 0);
  // A leaked watch holds a task, and through it the batch and its request.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (!weak_batch.expired() && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  EXPECT_TRUE(weak_batch.expired()) << "a probe still holds the batch";
}

TEST(TcpProbeKind, TinyTimeoutsLeakNothingAgainstAListener) {
  Listener listener;
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    RunRacingProbes(listener.port(), 200);
    if (HasFailure()) break;
  }
}

TEST(TcpProbeKind, TinyTimeoutsLeakNothingAgainstABlackhole) {
  Blackhole blackhole;
  for (int round = 0; round < 20; ++round) {
    SCOPED_TRACE(round);
    RunRacingProbes(blackhole.port(), 200);
    if (HasFailure()) break;
  }
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

// IPv4 is stored as IPv4-mapped IPv6: an IPv6 rule must not reach it.
TEST(ProbeAllowlist, Ipv6RulesAdmitNoIpv4AndSaySoAtStart) {
  auto ip = [](const char* s) { return *IpAddress::Parse(s); };
  for (const char* spec : {"::/0", "::/8", "::/64", "::/80", "::ffff:0:0/95"}) {
    auto list = ProbeAllowlist::Parse(spec);
    ASSERT_TRUE(list.ok()) << list.status();
    for (const char* v4 : {"127.0.0.1", "169.254.169.254", "10.0.0.1",
                           "::ffff:127.0.0.1", "::ffff:169.254.169.254"}) {
      EXPECT_FALSE(list->Allows(ip(v4), 80)) << spec << " -> " << v4;
    }
    ASSERT_EQ(list->Warnings().size(), 1u) << spec;
    EXPECT_NE(list->Warnings()[0].find(spec), std::string::npos);
    EXPECT_NE(list->Warnings()[0].find("admits no IPv4"), std::string::npos);
  }
  auto any_v6 = ProbeAllowlist::Parse("::/0");
  EXPECT_TRUE(any_v6->Allows(ip("2001:db8::1"), 80));
  EXPECT_TRUE(any_v6->Allows(ip("::1"), 80));
  // Rules that do not span the mapped range say nothing.
  for (const char* spec : {"2001:db8::/32", "::1/128", "fe80::/10", "::/96",
                           "10.0.0.0/8", "0.0.0.0/0", "::ffff:0:0/96"}) {
    EXPECT_TRUE(ProbeAllowlist::Parse(spec)->Warnings().empty()) << spec;
  }
}

TEST(ProbeAllowlist, MappedRulesAndTargetsAreIpv4) {
  auto ip = [](const char* s) { return *IpAddress::Parse(s); };
  // A rule in mapped form (/96 or longer) is the IPv4 rule it maps.
  auto mapped = ProbeAllowlist::Parse("::ffff:10.0.0.0/104");
  ASSERT_TRUE(mapped.ok());
  EXPECT_TRUE(mapped->Allows(ip("10.9.8.7"), 1));
  EXPECT_TRUE(mapped->Allows(ip("::ffff:10.9.8.7"), 1));
  EXPECT_FALSE(mapped->Allows(ip("11.0.0.1"), 1));
  auto all_v4 = ProbeAllowlist::Parse("::ffff:0:0/96");
  EXPECT_TRUE(all_v4->Allows(ip("192.0.2.1"), 1));
  EXPECT_FALSE(all_v4->Allows(ip("2001:db8::1"), 1));
  // An IPv4 rule covers a mapped target: it reaches the IPv4 host.
  auto v4 = ProbeAllowlist::Parse("0.0.0.0/0");
  EXPECT_TRUE(v4->Allows(ip("::ffff:127.0.0.1"), 1));
  EXPECT_FALSE(v4->Allows(ip("::1"), 1));
  EXPECT_FALSE(v4->Allows(ip("2001:db8::1"), 1));
}

TEST(ProbeAllowlist, RejectsBadEntriesByName) {
  auto bad = ProbeAllowlist::Parse("127.0.0.1/40");
  EXPECT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("127.0.0.1/40"), std::string::npos);
  EXPECT_FALSE(ProbeAllowlist::Parse("example.com").ok());
}

TEST(ProbeAllowlist, RejectsPortZeroSayingHowToAllowEveryPort) {
  for (const char* spec :
       {"127.0.0.1:0", "[::1]:0", "10.0.0.1:80,10.0.0.2:0"}) {
    auto bad = ProbeAllowlist::Parse(spec);
    ASSERT_FALSE(bad.ok()) << spec;
    EXPECT_EQ(bad.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(bad.status().message().find("port 0"), std::string::npos)
        << bad.status();
    EXPECT_NE(bad.status().message().find("omit"), std::string::npos)
        << bad.status();
  }
}

TEST(ProbeAllowlist, DefaultAllowsLoopbackOnlyOnALoopbackServer) {
  auto ip = [](const char* s) { return *IpAddress::Parse(s); };
  for (const char* host : {"127.0.0.1", "127.1.2.3", "localhost", "[::1]",
                           "::1", "[::ffff:127.0.0.1]"}) {
    ProbeAllowlist list = ProbeAllowlist::DefaultFor(host);
    EXPECT_TRUE(list.Allows(ip("127.0.0.1"), 22)) << host;
    EXPECT_TRUE(list.Allows(ip("::1"), 22)) << host;
    EXPECT_FALSE(list.Allows(ip("192.0.2.1"), 22)) << host;
  }
  for (const char* host : {"0.0.0.0", "[::]", "::", "", "192.0.2.10",
                           "[2001:db8::1]", "server.example.com"}) {
    ProbeAllowlist list = ProbeAllowlist::DefaultFor(host);
    for (const char* target :
         {"127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1", "192.0.2.1"}) {
      EXPECT_FALSE(list.Allows(ip(target), 22)) << host << " -> " << target;
    }
  }
}

TEST(TcpProbeKind, DeniesLoopbackUnderTheDefaultOfAnExposedServer) {
  Listener listener;  // reachable: only the allowlist can refuse it
  BuiltinKindsOptions kinds;
  kinds.probe_allowlist = ProbeAllowlist::DefaultFor("0.0.0.0");
  auto r = RunOne("tcp_probe",
                  {{"host", Str("127.0.0.1")}, {"port", Num(listener.port())}},
                  kinds);
  EXPECT_EQ(r.status().code(),
            static_cast<int>(absl::StatusCode::kPermissionDenied));
  EXPECT_NE(r.status().message().find("--probe_allowlist"), std::string::npos)
      << r.status().message();
}

}  // namespace
}  // namespace batchexec
