// End-to-end tests of the server through the generated stubs: a real server
// on a loopback port, real clients, real timers.
#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/rpc/builtin_server.h"
#include "tests/wait_until.h"

namespace batchexec {
namespace {

using v1::ExecuteEvent;
using v1::ExecuteRequest;
using v1::GatherResponse;

v1::Task Task(const std::string& kind,
              std::map<std::string, double> numbers = {}) {
  v1::Task t;
  t.set_kind(kind);
  for (auto& [k, v] : numbers) {
    (*t.mutable_args()->mutable_fields())[k].set_number_value(v);
  }
  return t;
}
v1::Task Sleep(double s) { return Task("sleep", {{"seconds", s}}); }

ExecuteRequest Batch(std::vector<v1::Task> tasks, uint32_t max_concurrency = 0,
                     v1::FailurePolicy policy = v1::FAIL_FAST) {
  ExecuteRequest r;
  for (auto& t : tasks) *r.add_tasks() = std::move(t);
  r.set_max_concurrency(max_concurrency);
  r.set_failure_policy(policy);
  return r;
}

class ServerTest : public ::testing::Test {
 protected:
  void StartServer(ExecutorOptions executor = {}) {
    ServerOptions options;
    options.executor = executor;
    options.executor.cpu_workers = 1;
    auto server = StartBuiltinServer(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel(server_->target(),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::BatchExecutor::NewStub(channel_);
  }
  void SetUp() override { StartServer(); }

  grpc::Status Gather(const ExecuteRequest& req, GatherResponse* resp,
                      absl::Duration deadline = absl::Seconds(60)) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + deadline));
    return stub_->Gather(&ctx, req, resp);
  }

  // Reads a whole Execute stream.
  grpc::Status Execute(const ExecuteRequest& req,
                       std::vector<ExecuteEvent>* events) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(120)));
    auto reader = stub_->Execute(&ctx, req);
    ExecuteEvent e;
    while (reader->Read(&e)) events->push_back(e);
    return reader->Finish();
  }

  // Waits until the server runs no task; false on timeout.
  bool WaitNoInflight() {
    return WaitUntil([&] {
      auto s = server_->executor().Stats();
      return s.inflight_tasks() == 0 && s.open_batches() == 0;
    });
  }

  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::BatchExecutor::Stub> stub_;
};

TEST_F(ServerTest, GatherReturnsResultsInRequestOrder) {
  GatherResponse resp;
  ASSERT_TRUE(
      Gather(Batch({Sleep(0.3), Sleep(0.2), Sleep(0.1), Task("echo")}), &resp)
          .ok());
  ASSERT_EQ(resp.results_size(), 4);
  for (int i = 0; i < 4; ++i) {
    EXPECT_EQ(resp.results(i).index(), static_cast<uint32_t>(i));
    EXPECT_EQ(resp.results(i).status().code(), 0);
  }
  // Finished in reverse: the first task ended last.
  EXPECT_GT(absl::Seconds(resp.results(0).finished_after().seconds()) +
                absl::Nanoseconds(resp.results(0).finished_after().nanos()),
            absl::Seconds(resp.results(2).finished_after().seconds()) +
                absl::Nanoseconds(resp.results(2).finished_after().nanos()));
  EXPECT_EQ(resp.summary().succeeded(), 4u);
}

TEST_F(ServerTest, ExecuteStreamsAcceptedResultsInCompletionOrderThenSummary) {
  std::vector<ExecuteEvent> events;
  ASSERT_TRUE(
      Execute(Batch({Sleep(0.3), Sleep(0.1), Sleep(0.2)}), &events).ok());
  ASSERT_GE(events.size(), 3u);
  EXPECT_TRUE(events.front().has_accepted());
  EXPECT_EQ(events.front().accepted().task_count(), 3u);
  EXPECT_FALSE(events.front().accepted().batch_id().empty());
  EXPECT_TRUE(events.back().has_summary());
  std::vector<uint32_t> order;
  for (const auto& e : events) {
    for (const auto& r : e.results().results()) order.push_back(r.index());
  }
  EXPECT_EQ(order, (std::vector<uint32_t>{1, 2, 0}));
  EXPECT_EQ(events.back().summary().succeeded(), 3u);
}

TEST_F(ServerTest, BatchTakesAsLongAsItsSlowestTaskNotTheSum) {
  const absl::Time start = absl::Now();
  GatherResponse resp;
  ASSERT_TRUE(Gather(Batch({Sleep(2.0), Sleep(3.0), Sleep(1.0)}), &resp).ok());
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Seconds(2.95));
  EXPECT_LT(took, absl::Seconds(5));  // one by one: 6 s
}

TEST_F(ServerTest, MaxConcurrencyBoundsTheBatch) {
  std::vector<v1::Task> tasks(200, Sleep(0.05));
  const absl::Time start = absl::Now();
  GatherResponse resp;
  ASSERT_TRUE(Gather(Batch(tasks, 10), &resp).ok());
  // 200 tasks / 10 at a time * 50 ms = 1 s at least.
  EXPECT_GE(absl::Now() - start, absl::Seconds(0.99));
  EXPECT_EQ(resp.summary().succeeded(), 200u);
}

TEST_F(ServerTest, FailFastCancelsSiblingsPromptly) {
  auto fail = Task("fail");
  auto delayed_fail = Batch({Sleep(10), Sleep(10), Sleep(0.2)});
  // Task 2 fails after 0.2 s: a sleep with a 0.2 s timeout.
  delayed_fail.mutable_tasks(2)
      ->mutable_args()
      ->mutable_fields()
      ->at("seconds")
      .set_number_value(10);
  delayed_fail.mutable_tasks(2)->mutable_timeout()->set_nanos(200'000'000);
  GatherResponse resp;
  const absl::Time start = absl::Now();
  ASSERT_TRUE(Gather(delayed_fail, &resp).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  EXPECT_EQ(resp.results(2).status().code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  auto ms = [](const google::protobuf::Duration& d) {
    return d.seconds() * 1000 + d.nanos() / 1'000'000;
  };
  for (int i : {0, 1}) {
    EXPECT_EQ(resp.results(i).status().code(), grpc::StatusCode::CANCELLED);
    EXPECT_LE(ms(resp.results(i).finished_after()),
              ms(resp.results(2).finished_after()) + 100);
  }
  EXPECT_EQ(resp.summary().outcome().code(),
            grpc::StatusCode::DEADLINE_EXCEEDED);
  EXPECT_NE(resp.summary().outcome().message().find("task 2"),
            std::string::npos);
}

TEST_F(ServerTest, CollectAllKeepsGoingAfterAFailure) {
  GatherResponse resp;
  ASSERT_TRUE(
      Gather(Batch({Task("fail", {{"code", 9}}), Sleep(0.2), Task("echo")}, 0,
                   v1::COLLECT_ALL),
             &resp)
          .ok());
  EXPECT_EQ(resp.results(0).status().code(), 9);
  EXPECT_EQ(resp.results(1).status().code(), 0);
  EXPECT_EQ(resp.results(2).status().code(), 0);
  EXPECT_EQ(resp.summary().succeeded(), 2u);
}

TEST_F(ServerTest, BadRequestsAreRejectedWholeWithTheirCodeAndReason) {
  struct Case {
    ExecuteRequest request;
    grpc::StatusCode code;
    std::string message;
  };
  std::vector<Case> cases;
  cases.push_back({Batch({Task("echo"), Task("")}), grpc::INVALID_ARGUMENT,
                   "tasks[1]: kind must not be empty"});
  cases.push_back({Batch({Task("teleport")}), grpc::INVALID_ARGUMENT,
                   "tasks[0]: unknown kind 'teleport'"});
  cases.push_back({Batch({Task("echo"), Task("sleep")}), grpc::INVALID_ARGUMENT,
                   "tasks[1]: args.seconds is required"});
  cases.push_back({Batch({Sleep(-1)}), grpc::INVALID_ARGUMENT,
                   "tasks[0]: args.seconds must be between 0"});
  auto negative = Batch({Sleep(1)});
  negative.mutable_task_timeout()->set_seconds(-2);
  cases.push_back(
      {negative, grpc::INVALID_ARGUMENT, "task_timeout must not be negative"});
  for (const auto& c : cases) {
    GatherResponse resp;
    grpc::Status s = Gather(c.request, &resp);
    EXPECT_EQ(s.error_code(), c.code) << c.message;
    EXPECT_NE(s.error_message().find(c.message), std::string::npos)
        << s.error_message();
    std::vector<ExecuteEvent> events;
    s = Execute(c.request, &events);
    EXPECT_EQ(s.error_code(), c.code) << c.message;
    EXPECT_TRUE(events.empty());
  }
  EXPECT_EQ(server_->executor().Stats().batches_started(), 0u);
}

TEST_F(ServerTest, OversizedBatchAndFullServerAreRefused) {
  ExecutorOptions limits;
  limits.max_batch_size = 10;
  limits.max_queued_tasks = 15;
  StartServer(limits);
  GatherResponse resp;
  grpc::Status s =
      Gather(Batch(std::vector<v1::Task>(11, Task("echo"))), &resp);
  EXPECT_EQ(s.error_code(), grpc::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("limit of 10"), std::string::npos);

  grpc::ClientContext hold;
  auto holder =
      stub_->Execute(&hold, Batch(std::vector<v1::Task>(10, Sleep(30))));
  ExecuteEvent accepted;
  ASSERT_TRUE(holder->Read(&accepted));
  s = Gather(Batch(std::vector<v1::Task>(10, Task("echo"))), &resp);
  EXPECT_EQ(s.error_code(), grpc::RESOURCE_EXHAUSTED);
  EXPECT_NE(s.error_message().find("--max_queued_tasks"), std::string::npos);
  hold.TryCancel();
}

TEST_F(ServerTest, EmptyBatchSucceedsWithNoResults) {
  GatherResponse resp;
  ASSERT_TRUE(Gather(Batch({}), &resp).ok());
  EXPECT_EQ(resp.results_size(), 0);
  EXPECT_EQ(resp.summary().outcome().code(), 0);
}

TEST_F(ServerTest, ClientCancelMidStreamFreesEverySlot) {
  ExecutorOptions limits;
  limits.max_inflight_tasks = 20;
  StartServer(limits);
  grpc::ClientContext ctx;
  auto reader =
      stub_->Execute(&ctx, Batch(std::vector<v1::Task>(100, Sleep(60))));
  ExecuteEvent e;
  ASSERT_TRUE(reader->Read(&e));
  ASSERT_TRUE(e.has_accepted());
  while (server_->executor().Stats().inflight_tasks() < 20) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  ctx.TryCancel();
  EXPECT_TRUE(WaitNoInflight());
  // A following batch runs at once: every slot is free again.
  GatherResponse resp;
  const absl::Time start = absl::Now();
  ASSERT_TRUE(
      Gather(Batch(std::vector<v1::Task>(20, Sleep(0.05))), &resp).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
}

TEST_F(ServerTest, CallDeadlineCancelsTheBatchOnTheServer) {
  GatherResponse resp;
  grpc::Status s =
      Gather(Batch({Sleep(30), Sleep(30)}), &resp, absl::Milliseconds(200));
  EXPECT_EQ(s.error_code(), grpc::DEADLINE_EXCEEDED);
  EXPECT_TRUE(WaitNoInflight());
}

TEST_F(ServerTest, ReaderThatNeverReadsPausesItsBatch) {
  // A client whose transport window stays small (no BDP growth), so what it
  // does not read backs up into the server quickly.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  auto stalled = v1::BatchExecutor::NewStub(grpc::CreateCustomChannel(
      server_->target(), grpc::InsecureChannelCredentials(), args));
  grpc::ClientContext ctx;
  // 200k instant tasks whose results nobody reads: the server must stop
  // starting tasks once its bounded backlog is full, not buffer them all.
  auto reader = stalled->Execute(
      &ctx, Batch(std::vector<v1::Task>(200'000, Task("echo"))));
  // Waits for the batch to start and then to stop starting tasks (on a busy
  // machine parsing 200k tasks alone can take seconds).
  auto stats = server_->executor().Stats();
  uint64_t last_queued = ~uint64_t{0};
  for (const absl::Time until = absl::Now() + absl::Seconds(30);
       absl::Now() < until;) {
    absl::SleepFor(absl::Milliseconds(500));
    stats = server_->executor().Stats();
    if (stats.open_batches() == 1 && stats.queued_tasks() == last_queued) break;
    last_queued = stats.queued_tasks();
  }
  EXPECT_EQ(stats.open_batches(), 1u);
  EXPECT_GT(stats.queued_tasks(), 100'000u) << "the batch kept running";
  // Meanwhile another caller is served promptly.
  GatherResponse resp;
  const absl::Time start = absl::Now();
  ASSERT_TRUE(Gather(Batch({Task("echo"), Sleep(0.05)}), &resp).ok());
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));
  ctx.TryCancel();
  EXPECT_TRUE(WaitNoInflight());
}

TEST_F(ServerTest, ShutdownEndsEveryOpenCall) {
  std::vector<std::thread> callers;
  std::atomic<int> ended{0};
  for (int i = 0; i < 3; ++i) {
    callers.emplace_back([&] {
      std::vector<ExecuteEvent> events;
      Execute(Batch({Sleep(60), Sleep(0.01)}), &events);
      ended++;
    });
  }
  while (server_->executor().Stats().open_batches() < 3) {
    absl::SleepFor(absl::Milliseconds(5));
  }
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Milliseconds(100));
  for (auto& t : callers) t.join();
  EXPECT_EQ(ended.load(), 3);
  EXPECT_LT(absl::Now() - start, absl::Seconds(10));
}

TEST_F(ServerTest, HundredThousandSleepsAllReport) {
  std::vector<v1::Task> tasks(100'000, Sleep(0.1));
  std::vector<ExecuteEvent> events;
  ASSERT_TRUE(Execute(Batch(tasks), &events).ok());
  std::vector<bool> seen(100'000, false);
  size_t results = 0;
  for (const auto& e : events) {
    for (const auto& r : e.results().results()) {
      ASSERT_LT(r.index(), seen.size());
      EXPECT_FALSE(seen[r.index()]) << "index twice: " << r.index();
      seen[r.index()] = true;
      ++results;
    }
  }
  EXPECT_EQ(results, 100'000u);
  EXPECT_EQ(events.back().summary().succeeded(), 100'000u);
  // Coalesced: far fewer messages than results.
  EXPECT_LT(events.size(), 20'000u);
}

TEST_F(ServerTest, ListTaskKindsDescribesEveryKindAndItsArgs) {
  grpc::ClientContext ctx;
  v1::ListTaskKindsResponse resp;
  ASSERT_TRUE(stub_->ListTaskKinds(&ctx, {}, &resp).ok());
  std::set<std::string> names;
  for (const auto& k : resp.kinds()) {
    names.insert(k.name());
    EXPECT_FALSE(k.description().empty()) << k.name();
    for (const auto& a : k.args()) EXPECT_FALSE(a.description().empty());
  }
  EXPECT_EQ(names,
            (std::set<std::string>{"dns", "echo", "fail", "grpc_health", "http",
                                   "primes", "sleep", "tcp_probe"}));
}

}  // namespace
}  // namespace batchexec
