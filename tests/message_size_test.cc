// Execute against a client with gRPC's default 4 MiB receive limit: large
// results must never make a message the client refuses (which would cost the
// whole stream); a result too large for any message fails alone.
#include <memory>
#include <regex>
#include <string>
#include <vector>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/core/limits.h"
#include "server/rpc/builtin_server.h"

namespace batchexec {
namespace {

// gRPC's default max receive size, which the client below keeps.
constexpr int64_t kClientReceiveLimit = 4 << 20;
static_assert(kMaxExecuteEventBytes <= kClientReceiveLimit);

// An echo task whose result carries a string of `bytes` bytes.
v1::Task EchoOf(size_t bytes) {
  v1::Task task;
  task.set_kind("echo");
  (*task.mutable_args()->mutable_fields())["blob"].set_string_value(
      std::string(bytes, 'x'));
  return task;
}

class MessageSizeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.executor.cpu_workers = 1;
    auto server = StartBuiltinServer(options);
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    // A plain channel: the client's receive limit stays gRPC's default.
    stub_ = v1::BatchExecutor::NewStub(grpc::CreateChannel(
        server_->target(), grpc::InsecureChannelCredentials()));
  }

  // Runs `tasks` (COLLECT_ALL) through Execute, reading the whole stream
  // (a message over the client's limit would fail the call);
  // `by_index[i]` is task i's result.
  grpc::Status Execute(const std::vector<v1::Task>& tasks,
                       std::vector<v1::TaskResult>* by_index,
                       v1::Summary* summary, uint32_t max_concurrency = 0) {
    v1::ExecuteRequest request;
    for (const v1::Task& t : tasks) *request.add_tasks() = t;
    request.set_max_concurrency(max_concurrency);
    request.set_failure_policy(v1::COLLECT_ALL);
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
    auto reader = stub_->Execute(&context, request);
    by_index->assign(tasks.size(), v1::TaskResult());
    std::vector<int> seen(tasks.size(), 0);
    v1::ExecuteEvent event;
    while (reader->Read(&event)) {
      if (event.has_summary()) *summary = event.summary();
      for (const v1::TaskResult& r : event.results().results()) {
        EXPECT_LT(r.index(), tasks.size());
        if (r.index() >= tasks.size()) continue;
        EXPECT_EQ(++seen[r.index()], 1) << "task " << r.index() << " twice";
        (*by_index)[r.index()] = r;
      }
    }
    for (size_t i = 0; i < seen.size(); ++i) {
      EXPECT_EQ(seen[i], 1) << "task " << i;
    }
    return reader->Finish();
  }

  std::unique_ptr<Server> server_;
  std::unique_ptr<v1::BatchExecutor::Stub> stub_;
};

// The length of the echoed blob in `result`, -1 if it has none.
int64_t BlobSize(const v1::TaskResult& result) {
  const auto& fields = result.output().struct_value().fields();
  auto it = fields.find("blob");
  return it == fields.end() ? -1 : it->second.string_value().size();
}

TEST_F(MessageSizeTest, OversizeResultFailsAloneAndTheStreamGoesOn) {
  constexpr size_t kBig = 2'500'000;
  constexpr size_t kSmall = 1'000;
  constexpr size_t kHuge = 5'000'000;
  std::vector<v1::TaskResult> results;
  v1::Summary summary;
  grpc::Status status =
      Execute({EchoOf(kBig), EchoOf(kBig), EchoOf(kSmall), EchoOf(kHuge)},
              &results, &summary);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": "
                           << status.error_message();
  ASSERT_EQ(results.size(), 4u);
  EXPECT_EQ(results[0].status().code(), 0) << results[0].status().message();
  EXPECT_EQ(BlobSize(results[0]), static_cast<int64_t>(kBig));
  EXPECT_EQ(results[1].status().code(), 0) << results[1].status().message();
  EXPECT_EQ(BlobSize(results[1]), static_cast<int64_t>(kBig));
  EXPECT_EQ(results[2].status().code(), 0) << results[2].status().message();
  EXPECT_EQ(BlobSize(results[2]), static_cast<int64_t>(kSmall));

  const v1::TaskResult& huge = results[3];
  EXPECT_EQ(huge.index(), 3u);
  EXPECT_EQ(huge.status().code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_FALSE(huge.has_output());
  EXPECT_TRUE(huge.payload().empty());
  EXPECT_TRUE(huge.has_finished_after());
  // The message names the result's size and the limit.
  const std::string& message = huge.status().message();
  EXPECT_NE(message.find(absl::StrCat(kMaxStreamedResultBytes)),
            std::string::npos)
      << message;
  std::smatch size;
  ASSERT_TRUE(std::regex_search(message, size, std::regex("([0-9]+) bytes")))
      << message;
  int64_t reported = 0;
  ASSERT_TRUE(absl::SimpleAtoi(size[1].str(), &reported));
  EXPECT_GT(reported, static_cast<int64_t>(kHuge)) << message;

  EXPECT_EQ(summary.progress().completed(), 4u);
}

TEST_F(MessageSizeTest, ResultsThatWouldOverflowAChunkStartTheNextOne) {
  // One at a time, so each result joins a chunk that already holds the
  // previous one, unless it would take that chunk past the limit.
  constexpr size_t kMedium = 600'000;
  constexpr size_t kNearLimit = kClientReceiveLimit - 100'000;
  static_assert(kNearLimit < kMaxStreamedResultBytes - 1'000);
  const std::vector<size_t> sizes = {kMedium, kNearLimit, kMedium, kMedium,
                                     kNearLimit};
  std::vector<v1::Task> tasks;
  for (size_t size : sizes) tasks.push_back(EchoOf(size));
  std::vector<v1::TaskResult> results;
  v1::Summary summary;
  grpc::Status status = Execute(tasks, &results, &summary, 1);
  ASSERT_TRUE(status.ok()) << status.error_code() << ": "
                           << status.error_message();
  for (size_t i = 0; i < sizes.size(); ++i) {
    EXPECT_EQ(results[i].status().code(), 0) << results[i].status().message();
    EXPECT_EQ(BlobSize(results[i]), static_cast<int64_t>(sizes[i]));
  }
  EXPECT_EQ(summary.succeeded(), sizes.size());
}

}  // namespace
}  // namespace batchexec
