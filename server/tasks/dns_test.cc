// The dns kind against a real DNS server the test starts on loopback
// (server/test_util/dns_responder.h), through the executor: no gRPC.
#include <dirent.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/mutex.h"
#include "gtest/gtest.h"
#include "server/core/executor.h"
#include "server/tasks/dns_allowlist.h"
#include "server/tasks/dns_resolver.h"
#include "server/tasks/kinds.h"
#include "server/test_util/dns_responder.h"
#include "server/test_util/recording_sink.h"
#include "server/test_util/values.h"

namespace batchexec {
namespace {

using ::batchexec::testing::Num;
using ::batchexec::testing::Str;

using ::batchexec::testing::DnsResponder;
using ::batchexec::testing::DnsZone;

v1::Task Dns(const std::string& name,
             std::map<std::string, google::protobuf::Value> more = {}) {
  v1::Task t;
  t.set_kind("dns");
  auto& f = *t.mutable_args()->mutable_fields();
  f["name"] = Str(name);
  for (auto& [k, v] : more) f[k] = v;
  return t;
}

std::vector<std::string> Addresses(const v1::TaskResult& r) {
  std::vector<std::string> out;
  auto it = r.output().struct_value().fields().find("addresses");
  if (it == r.output().struct_value().fields().end()) return out;
  for (const auto& v : it->second.list_value().values()) {
    out.push_back(v.string_value());
  }
  return out;
}

// A UDP port nothing listens on: queries to it are refused at once.
int ClosedUdpPort() {
  int fd = socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

// Waits a little for the descriptors to fall back to `n`: a cancelled
// task's cleanup runs just after its result is reported.
bool FdsBackTo(int n);

int OpenFds() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d) != nullptr) ++n;
    closedir(d);
  }
  return n;
}

bool FdsBackTo(int n) {
  const absl::Time give_up = absl::Now() + absl::Seconds(1);
  while (OpenFds() != n && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  return OpenFds() == n;
}

// The names the responder knows. RFC 6761 reserves .test for this.
DnsZone TestZone() {
  DnsZone zone;
  zone.addresses["svc-a.batchexec.test"] = {"192.0.2.10", "2001:db8::10"};
  zone.addresses["v4only.batchexec.test"] = {"192.0.2.11"};
  zone.addresses["slow.batchexec.test"] = {"192.0.2.12"};
  zone.slow = {"slow.batchexec.test"};
  zone.delay = absl::Milliseconds(300);
  zone.silent = {"silent.batchexec.test"};
  zone.servfail = {"broken.batchexec.test"};
  return zone;
}

class DnsKindTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto responder = DnsResponder::Start(TestZone());
    ASSERT_TRUE(responder.ok()) << responder.status();
    responder_ = *std::move(responder);
    UseServers(responder_->address());
  }

  void UseServers(const std::string& servers,
                  DnsAllowlist allowlist = DnsAllowlist()) {
    executor_.reset();
    registry_ = std::make_unique<TaskRegistry>();
    BuiltinKindsOptions kinds;
    kinds.dns_servers = servers;
    kinds.dns_allowlist = std::move(allowlist);
    ASSERT_TRUE(RegisterBuiltinKinds(*registry_, kinds).ok());
    ExecutorOptions options;
    options.cpu_workers = 1;
    executor_ = std::make_unique<Executor>(options, *registry_);
  }

  std::vector<v1::TaskResult> Run(std::vector<v1::Task> tasks,
                                  v1::FailurePolicy policy = v1::COLLECT_ALL) {
    auto request = std::make_unique<v1::ExecuteRequest>();
    for (auto& t : tasks) *request->add_tasks() = std::move(t);
    request->set_failure_policy(policy);
    auto sink = std::make_shared<RecordingSink>();
    auto batch =
        executor_->Start(std::move(request), absl::InfiniteFuture(), sink);
    EXPECT_TRUE(batch.ok()) << batch.status();
    if (!batch.ok()) return {};
    EXPECT_TRUE(sink->WaitDone());
    return sink->ByIndex();
  }
  v1::TaskResult RunOne(v1::Task task) { return Run({std::move(task)}).at(0); }

  absl::Status Rejection(v1::Task task) {
    auto request = std::make_unique<v1::ExecuteRequest>();
    *request->add_tasks() = std::move(task);
    auto batch = executor_->Start(std::move(request), absl::InfiniteFuture(),
                                  std::make_shared<RecordingSink>());
    return batch.status();
  }

  std::unique_ptr<DnsResponder> responder_;
  std::unique_ptr<TaskRegistry> registry_;
  std::unique_ptr<Executor> executor_;
};

constexpr int kOk = 0;
constexpr int kCancelled = static_cast<int>(absl::StatusCode::kCancelled);
constexpr int kDeadlineExceeded =
    static_cast<int>(absl::StatusCode::kDeadlineExceeded);
constexpr int kNotFound = static_cast<int>(absl::StatusCode::kNotFound);
constexpr int kUnavailable = static_cast<int>(absl::StatusCode::kUnavailable);

TEST_F(DnsKindTest, FindsANameOnTheResolverWithBothFamilies) {
  auto r = RunOne(Dns("svc-a.batchexec.test"));
  ASSERT_EQ(r.status().code(), kOk) << r.status().message();
  auto found = Addresses(r);
  std::sort(found.begin(), found.end());
  EXPECT_EQ(found, (std::vector<std::string>{"192.0.2.10", "2001:db8::10"}));
  EXPECT_GE(r.output().struct_value().fields().at("latency_ms").number_value(),
            0);
}

TEST_F(DnsKindTest, FamilyPicksARecordsOrAaaaRecords) {
  auto v4 = RunOne(Dns("svc-a.batchexec.test", {{"family", Str("ipv4")}}));
  ASSERT_EQ(v4.status().code(), kOk) << v4.status().message();
  EXPECT_EQ(Addresses(v4), std::vector<std::string>{"192.0.2.10"});
  auto v6 = RunOne(Dns("svc-a.batchexec.test", {{"family", Str("ipv6")}}));
  ASSERT_EQ(v6.status().code(), kOk) << v6.status().message();
  EXPECT_EQ(Addresses(v6), std::vector<std::string>{"2001:db8::10"});
}

TEST_F(DnsKindTest, NoSuchNameIsNotFound) {
  auto r = RunOne(Dns("no-such-host.invalid"));
  EXPECT_EQ(r.status().code(), kNotFound) << r.status().message();
  EXPECT_NE(r.status().message().find("no-such-host.invalid"),
            std::string::npos)
      << r.status().message();
  // The name exists, but has no address of the family asked for.
  auto v6 = RunOne(Dns("v4only.batchexec.test", {{"family", Str("ipv6")}}));
  EXPECT_EQ(v6.status().code(), kNotFound) << v6.status().message();
}

TEST_F(DnsKindTest, HostsFileAnswersBeforeDns) {
  // No resolver listens: only the hosts file can answer.
  UseServers(absl::StrCat("127.0.0.1:", ClosedUdpPort()));
  auto r = RunOne(Dns("localhost", {{"family", Str("ipv4")}}));
  ASSERT_EQ(r.status().code(), kOk) << r.status().message();
  EXPECT_EQ(Addresses(r), std::vector<std::string>{"127.0.0.1"});
  auto numeric = RunOne(Dns("192.0.2.99"));
  ASSERT_EQ(numeric.status().code(), kOk) << numeric.status().message();
  EXPECT_EQ(Addresses(numeric), std::vector<std::string>{"192.0.2.99"});
  auto mismatch = RunOne(Dns("192.0.2.99", {{"family", Str("ipv6")}}));
  EXPECT_EQ(mismatch.status().code(), kNotFound);
}

TEST_F(DnsKindTest, UnreachableResolverIsUnavailable) {
  UseServers(absl::StrCat("127.0.0.1:", ClosedUdpPort()));
  const absl::Time start = absl::Now();
  auto r = RunOne(Dns("svc-a.batchexec.test", {{"timeout", Num(2)}}));
  EXPECT_EQ(r.status().code(), kUnavailable) << r.status().message();
  // Refused, not waited out to the timeout.
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(DnsKindTest, FailingResolverIsUnavailable) {
  auto r = RunOne(Dns("broken.batchexec.test"));
  EXPECT_EQ(r.status().code(), kUnavailable) << r.status().message();
}

TEST_F(DnsKindTest, SilentResolverEndsAtTheTimeoutAfterRetrying) {
  const absl::Time start = absl::Now();
  auto r = RunOne(Dns("silent.batchexec.test",
                      {{"timeout", Num(0.8)}, {"family", Str("ipv4")}}));
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(r.status().code(), kDeadlineExceeded) << r.status().message();
  EXPECT_GE(took, absl::Milliseconds(790));
  EXPECT_LT(took, absl::Milliseconds(1500));
  // c-ares retransmitted (tries of timeout/4) before the deadline.
  EXPECT_GE(responder_->queries_for("silent.batchexec.test"), 2);
}

TEST_F(DnsKindTest, FailFastStopsTheQueryInFlightAtOnce) {
  const int fds_before = OpenFds();
  v1::Task fail;
  fail.set_kind("fail");
  (*fail.mutable_args()->mutable_fields())["code"] = Num(14);
  // The lookup's query is on the wire before the fail task runs.
  const absl::Time start = absl::Now();
  // One query (A only), so the responder's count shows any retry.
  auto results = Run({Dns("silent.batchexec.test",
                          {{"timeout", Num(30)}, {"family", Str("ipv4")}}),
                      std::move(fail)},
                     v1::FAIL_FAST);
  ASSERT_EQ(results.size(), 2u);
  EXPECT_EQ(results[0].status().code(), kCancelled)
      << results[0].status().message();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  // The lookup's socket is closed: nothing is left asking.
  EXPECT_TRUE(FdsBackTo(fds_before)) << OpenFds() << " vs " << fds_before;
  // The responder saw the one query (it may read it after the batch ended),
  // and no retry follows.
  const absl::Time give_up = absl::Now() + absl::Seconds(2);
  while (responder_->queries_for("silent.batchexec.test") == 0 &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  absl::SleepFor(absl::Milliseconds(300));
  EXPECT_EQ(responder_->queries_for("silent.batchexec.test"), 1);
}

TEST_F(DnsKindTest, TaskTimeoutStopsTheQueryAndFreesTheSlot) {
  const int fds_before = OpenFds();
  auto request = std::make_unique<v1::ExecuteRequest>();
  *request->add_tasks() = Dns("silent.batchexec.test", {{"timeout", Num(30)}});
  *request->add_tasks() = Dns("svc-a.batchexec.test");
  request->set_max_concurrency(1);  // the second waits for the first's slot
  request->set_failure_policy(v1::COLLECT_ALL);
  request->mutable_task_timeout()->set_nanos(200'000'000);
  auto sink = std::make_shared<RecordingSink>();
  const absl::Time start = absl::Now();
  ASSERT_TRUE(
      executor_->Start(std::move(request), absl::InfiniteFuture(), sink).ok());
  ASSERT_TRUE(sink->WaitDone());
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
  auto results = sink->ByIndex();
  EXPECT_EQ(results[0].status().code(), kDeadlineExceeded);
  EXPECT_EQ(results[1].status().code(), kOk) << results[1].status().message();
  EXPECT_TRUE(FdsBackTo(fds_before)) << OpenFds() << " vs " << fds_before;
}

TEST_F(DnsKindTest, TwoHundredSlowLookupsTakeAboutOneLookupsTime) {
  std::vector<v1::Task> tasks;
  for (int i = 0; i < 200; ++i) tasks.push_back(Dns("slow.batchexec.test"));
  const absl::Time start = absl::Now();
  auto results = Run(std::move(tasks));
  const absl::Duration took = absl::Now() - start;
  ASSERT_EQ(results.size(), 200u);
  for (const auto& r : results) {
    ASSERT_EQ(r.status().code(), kOk) << r.status().message();
    ASSERT_EQ(Addresses(r), std::vector<std::string>{"192.0.2.12"});
  }
  // One answer takes 300 ms; one after the other would take 60 s.
  EXPECT_LT(took, absl::Seconds(3)) << took;
}

TEST_F(DnsKindTest, RejectsBadArgsBeforeAnythingRuns) {
  struct Case {
    v1::Task task;
    std::string field;
  };
  const std::string label64(64, 'a');
  std::string long_name;
  while (long_name.size() <= 253) long_name += "abcdefghi.";
  long_name += "test";
  std::vector<Case> cases = {
      {Dns(""), "args.name"},
      {Dns(long_name), "args.name"},
      {Dns(label64 + ".test"), "args.name"},
      {Dns("a..b"), "args.name"},
      {Dns("bad name"), "args.name"},
      {Dns("x.test", {{"family", Str("ipv5")}}), "args.family"},
      {Dns("x.test", {{"timeout", Num(0)}}), "args.timeout"},
      {Dns("x.test", {{"timeout", Num(3601)}}), "args.timeout"},
      {Dns("x.test", {{"port", Num(53)}}), "port"},
  };
  for (auto& c : cases) {
    const std::string name =
        c.task.args().fields().at("name").string_value().substr(0, 20);
    absl::Status s = Rejection(std::move(c.task));
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << name;
    EXPECT_NE(s.message().find("tasks[0]"), std::string::npos) << s;
    EXPECT_NE(s.message().find(c.field), std::string::npos) << s;
  }
  EXPECT_EQ(responder_->queries(), 0);
}

TEST_F(DnsKindTest, ListTaskKindsDocumentsEveryArg) {
  const TaskKind* kind = registry_->Find("dns");
  ASSERT_NE(kind, nullptr);
  EXPECT_FALSE(kind->description.empty());
  std::vector<std::string> names;
  for (const ArgSpec& a : kind->args) {
    names.push_back(a.name);
    EXPECT_FALSE(a.description.empty()) << a.name;
  }
  EXPECT_EQ(names, (std::vector<std::string>{"name", "family", "timeout"}));
}

TEST_F(DnsKindTest, ThousandsOfConcurrentLookupsHoldAConstantFewDescriptors) {
  constexpr int kLookups = 2000;
  const int fds_before = OpenFds();
  std::atomic<bool> done{false};
  std::atomic<int> most{0};
  std::thread sampler([&] {
    while (!done) {
      const int n = OpenFds();
      if (n > most) most = n;
      absl::SleepFor(absl::Milliseconds(2));
    }
  });
  std::vector<v1::Task> tasks;
  for (int i = 0; i < kLookups; ++i) {
    // Answered after 300 ms, so thousands are in flight at once.
    tasks.push_back(Dns("slow.batchexec.test", {{"timeout", Num(30)}}));
  }
  auto results = Run(std::move(tasks));
  done = true;
  sampler.join();
  ASSERT_EQ(results.size(), static_cast<size_t>(kLookups));
  for (const auto& r : results) {
    ASSERT_EQ(r.status().code(), kOk) << r.status().message();
    ASSERT_EQ(Addresses(r), std::vector<std::string>{"192.0.2.12"});
  }
  // One UDP socket (the channel's, to the one server), and the sampler's
  // own directory handle: not a socket per lookup.
  EXPECT_LE(most - fds_before, 3) << most << " vs " << fds_before;
  EXPECT_GT(most - fds_before, 0);  // the sampler saw the lookups run
  EXPECT_TRUE(FdsBackTo(fds_before)) << OpenFds() << " vs " << fds_before;
}

TEST_F(DnsKindTest, AllowlistRefusesOtherNamesWithoutAsking) {
  auto allowlist = DnsAllowlist::Parse("batchexec.test");
  ASSERT_TRUE(allowlist.ok());
  UseServers(responder_->address(), *allowlist);
  auto ok = RunOne(Dns("svc-a.batchexec.test", {{"family", Str("ipv4")}}));
  EXPECT_EQ(ok.status().code(), kOk) << ok.status().message();
  for (const char* name : {"other.example", "batchexec.test.evil.example",
                           "notbatchexec.test", "localhost"}) {
    auto r = RunOne(Dns(name));
    EXPECT_EQ(r.status().code(),
              static_cast<int>(absl::StatusCode::kPermissionDenied))
        << name << ": " << r.status().message();
    EXPECT_NE(r.status().message().find("--dns_allowlist"), std::string::npos)
        << r.status().message();
    EXPECT_EQ(responder_->queries_for(name), 0) << name;
  }
  // A numeric address needs no lookup and passes.
  EXPECT_EQ(RunOne(Dns("192.0.2.1")).status().code(), kOk);
  EXPECT_NE(registry_->Find("dns")->description.find("--dns_allowlist"),
            std::string::npos);
}

// Resolver-level: lookups sharing a channel, half of them cancelled.
class DnsResolverTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto responder = DnsResponder::Start(TestZone());
    ASSERT_TRUE(responder.ok()) << responder.status();
    responder_ = *std::move(responder);
    auto resolver = DnsResolver::Create({responder_->address()});
    ASSERT_TRUE(resolver.ok()) << resolver.status();
    resolver_ = *std::move(resolver);
  }
  std::unique_ptr<DnsResponder> responder_;
  std::unique_ptr<DnsResolver> resolver_;
};

TEST_F(DnsResolverTest, CancellingHalfTheLookupsLeavesTheOtherHalfAnswered) {
  constexpr int kLookups = 400;  // over kMaxDnsLookupsPerChannel: some wait
  Mutex mu;
  int answered = 0;
  int wrong = 0;
  int cancelled_called = 0;
  std::vector<std::shared_ptr<DnsResolver::Lookup>> lookups;
  for (int i = 0; i < kLookups; ++i) {
    const bool cancel = i % 2 == 0;
    lookups.push_back(resolver_->Resolve(
        "slow.batchexec.test", AddressFamily::kIpv4, absl::Seconds(30),
        [&, cancel](absl::StatusOr<std::vector<IpAddress>> found) {
          MutexLock lock(&mu);
          if (cancel) {
            ++cancelled_called;
          } else if (found.ok() && found->size() == 1 &&
                     (*found)[0].ToString() == "192.0.2.12") {
            ++answered;
          } else {
            ++wrong;
          }
        }));
  }
  for (int i = 0; i < kLookups; i += 2) lookups[i]->Cancel();
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (absl::Now() < give_up) {
    {
      MutexLock lock(&mu);
      if (answered + wrong == kLookups / 2) break;
    }
    absl::SleepFor(absl::Milliseconds(10));
  }
  MutexLock lock(&mu);
  EXPECT_EQ(answered, kLookups / 2);
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(cancelled_called, 0);
  EXPECT_EQ(resolver_->active_lookups(), 0u);
}

TEST_F(DnsResolverTest, CancellingEveryLookupStopsTheirQueriesAtOnce) {
  std::vector<std::shared_ptr<DnsResolver::Lookup>> lookups;
  for (int i = 0; i < 10; ++i) {
    lookups.push_back(resolver_->Resolve(
        "silent.batchexec.test", AddressFamily::kIpv4, absl::Seconds(30),
        [](absl::StatusOr<std::vector<IpAddress>>) { ADD_FAILURE(); }));
  }
  EXPECT_EQ(resolver_->queries_in_flight(), 10u);
  for (int i = 0; i < 9; ++i) lookups[i]->Cancel();
  // Abandoned, not stopped: the tenth still rides the channel.
  EXPECT_EQ(resolver_->queries_in_flight(), 10u);
  EXPECT_EQ(resolver_->active_lookups(), 1u);
  lookups[9]->Cancel();
  lookups[9]->Cancel();  // idempotent
  EXPECT_EQ(resolver_->queries_in_flight(), 0u);
  EXPECT_EQ(resolver_->active_lookups(), 0u);
}

TEST_F(DnsResolverTest, DestroyingTheResolverDropsLookupsInFlight) {
  std::vector<std::shared_ptr<DnsResolver::Lookup>> lookups;
  for (int i = 0; i < 300; ++i) {  // some in c-ares, some waiting
    lookups.push_back(resolver_->Resolve(
        "silent.batchexec.test", AddressFamily::kAny, absl::Seconds(30),
        [](absl::StatusOr<std::vector<IpAddress>>) { ADD_FAILURE(); }));
  }
  lookups[0]->Cancel();  // one abandoned
  resolver_.reset();     // no callback, no timer or watch left behind
}

TEST(DnsResolver, RejectsAServerListThatDoesNotParse) {
  auto resolver = DnsResolver::Create({"not an address"});
  EXPECT_EQ(resolver.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace batchexec
