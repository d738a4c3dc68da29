// Limits checked before a request is built: a hostile but legal request
// (millions of empty tasks, or more than the server's request memory) is
// refused for the price of its wire bytes, not of its parsed form.
#include <memory>
#include <string>

#include "absl/strings/str_cat.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "common/process_memory.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/client_unary_call.h"
#include "gtest/gtest.h"
#include "server/rpc/builtin_server.h"
#include "tests/wait_until.h"

namespace batchexec {
namespace {

std::unique_ptr<Server> StartServer(ExecutorOptions executor) {
  ServerOptions options;
  options.executor = executor;
  options.executor.cpu_workers = 1;
  auto server = StartBuiltinServer(options);
  EXPECT_TRUE(server.ok()) << server.status();
  return std::move(*server);
}

// Sends `bytes` as a Gather request, as a client that builds its own
// wire bytes can.
grpc::Status RawGather(const std::string& target, const std::string& bytes) {
  grpc::ChannelArguments args;
  args.SetMaxSendMessageSize(-1);
  auto channel = grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), args);
  grpc::Slice slice(bytes);
  grpc::ByteBuffer request(&slice, 1);
  grpc::ByteBuffer response;
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(60));
  return grpc::internal::BlockingUnaryCall<grpc::ByteBuffer, grpc::ByteBuffer>(
      channel.get(),
      grpc::internal::RpcMethod("/batchexec.v1.BatchExecutor/Gather",
                                grpc::internal::RpcMethod::NORMAL_RPC),
      &context, request, &response);
}

// `n` tasks of `kind` ("" for empty tasks: two bytes each).
std::string Tasks(int n, const std::string& kind = "") {
  v1::Task task;
  task.set_kind(kind);
  std::string one;
  v1::ExecuteRequest single;
  *single.add_tasks() = task;
  single.SerializeToString(&one);
  std::string all;
  all.reserve(one.size() * n);
  for (int i = 0; i < n; ++i) all += one;
  return all;
}

TEST(RequestLimits, ThreeMillionEmptyTasksAreRefusedForTheirWireSize) {
  ExecutorOptions limits;
  limits.max_batch_size = 1000;
  auto server = StartServer(limits);
  const std::string bytes = Tasks(3'000'000);
  ASSERT_EQ(bytes.size(), 6'000'000u);
  const bool reset = ResetPeakRss();
  const int64_t before = ProcStatusBytes("VmHWM");
  grpc::Status status = RawGather(server->target(), bytes);
  const int64_t growth = ProcStatusBytes("VmHWM") - before;
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(status.error_message().find("3000000 tasks exceed the limit of "
                                        "1000 per batch (--max_batch_size)"),
            std::string::npos)
      << status.error_message();
  std::cerr << "peak RSS growth refusing 6 MB of empty tasks: " << growth / 1024
            << " KiB\n";
  if (kRssTracksHeap && reset) {
    // The client's copy, the transport's and the server's buffer: each the
    // wire size. Parsing would have cost ~500 MB.
    EXPECT_LT(growth, 48 << 20);
  }
}

TEST(RequestLimits, RequestsOverTheMemoryBudgetAreResourceExhausted) {
  ExecutorOptions limits;
  limits.max_request_memory = 8 << 20;
  auto server = StartServer(limits);
  // 20k tasks reserve 20k * 512 bytes = ~10 MiB: over the 8 MiB budget.
  grpc::Status big = RawGather(server->target(), Tasks(20'000, "echo"));
  EXPECT_EQ(big.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_NE(big.error_message().find("--max_request_memory"), std::string::npos)
      << big.error_message();
  // A smaller one fits, and its reservation goes with its batch.
  grpc::Status small = RawGather(server->target(), Tasks(1'000, "echo"));
  EXPECT_TRUE(small.ok()) << small.error_message();
  EXPECT_TRUE(WaitUntil(
      [&] { return server->executor().request_memory().in_use() == 0; },
      absl::Seconds(10)));
}

}  // namespace
}  // namespace batchexec
