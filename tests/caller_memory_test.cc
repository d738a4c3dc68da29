// Per-caller byte budgets (--max_request_memory_per_caller): one caller
// filling its share of --max_request_memory leaves another caller's batch
// admitted, and the results the server holds (a Gather's kept results) are
// charged to the same budgets, over which a task ends RESOURCE_EXHAUSTED
// naming the budget. Two callers named by their tokens, one real server on
// loopback, a real HTTP server for large results.
#include <chrono>
#include <iostream>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/core/limits.h"
#include "server/rpc/builtin_server.h"
#include "tests/test_util/http_test_server.h"
#include "tests/wait_until.h"

namespace batchexec {
namespace {

constexpr int64_t kMiB = 1 << 20;

// One sleep task carrying `payload_bytes`: a request of about that size.
v1::ExecuteRequest SleepWithPayload(int64_t payload_bytes, double seconds) {
  v1::ExecuteRequest r;
  v1::Task* t = r.add_tasks();
  t->set_kind("sleep");
  (*t->mutable_args()->mutable_fields())["seconds"].set_number_value(seconds);
  t->set_payload(std::string(payload_bytes, 'x'));
  return r;
}

class CallerMemoryTest : public ::testing::Test {
 protected:
  void Start(ExecutorOptions executor) {
    ServerOptions options;
    options.executor = executor;
    options.executor.cpu_workers = 1;
    options.auth_tokens = {{"team-a", "token-of-a", 1},
                           {"team-b", "token-of-b", 1}};
    auto server = StartBuiltinServer(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }

  struct CallerStub {
    std::string token;
    std::unique_ptr<v1::BatchExecutor::Stub> stub;
  };
  CallerStub Stub(bool b) {
    grpc::ChannelArguments args;
    args.SetInt("batchexec.test.connection", b);  // no sharing
    args.SetMaxReceiveMessageSize(-1);
    args.SetMaxSendMessageSize(-1);
    return {b ? "token-of-b" : "token-of-a",
            v1::BatchExecutor::NewStub(grpc::CreateCustomChannel(
                server_->target(), grpc::InsecureChannelCredentials(), args))};
  }
  static void Authorize(const CallerStub& caller,
                        grpc::ClientContext& context) {
    context.AddMetadata("authorization", "Bearer " + caller.token);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(120));
  }

  // An Execute stream, open until cancelled.
  struct OpenBatch {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::ExecuteEvent>> reader;
    grpc::Status status;  // the refusal, if it was refused
  };
  // Sends `request`; the batch if it was accepted, else its refusal in
  // `refusal`.
  std::unique_ptr<OpenBatch> Open(CallerStub& caller,
                                  const v1::ExecuteRequest& request,
                                  grpc::Status* refusal) {
    auto open = std::make_unique<OpenBatch>();
    Authorize(caller, open->context);
    open->reader = caller.stub->Execute(&open->context, request);
    v1::ExecuteEvent event;
    if (open->reader->Read(&event) && event.has_accepted()) return open;
    *refusal = open->reader->Finish();
    return nullptr;
  }

  void CancelAll(std::vector<std::unique_ptr<OpenBatch>>& open) {
    for (auto& o : open) o->context.TryCancel();
    for (auto& o : open) o->reader->Finish();
    open.clear();
    EXPECT_TRUE(server_->executor().WaitIdle(absl::Now() + absl::Seconds(60)));
  }

  // The caller's row of the server's stats (empty if it has none).
  v1::CallerStats CallerRow(const std::string& name) {
    const v1::ServerStats stats = server_->executor().Stats();
    for (const v1::CallerStats& c : stats.callers()) {
      if (c.caller() == name) return c;
    }
    return v1::CallerStats();
  }

  std::unique_ptr<Server> server_;
};

// The case: --max_request_memory=256MiB, caller A keeps sending
// sleeping requests (12 MiB, then 1 MiB) until it is refused. With the
// budget only server-wide A took ~255 MiB and B's 1 MiB batch was refused.
TEST_F(CallerMemoryTest, OneCallerFillingItsShareLeavesAnothersBatchAdmitted) {
  ExecutorOptions limits;
  limits.max_request_memory = 256 * kMiB;  // per caller: half, 128 MiB
  Start(limits);
  auto a = Stub(false);
  std::vector<std::unique_ptr<OpenBatch>> open;
  grpc::Status refused;
  for (int64_t size : {12 * kMiB, 1 * kMiB}) {
    const v1::ExecuteRequest request = SleepWithPayload(size - 1024, 120);
    for (int i = 0; i < 300; ++i) {
      auto batch = Open(a, request, &refused);
      if (batch == nullptr) break;
      open.push_back(std::move(batch));
    }
    ASSERT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED)
        << refused.error_message();
  }
  // A's last refusal names its share and the flag.
  EXPECT_NE(refused.error_message().find("caller 'team-a' holds "),
            std::string::npos)
      << refused.error_message();
  EXPECT_NE(
      refused.error_message().find(" of its 128 MiB share of request memory "
                                   "(--max_request_memory_per_caller)"),
      std::string::npos)
      << refused.error_message();
  const v1::ServerStats stats = server_->executor().Stats();
  EXPECT_EQ(stats.max_request_memory(), uint64_t{256} * kMiB);
  EXPECT_LE(stats.request_memory_in_use(), uint64_t{128} * kMiB);
  EXPECT_GE(stats.request_memory_in_use(), uint64_t{120} * kMiB);
  const v1::CallerStats row = CallerRow("team-a");
  EXPECT_EQ(row.max_memory(), uint64_t{128} * kMiB);
  EXPECT_EQ(row.memory_in_use(), stats.request_memory_in_use());
  std::cerr << "MEMORY team-a holds " << (row.memory_in_use() >> 20)
            << " MiB in " << open.size() << " batches\n";

  // B's ordinary 1 MiB batch gets in, and runs.
  auto b = Stub(true);
  {
    grpc::Status b_refused;
    auto mine = Open(b, SleepWithPayload(kMiB, 0), &b_refused);
    ASSERT_NE(mine, nullptr) << b_refused.error_message();
    v1::ExecuteEvent event;
    while (mine->reader->Read(&event)) {
    }
    EXPECT_TRUE(mine->reader->Finish().ok());
  }
  CancelAll(open);
  EXPECT_TRUE(WaitUntil(
      [&] { return server_->executor().request_memory().in_use() == 0; },
      absl::Seconds(30)));
}

// When the server's budget is what is full (several callers each within
// their share), the refusal names the server's budget and its flag.
TEST_F(CallerMemoryTest, TheServersBudgetFullIsNamedAsSuch) {
  ExecutorOptions limits;
  limits.max_request_memory = 64 * kMiB;
  limits.max_request_memory_per_caller = 40 * kMiB;
  Start(limits);
  auto a = Stub(false);
  auto b = Stub(true);
  std::vector<std::unique_ptr<OpenBatch>> open;
  grpc::Status refused;
  const v1::ExecuteRequest request = SleepWithPayload(8 * kMiB, 120);
  open.push_back(Open(a, request, &refused));  // 16 MiB each
  open.push_back(Open(a, request, &refused));
  open.push_back(Open(b, request, &refused));
  for (const auto& o : open) ASSERT_NE(o, nullptr) << refused.error_message();
  // B holds 16 of its 40 MiB; the server 48 of 64.
  EXPECT_EQ(Open(b, request, &refused), nullptr);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(refused.error_message().find("the server holds 48 MiB of its 64 "
                                         "MiB"),
            std::string::npos)
      << refused.error_message();
  EXPECT_NE(refused.error_message().find("(--max_request_memory)"),
            std::string::npos)
      << refused.error_message();
  CancelAll(open);
}

// Results are charged while the server holds them: a Gather of 30 http GETs
// of 3 MB bodies keeps ~90 MB, past its caller's 64 MiB share, so some of
// its tasks end RESOURCE_EXHAUSTED naming the share (the rest of the batch
// goes on: COLLECT_ALL); caller B's Gather beside it is unaffected; and
// every byte is given back once the calls end.
TEST_F(CallerMemoryTest, GatherResultsPastTheCallersShareAreRefusedNamingIt) {
  auto http = HttpTestServer::Start();
  ASSERT_TRUE(http.ok()) << http.status();
  ExecutorOptions limits;
  limits.max_request_memory = 128 * kMiB;  // per caller: 64 MiB
  Start(limits);

  constexpr int kGets = 30;
  constexpr int kBody = 3'000'000;
  v1::ExecuteRequest big;
  big.set_failure_policy(v1::COLLECT_ALL);
  for (int i = 0; i < kGets; ++i) {
    v1::Task* t = big.add_tasks();
    t->set_kind("http");
    auto& f = *t->mutable_args()->mutable_fields();
    f["url"].set_string_value(
        (*http)->Url(absl::StrCat("/large?bytes=", kBody)));
    f["max_body_bytes"].set_number_value(kBody);
  }
  // Holds the response open while B runs beside it.
  v1::Task* wait = big.add_tasks();
  wait->set_kind("sleep");
  (*wait->mutable_args()->mutable_fields())["seconds"].set_number_value(10);

  auto a = Stub(false);
  v1::GatherResponse a_response;
  grpc::Status a_status;
  std::thread a_call([&] {
    grpc::ClientContext context;
    Authorize(a, context);
    a_status = a.stub->Gather(&context, big, &a_response);
  });
  // A's results are held: most of its share.
  const bool held = WaitUntil(
      [&] { return CallerRow("team-a").memory_in_use() >= 50 * kMiB; },
      absl::Seconds(60));

  auto b = Stub(true);
  v1::ExecuteRequest small;
  for (int i = 0; i < 10; ++i) {
    v1::Task* t = small.add_tasks();
    t->set_kind("echo");
    (*t->mutable_args()->mutable_fields())["s"].set_string_value(
        std::string(100'000, 'b'));
  }
  grpc::ClientContext b_context;
  Authorize(b, b_context);
  v1::GatherResponse b_response;
  grpc::Status b_status = b.stub->Gather(&b_context, small, &b_response);
  const bool a_still_open = CallerRow("team-a").open_batches() == 1;
  a_call.join();

  EXPECT_TRUE(held) << "A's results were never held";
  EXPECT_TRUE(a_still_open) << "B did not run beside A";
  ASSERT_TRUE(b_status.ok()) << b_status.error_message();
  EXPECT_EQ(b_response.summary().succeeded(), 10u);

  ASSERT_TRUE(a_status.ok()) << a_status.error_message();
  ASSERT_EQ(a_response.results_size(), kGets + 1);
  int ok = 0, refused = 0;
  for (int i = 0; i < kGets; ++i) {
    const v1::TaskResult& r = a_response.results(i);
    if (r.status().code() == 0) {
      ++ok;
      EXPECT_EQ(r.payload().size(), static_cast<size_t>(kBody));
      continue;
    }
    ++refused;
    EXPECT_EQ(r.status().code(),
              static_cast<int>(grpc::StatusCode::RESOURCE_EXHAUSTED));
    EXPECT_NE(r.status().message().find("caller 'team-a' holds"),
              std::string::npos)
        << r.status().message();
    EXPECT_NE(r.status().message().find("(--max_request_memory_per_caller)"),
              std::string::npos)
        << r.status().message();
    EXPECT_TRUE(r.payload().empty());
  }
  std::cerr << "MEMORY A's Gather: " << ok << " results kept, " << refused
            << " refused\n";
  // 64 MiB holds ~22 bodies of 3 MB; none past it.
  EXPECT_GE(ok, 18);
  EXPECT_LE(ok, 22);
  EXPECT_EQ(ok + refused, kGets);
  EXPECT_EQ(a_response.results(kGets).status().code(), 0);  // the sleep

  EXPECT_TRUE(WaitUntil(
      [&] { return server_->executor().Stats().request_memory_in_use() == 0; },
      absl::Seconds(30)));
}

}  // namespace
}  // namespace batchexec
