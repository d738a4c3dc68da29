// Slow and hostile clients: readers that never read, and a client opening
// thousands of streams. The server must stay within bounded memory, keep
// serving well-behaved callers, and refuse what is over its limits with
// RESOURCE_EXHAUSTED.
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "common/process_memory.h"
#include "google/protobuf/wrappers.pb.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/client_unary_call.h"
#include "gtest/gtest.h"
#include "server/core/limits.h"
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

// A connection of its own whose receive window stays small, like a client
// that has stopped reading.
std::unique_ptr<v1::BatchExecutor::Stub> StalledStub(const std::string& target,
                                                     int connection) {
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_HTTP2_BDP_PROBE, 0);
  args.SetInt(GRPC_ARG_HTTP2_STREAM_LOOKAHEAD_BYTES, 64 * 1024);
  args.SetInt("batchexec.test.connection", connection);  // no sharing
  return v1::BatchExecutor::NewStub(grpc::CreateCustomChannel(
      target, grpc::InsecureChannelCredentials(), args));
}

v1::ExecuteRequest Echoes(int n) {
  v1::ExecuteRequest r;
  for (int i = 0; i < n; ++i) r.add_tasks()->set_kind("echo");
  return r;
}

TEST(HostileClients, FiftyStreamsThatNeverReadCostBoundedMemory) {
  constexpr int kStreams = 50;
  constexpr int kTasks = 100'000;
  ExecutorOptions limits;
  limits.max_queued_tasks = kStreams * kTasks + 1000;  // admit them all
  limits.max_queued_tasks_per_caller = limits.max_queued_tasks;  // one host
  // ~57 MB reserved a stream, 2.9 GB in all: past the default share.
  limits.max_request_memory_per_caller = limits.max_request_memory;
  auto server = StartServer(limits);
  const int64_t rss_before = TrimmedRss();
  const v1::ExecuteRequest request = Echoes(kTasks);
  std::vector<std::unique_ptr<v1::BatchExecutor::Stub>> stubs;
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
  std::vector<std::unique_ptr<grpc::ClientReader<v1::ExecuteEvent>>> readers;
  for (int i = 0; i < kStreams; ++i) {
    stubs.push_back(StalledStub(server->target(), i % 5));
    contexts.push_back(std::make_unique<grpc::ClientContext>());
    readers.push_back(stubs.back()->Execute(contexts.back().get(), request));
  }
  // Every batch is admitted, then runs into its back-pressure: the count of
  // queued tasks stops moving.
  ASSERT_TRUE(WaitUntil(
      [&] { return server->executor().Stats().open_batches() == kStreams; },
      absl::Seconds(60)));
  uint64_t queued = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        uint64_t now = server->executor().Stats().queued_tasks();
        bool still = now == queued;
        queued = now;
        if (!still) absl::SleepFor(absl::Milliseconds(200));
        return still;
      },
      absl::Seconds(60)));
  const int64_t admitted = kStreams;
  const int64_t started = admitted * kTasks - queued;
  std::printf(
      "HOSTILE streams=%d admitted=%ld tasks_started=%ld rss_growth_mb=%.1f\n",
      kStreams, admitted, started, (TrimmedRss() - rss_before) / 1e6);
  // Each admitted batch stopped after a bounded number of unread results
  // (the server's backlog plus what the transport holds), far from 100k.
  EXPECT_LT(started / admitted, kTasks / 3);
  // Memory follows the requests held (~200 bytes a task), not the results
  // produced.
  if (kRssTracksHeap) {
    EXPECT_LT(TrimmedRss() - rss_before, int64_t{kStreams} * kTasks * 400);
  }

  // A well-behaved caller is still served promptly.
  auto stub = v1::BatchExecutor::NewStub(grpc::CreateChannel(
      server->target(), grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(5)));
  v1::GatherResponse response;
  const absl::Time start = absl::Now();
  ASSERT_TRUE(stub->Gather(&context, Echoes(3), &response).ok());
  EXPECT_EQ(response.results_size(), 3);
  EXPECT_LT(absl::Now() - start, absl::Seconds(2));

  for (auto& c : contexts) c->TryCancel();
  for (auto& r : readers) r->Finish();
  EXPECT_TRUE(server->executor().WaitIdle(absl::Now() + absl::Seconds(60)));
}

// A reader that never reads a 1M-task batch, whose first task fails
// (fail-fast) once the batch has paused: the ~990k queued tasks end only as
// fast as the reader drains, not all at once into the server's memory.
TEST(HostileClients, CancellingAStalledMillionTaskBatchBuffersNoMore) {
  constexpr int kTasks = 1'000'000;
  auto server = StartServer({});
  v1::ExecuteRequest request = Echoes(kTasks);
  {
    v1::Task* first = request.mutable_tasks(0);
    first->set_kind("sleep");
    (*first->mutable_args()->mutable_fields())["seconds"].set_number_value(60);
    first->mutable_timeout()->set_nanos(500'000'000);  // fails at 0.5 s
  }
  request.set_max_concurrency(1000);
  auto stub = StalledStub(server->target(), 0);
  grpc::ClientContext context;
  auto reader = stub->Execute(&context, request);
  // Paused: the count of queued tasks stops moving, far from done.
  uint64_t queued = 0;
  ASSERT_TRUE(WaitUntil(
      [&] {
        uint64_t now = server->executor().Stats().queued_tasks();
        bool still = now == queued && now > 0;
        queued = now;
        if (!still) absl::SleepFor(absl::Milliseconds(200));
        return still;
      },
      absl::Seconds(60)));
  const int64_t rss_paused = TrimmedRss();
  // Task 0 times out: fail-fast cancels every queued task.
  absl::SleepFor(absl::Seconds(1));
  const uint64_t left = server->executor().Stats().queued_tasks();
  const int64_t growth = TrimmedRss() - rss_paused;
  std::printf(
      "HOSTILE stalled 1M batch after fail-fast: queued %lu -> %lu, "
      "rss_growth_mb=%.1f\n",
      static_cast<unsigned long>(queued), static_cast<unsigned long>(left),
      growth / 1e6);
  // Not ended all at once: most stay queued until the reader drains.
  EXPECT_GT(left, kTasks / 2u);
  // Ending them all at once would have buffered ~100 MB of results.
  if (kRssTracksHeap) {
    EXPECT_LT(growth, int64_t{32} << 20);
  }
  EXPECT_EQ(server->executor().Stats().open_batches(), 1u);
  // The reader leaves: the rest is discarded and the batch ends.
  context.TryCancel();
  reader->Finish();
  EXPECT_TRUE(server->executor().WaitIdle(absl::Now() + absl::Seconds(60)));
}

TEST(HostileClients, ThousandsOfStreamsHitTheServerLimitNotMemory) {
  ExecutorOptions limits;
  limits.max_open_batches = 300;
  auto server = StartServer(limits);
  constexpr int kStreams = 1200;
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<v1::BatchExecutor::Stub>> stubs;
  for (int c = 0; c < 8; ++c)
    stubs.push_back(StalledStub(server->target(), 100 + c));
  v1::ExecuteRequest request;
  auto* t = request.add_tasks();
  t->set_kind("sleep");
  (*t->mutable_args()->mutable_fields())["seconds"].set_number_value(60);
  struct Call {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientAsyncReader<v1::ExecuteEvent>> reader;
    grpc::Status status;
  };
  std::vector<std::unique_ptr<Call>> calls;
  for (int i = 0; i < kStreams; ++i) {
    auto call = std::make_unique<Call>();
    call->reader = stubs[i % stubs.size()]->PrepareAsyncExecute(&call->context,
                                                                request, &cq);
    call->reader->StartCall(reinterpret_cast<void*>(2 * i));
    call->reader->Finish(&call->status, reinterpret_cast<void*>(2 * i + 1));
    calls.push_back(std::move(call));
  }
  int exhausted = 0;
  int finished = 0;
  void* tag;
  bool ok;
  const absl::Time end = absl::Now() + absl::Seconds(30);
  while (exhausted < kStreams - 300 && absl::Now() < end) {
    auto r = cq.AsyncNext(&tag, &ok,
                          absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
    if (r != grpc::CompletionQueue::GOT_EVENT) continue;
    const intptr_t n = reinterpret_cast<intptr_t>(tag);
    if (n % 2 == 1) {
      ++finished;
      const Call& call = *calls[n / 2];
      if (call.status.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
        ++exhausted;
        EXPECT_NE(call.status.error_message().find("--max_open_batches"),
                  std::string::npos);
      }
    }
  }
  EXPECT_EQ(exhausted, kStreams - 300);
  EXPECT_EQ(server->executor().Stats().open_batches(), 300u);
  for (auto& call : calls) call->context.TryCancel();
  while (finished < kStreams &&
         cq.AsyncNext(&tag, &ok,
                      absl::ToChronoTime(absl::Now() + absl::Seconds(10))) ==
             grpc::CompletionQueue::GOT_EVENT) {
    if (reinterpret_cast<intptr_t>(tag) % 2 == 1) ++finished;
  }
  EXPECT_EQ(finished, kStreams);
  EXPECT_TRUE(server->executor().WaitIdle(absl::Now() + absl::Seconds(10)));
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
}

// Bytes that are not an ExecuteRequest: the server parses requests itself
// (onto an arena), so it must answer INVALID_ARGUMENT, not crash or hang,
// and go on serving. A BytesValue's field 1 lands on `tasks`, whose bytes
// then fail to parse as a Task.
TEST(HostileClients, MalformedRequestBytesGetInvalidArgument) {
  auto server = StartServer(ExecutorOptions());
  auto channel =
      grpc::CreateChannel(server->target(), grpc::InsecureChannelCredentials());
  google::protobuf::BytesValue garbage;
  garbage.set_value("\xff\xff\xff\xff\xff");
  {
    grpc::ClientContext context;
    v1::GatherResponse response;
    grpc::Status status =
        grpc::internal::BlockingUnaryCall<google::protobuf::BytesValue,
                                          v1::GatherResponse>(
            channel.get(),
            grpc::internal::RpcMethod("/batchexec.v1.BatchExecutor/Gather",
                                      grpc::internal::RpcMethod::NORMAL_RPC),
            &context, garbage, &response);
    EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_NE(status.error_message().find("ExecuteRequest"), std::string::npos)
        << status.error_message();
  }
  {
    grpc::ClientContext context;
    std::unique_ptr<grpc::ClientReader<v1::ExecuteEvent>> reader(
        grpc::internal::ClientReaderFactory<v1::ExecuteEvent>::Create(
            channel.get(),
            grpc::internal::RpcMethod(
                "/batchexec.v1.BatchExecutor/Execute",
                grpc::internal::RpcMethod::SERVER_STREAMING),
            &context, garbage));
    v1::ExecuteEvent event;
    EXPECT_FALSE(reader->Read(&event));
    EXPECT_EQ(reader->Finish().error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  // Still serving.
  auto stub = v1::BatchExecutor::NewStub(channel);
  grpc::ClientContext context;
  v1::GatherResponse response;
  ASSERT_TRUE(stub->Gather(&context, Echoes(3), &response).ok());
  EXPECT_EQ(response.results_size(), 3);
}

}  // namespace
}  // namespace batchexec
