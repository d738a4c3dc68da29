// Fair share between callers, not batches: a caller with many open batches
// gets no more of the server than a caller with one, and per-caller quotas
// keep one caller from taking every place. The two callers are named by their
// tokens (--auth_tokens_file), from the same host.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/core/limits.h"
#include "server/rpc/builtin_server.h"
#include "tests/wait_until.h"

namespace batchexec {
namespace {

v1::ExecuteRequest Sleeps(int n, double seconds) {
  v1::ExecuteRequest r;
  for (int i = 0; i < n; ++i) {
    v1::Task* t = r.add_tasks();
    t->set_kind("sleep");
    (*t->mutable_args()->mutable_fields())["seconds"].set_number_value(seconds);
  }
  return r;
}

class CallerFairnessTest : public ::testing::Test {
 protected:
  void Start(ExecutorOptions executor) {
    ServerOptions options;
    options.executor = executor;
    options.auth_tokens = {{"team-a", "token-of-a", 1},
                           {"team-b", "token-of-b", 1}};
    options.executor.cpu_workers = 1;
    auto server = StartBuiltinServer(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  // A caller: its token on every call, on a connection of its own.
  struct CallerStub {
    std::string token;
    std::unique_ptr<v1::BatchExecutor::Stub> stub;
  };
  CallerStub Stub(bool b) {
    grpc::ChannelArguments args;
    args.SetInt("batchexec.test.connection", b);  // no sharing
    return {b ? "token-of-b" : "token-of-a",
            v1::BatchExecutor::NewStub(grpc::CreateCustomChannel(
                server_->target(), grpc::InsecureChannelCredentials(), args))};
  }
  static void Authorize(const CallerStub& caller,
                        grpc::ClientContext& context) {
    context.AddMetadata("authorization", "Bearer " + caller.token);
  }

  // An Execute stream left open (its events are not read).
  struct OpenBatch {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::ExecuteEvent>> reader;
  };
  std::unique_ptr<OpenBatch> Open(CallerStub& caller,
                                  const v1::ExecuteRequest& request) {
    auto open = std::make_unique<OpenBatch>();
    Authorize(caller, open->context);
    open->reader = caller.stub->Execute(&open->context, request);
    return open;
  }

  absl::Duration TimeGather(CallerStub& caller,
                            const v1::ExecuteRequest& request) {
    grpc::ClientContext context;
    Authorize(caller, context);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    v1::GatherResponse response;
    const absl::Time start = absl::Now();
    grpc::Status status = caller.stub->Gather(&context, request, &response);
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.summary().succeeded(),
              static_cast<uint32_t>(request.tasks_size()));
    return absl::Now() - start;
  }

  void CancelAll(std::vector<std::unique_ptr<OpenBatch>>& open) {
    for (auto& o : open) o->context.TryCancel();
    for (auto& o : open) o->reader->Finish();
    EXPECT_TRUE(server_->executor().WaitIdle(absl::Now() + absl::Seconds(30)));
  }

  std::unique_ptr<Server> server_;
};

TEST_F(CallerFairnessTest, OneBatchIsNotOutvotedByACallerWithFifty) {
  ExecutorOptions limits;
  limits.max_inflight_tasks = 100;
  Start(limits);
  auto b = Stub(/*b=*/true);  // team-b
  const v1::ExecuteRequest small = Sleeps(100, 0.2);
  const absl::Duration alone = TimeGather(b, small);

  auto a = Stub(/*b=*/false);  // team-a
  std::vector<std::unique_ptr<OpenBatch>> open;
  for (int i = 0; i < 50; ++i) open.push_back(Open(a, Sleeps(1000, 0.2)));
  ASSERT_TRUE(WaitUntil(
      [&] { return server_->executor().Stats().open_batches() == 50; },
      absl::Seconds(30)));
  const v1::ServerStats stats = server_->executor().Stats();
  ASSERT_EQ(stats.callers_size(), 1);
  EXPECT_EQ(stats.callers(0).caller(), "team-a");
  EXPECT_EQ(stats.callers(0).open_batches(), 50u);

  const absl::Duration beside = TimeGather(b, small);
  std::cerr << "CALLERS B's 100 x 0.2 s alone " << absl::FormatDuration(alone)
            << ", beside A's 50 x 1000: " << absl::FormatDuration(beside)
            << "\n";
  // Per-batch round-robin gave it one turn in 51 (~10 s).
  // B cannot take slots from running tasks: it waits one wave for A's to
  // end, then has half the slots, so 3x is the floor here; the slack is for
  // a loaded machine.
  EXPECT_LT(beside, 3 * alone + absl::Milliseconds(150));
  CancelAll(open);
}

TEST_F(CallerFairnessTest, CallersUnderEqualLoadGetEqualThroughput) {
  ExecutorOptions limits;
  limits.max_inflight_tasks = 100;
  Start(limits);
  auto a = Stub(false);
  auto b = Stub(true);
  std::vector<std::unique_ptr<OpenBatch>> open;
  // A spreads its work over 10 batches, B puts it in one.
  for (int i = 0; i < 10; ++i) open.push_back(Open(a, Sleeps(2000, 0.05)));
  open.push_back(Open(b, Sleeps(20000, 0.05)));
  ASSERT_TRUE(WaitUntil(
      [&] { return server_->executor().Stats().open_batches() == 11; },
      absl::Seconds(30)));
  auto started = [&](const std::string& name) {
    const v1::ServerStats stats = server_->executor().Stats();
    for (const auto& c : stats.callers()) {
      if (c.caller() == name) return 20000 - int64_t(c.queued_tasks());
    }
    return int64_t{-1};
  };
  absl::SleepFor(absl::Milliseconds(300));
  const int64_t a0 = started("team-a"), b0 = started("team-b");
  absl::SleepFor(absl::Seconds(2));
  const int64_t a1 = started("team-a"), b1 = started("team-b");
  const double ta = a1 - a0, tb = b1 - b0;
  std::cerr << "CALLERS tasks started in 2 s: A (10 batches) " << ta
            << ", B (1 batch) " << tb << "\n";
  ASSERT_GT(ta, 0);
  ASSERT_GT(tb, 0);
  EXPECT_LT(std::abs(ta - tb) / std::max(ta, tb), 0.10);
  CancelAll(open);
}

TEST_F(CallerFairnessTest, PerCallerQuotasRefuseOneCallerNotTheOther) {
  ExecutorOptions limits;
  limits.max_open_batches_per_caller = 20;
  limits.max_queued_tasks_per_caller = 5000;
  Start(limits);
  auto a = Stub(false);
  std::vector<std::unique_ptr<OpenBatch>> open;
  for (int i = 0; i < 20; ++i) open.push_back(Open(a, Sleeps(1, 60)));
  ASSERT_TRUE(WaitUntil(
      [&] { return server_->executor().Stats().open_batches() == 20; },
      absl::Seconds(30)));
  // A's 21st batch: refused, naming A's limit.
  {
    auto extra = Open(a, Sleeps(1, 60));
    v1::ExecuteEvent event;
    EXPECT_FALSE(extra->reader->Read(&event));
    grpc::Status status = extra->reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(status.error_message().find("--max_open_batches_per_caller"),
              std::string::npos)
        << status.error_message();
  }
  // B still gets in, and sees who the server took it for.
  auto b = Stub(true);
  {
    auto mine = Open(b, Sleeps(1, 0));
    v1::ExecuteEvent event;
    ASSERT_TRUE(mine->reader->Read(&event));
    ASSERT_TRUE(event.has_accepted());
    EXPECT_EQ(event.accepted().caller(), "team-b");
    while (mine->reader->Read(&event)) {
    }
    EXPECT_TRUE(mine->reader->Finish().ok());
  }
  // A caller's queued tasks are bounded too.
  {
    auto big = Open(b, Sleeps(5001, 60));
    v1::ExecuteEvent event;
    EXPECT_FALSE(big->reader->Read(&event));
    grpc::Status status = big->reader->Finish();
    EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
    EXPECT_NE(status.error_message().find("--max_queued_tasks_per_caller"),
              std::string::npos)
        << status.error_message();
  }
  CancelAll(open);
}

TEST(CallerQuotaDefaults, NoCallerCanTakeEveryPlace) {
  EXPECT_LT(kDefaultMaxOpenBatchesPerCaller, kDefaultMaxOpenBatches);
  EXPECT_LT(kDefaultMaxQueuedTasksPerCaller, kDefaultMaxQueuedTasks);
}

// GetServerStats shows the calling caller its own row and the totals, never
// another caller's name or load.
TEST_F(CallerFairnessTest, ServerStatsShowEachCallerOnlyItsOwnRow) {
  Start(ExecutorOptions{});
  auto a = Stub(false);
  auto b = Stub(true);
  std::vector<std::unique_ptr<OpenBatch>> open;
  for (int i = 0; i < 3; ++i) open.push_back(Open(a, Sleeps(10, 30)));
  for (int i = 0; i < 2; ++i) open.push_back(Open(b, Sleeps(20, 30)));
  ASSERT_TRUE(
      WaitUntil([&] { return server_->executor().Stats().open_batches() == 5; },
                absl::Seconds(30)));
  auto stats_of = [&](CallerStub& caller) {
    grpc::ClientContext context;
    Authorize(caller, context);
    v1::ServerStats stats;
    const grpc::Status status =
        caller.stub->GetServerStats(&context, {}, &stats);
    EXPECT_TRUE(status.ok()) << status.error_message();
    return stats;
  };
  const v1::ServerStats seen_by_a = stats_of(a);
  ASSERT_EQ(seen_by_a.callers_size(), 1) << seen_by_a.DebugString();
  EXPECT_EQ(seen_by_a.callers(0).caller(), "team-a");
  EXPECT_EQ(seen_by_a.callers(0).open_batches(), 3u);
  EXPECT_EQ(seen_by_a.open_batches(), 5u);
  EXPECT_EQ(seen_by_a.inflight_tasks() + seen_by_a.queued_tasks(), 70u);

  const v1::ServerStats seen_by_b = stats_of(b);
  ASSERT_EQ(seen_by_b.callers_size(), 1) << seen_by_b.DebugString();
  EXPECT_EQ(seen_by_b.callers(0).caller(), "team-b");
  EXPECT_EQ(seen_by_b.callers(0).open_batches(), 2u);
  EXPECT_EQ(seen_by_b.open_batches(), 5u);
  // The server itself (embedders, tests) still sees everyone.
  EXPECT_EQ(server_->executor().Stats().callers_size(), 2);
  CancelAll(open);
}

}  // namespace
}  // namespace batchexec
