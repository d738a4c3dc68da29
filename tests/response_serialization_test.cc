// Where responses are serialized: a small one at once, on the thread that
// ended the batch; a big one (kInlineSerializeBytes, by bytes, not results)
// on a CPU worker, never on the timer thread, and in the CPU pool's turn of
// the call's caller, so a caller with many Gathers gets no more turns than
// one with a single Gather. The server's one CPU worker is held by the test
// (a gate) to see what waits for it.
#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/core/limits.h"
#include "server/rpc/builtin_server.h"
#include "tests/wait_until.h"

namespace batchexec {
namespace {

// `n` echo tasks, each with a string of `bytes`: its output.
v1::ExecuteRequest Echoes(int n, size_t bytes) {
  v1::ExecuteRequest r;
  for (int i = 0; i < n; ++i) {
    v1::Task* t = r.add_tasks();
    t->set_kind("echo");
    (*t->mutable_args()->mutable_fields())["s"].set_string_value(
        std::string(bytes, 'x'));
  }
  return r;
}

class ResponseSerializationTest : public ::testing::Test {
 protected:
  ResponseSerializationTest() {
    ServerOptions options;
    options.auth_tokens = {{"team-a", "token-of-a", 1},
                           {"team-b", "token-of-b", 1}};
    options.executor.cpu_workers = 1;
    auto server = StartBuiltinServer(options);
    EXPECT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    pool_ = &server_->executor().environment().cpu_pool;
  }
  ~ResponseSerializationTest() override { Open(); }

  // Holds the server's only CPU worker until Open().
  void Hold() {
    absl::Notification holding;
    pool_->Post(&gate_, [this, &holding] {
      holding.Notify();
      gate_.WaitForNotification();
    });
    holding.WaitForNotification();
  }
  void Open() {
    if (!gate_.HasBeenNotified()) gate_.Notify();
  }

  // A caller's stub, on a connection of its own.
  std::unique_ptr<v1::BatchExecutor::Stub> Stub(int connection) {
    grpc::ChannelArguments args;
    args.SetInt("batchexec.test.connection", connection);  // no sharing
    return v1::BatchExecutor::NewStub(grpc::CreateCustomChannel(
        server_->target(), grpc::InsecureChannelCredentials(), args));
  }

  static grpc::Status Gather(v1::BatchExecutor::Stub& stub,
                             const std::string& token,
                             const v1::ExecuteRequest& request,
                             v1::GatherResponse* response) {
    grpc::ClientContext context;
    context.AddMetadata("authorization", "Bearer " + token);
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    return stub.Gather(&context, request, response);
  }

  std::unique_ptr<Server> server_;
  WorkerPool* pool_ = nullptr;
  absl::Notification gate_;
};

TEST_F(ResponseSerializationTest, SmallGatherIsAnsweredWithoutTheCpuPool) {
  Hold();
  auto stub = Stub(0);
  v1::GatherResponse response;
  // 50 results of ~100 bytes: far under kInlineSerializeBytes.
  grpc::Status s = Gather(*stub, "token-of-a", Echoes(50, 100), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.summary().succeeded(), 50u);
}

TEST_F(ResponseSerializationTest, BigGatherOfFewResultsIsSerializedOnAWorker) {
  Hold();
  auto stub = Stub(0);
  // 12 results (under the old 1000-result rule) of 64 KiB each; the request
  // stays under kParallelParseBytes, so its parse posts nothing to the pool.
  const v1::ExecuteRequest request = Echoes(12, kInlineSerializeBytes);
  v1::GatherResponse response;
  grpc::Status s;
  std::thread call(
      [&] { s = Gather(*stub, "token-of-a", request, &response); });
  // Its serialization waits for the held worker.
  EXPECT_TRUE(WaitUntil([&] { return pool_->waiting_lanes() == 1; },
                        absl::Seconds(30)));
  Open();
  call.join();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.summary().succeeded(), 12u);
  EXPECT_EQ(response.results(11)
                .output()
                .struct_value()
                .fields()
                .at("s")
                .string_value()
                .size(),
            static_cast<size_t>(kInlineSerializeBytes));
}

TEST_F(ResponseSerializationTest, BigExecuteChunkIsSerializedOnAWorker) {
  Hold();
  auto stub = Stub(0);
  // 48 results of 16 KiB: a chunk of ~770 KiB, over the inline size (and a
  // request under kParallelParseBytes).
  const v1::ExecuteRequest request = Echoes(48, 16 << 10);
  grpc::ClientContext context;
  context.AddMetadata("authorization", "Bearer token-of-a");
  auto reader = stub->Execute(&context, request);
  EXPECT_TRUE(WaitUntil([&] { return pool_->waiting_lanes() == 1; },
                        absl::Seconds(30)));
  Open();
  v1::ExecuteEvent event;
  int results = 0;
  while (reader->Read(&event)) results += event.results().results_size();
  grpc::Status s = reader->Finish();
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(results, 48);
}

// 20 Gathers of caller A queue their serializations behind the held worker,
// then one of caller B, then a marker job of a caller of its own. Taking
// turns between callers, the worker serializes one of A's, then B's, then
// runs the marker with 19 of A's left; had each Gather been a caller of its
// own, the marker would have run after all 21. A's batches end one by one
// before the next starts: the key must outlive each.
TEST_F(ResponseSerializationTest, GatherSerializationTakesItsCallersTurn) {
  Hold();
  auto a = Stub(0);
  auto b = Stub(1);
  constexpr int kGathersOfA = 20;
  const v1::ExecuteRequest request = Echoes(1, 2 * kInlineSerializeBytes);
  std::atomic<int> ok{0};
  auto gather = [&](v1::BatchExecutor::Stub* stub, const std::string& token) {
    v1::GatherResponse response;
    grpc::Status s = Gather(*stub, token, request, &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    if (s.ok() && response.summary().succeeded() == 1) ok.fetch_add(1);
  };
  std::vector<std::thread> calls;
  for (int i = 0; i < kGathersOfA; ++i) {
    calls.emplace_back(gather, a.get(), "token-of-a");
  }
  ASSERT_TRUE(
      WaitUntil([&] { return pool_->waiting_lanes() == size_t{kGathersOfA}; },
                absl::Seconds(30)));
  calls.emplace_back(gather, b.get(), "token-of-b");
  ASSERT_TRUE(WaitUntil(
      [&] { return pool_->waiting_lanes() == size_t{kGathersOfA + 1}; },
      absl::Seconds(30)));
  int marker_caller;
  absl::Notification marked;
  size_t left_at_marker = 0;
  pool_->Post(&marker_caller, [&] {
    left_at_marker = pool_->waiting_lanes();
    marked.Notify();
  });
  Open();
  ASSERT_TRUE(marked.WaitForNotificationWithTimeout(absl::Seconds(60)));
  for (auto& c : calls) c.join();
  EXPECT_EQ(ok.load(), kGathersOfA + 1);
  EXPECT_EQ(left_at_marker, size_t{kGathersOfA - 1});
}

}  // namespace
}  // namespace batchexec
