// Soak under faults: many callers send random batches for a fixed time,
// cancel some mid-stream and give others short deadlines. Every call must
// end, every completed call must have exactly one result per task, and the
// server must return to idle with no leaked memory.
//
// Short by default (bazel test); the long run:
//   bazel test //tests:soak_test --test_env=SOAK_SECONDS=600
//     --test_timeout=900 --test_output=streamed
#include <atomic>
#include <cmath>
#include <cstdlib>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "common/process_memory.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/rpc/builtin_server.h"
#include "tests/wait_until.h"

namespace batchexec {
namespace {

// Knobs from the environment (bazel test --test_env=NAME=value).
int EnvInt(const char* name, int fallback) {
  const char* value = std::getenv(name);
  return value != nullptr ? std::atoi(value) : fallback;
}

struct Totals {
  std::atomic<int64_t> calls{0}, tasks{0}, completed{0}, cancelled_calls{0},
      deadline_calls{0}, other_errors{0}, task_failures{0};
};

v1::ExecuteRequest RandomBatch(std::mt19937_64& rng, int max_batch) {
  v1::ExecuteRequest r;
  // Mostly small batches, some large: sizes spread over orders of magnitude.
  const int size = static_cast<int>(std::pow(
      10.0, std::uniform_real_distribution<>(0, std::log10(max_batch))(rng)));
  for (int i = 0; i < size; ++i) {
    v1::Task* t = r.add_tasks();
    auto& args = *t->mutable_args()->mutable_fields();
    switch (rng() % 10) {
      case 0:
        t->set_kind("fail");
        args["code"].set_number_value(1 + rng() % 16);
        break;
      case 1:
      case 2:
      case 3:
        t->set_kind("sleep");
        args["seconds"].set_number_value((rng() % 50) / 1000.0);
        break;
      default:
        t->set_kind("echo");
        args["i"].set_number_value(i);
    }
    if (rng() % 50 == 0) t->mutable_timeout()->set_nanos(5'000'000);
    t->set_id(absl::StrCat("t", i));
  }
  r.set_max_concurrency(rng() % 3 == 0 ? 0 : 1 + rng() % 200);
  r.set_failure_policy(rng() % 2 ? v1::FAIL_FAST : v1::COLLECT_ALL);
  return r;
}

// One call: reads the stream, maybe cancelling it midway. Checks the
// results of a call that ran to its end.
void OneCall(v1::BatchExecutor::Stub& stub, std::mt19937_64& rng, int max_batch,
             absl::Time soak_end, Totals& totals) {
  v1::ExecuteRequest request = RandomBatch(rng, max_batch);
  const int n = request.tasks_size();
  grpc::ClientContext context;
  const int fate = rng() % 10;  // 0-1: cancel midway, 2: short deadline
  // Even a slow random batch (10k sleeps, concurrency 1) ends soon after
  // the soak does.
  context.set_deadline(absl::ToChronoTime(
      fate == 2 ? absl::Now() + absl::Milliseconds(1 + rng() % 100)
                : std::max(soak_end, absl::Now()) + absl::Seconds(3)));
  const int cancel_after_events = fate < 2 ? 1 + rng() % 4 : -1;
  auto reader = stub.Execute(&context, request);
  std::vector<int> seen(n, 0);
  v1::ExecuteEvent event;
  int events = 0;
  bool summary = false;
  while (reader->Read(&event)) {
    ++events;
    for (const auto& r : event.results().results()) {
      ASSERT_LT(r.index(), static_cast<uint32_t>(n));
      ++seen[r.index()];
      if (r.status().code() != 0) totals.task_failures++;
    }
    if (event.has_summary()) summary = true;
    if (events == cancel_after_events) context.TryCancel();
  }
  grpc::Status status = reader->Finish();
  totals.calls++;
  totals.tasks += n;
  if (status.ok()) {
    ASSERT_TRUE(summary);
    for (int i = 0; i < n; ++i) ASSERT_EQ(seen[i], 1) << "task " << i;
    totals.completed++;
  } else if (status.error_code() == grpc::StatusCode::CANCELLED) {
    totals.cancelled_calls++;
  } else if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) {
    totals.deadline_calls++;
  } else {
    ADD_FAILURE() << "unexpected call status " << status.error_code() << ": "
                  << status.error_message();
    totals.other_errors++;
  }
  // Whatever the fate, no index may be reported twice.
  for (int i = 0; i < n; ++i) ASSERT_LE(seen[i], 1);
}

TEST(Soak, RandomBatchesCancelsAndDeadlinesLoseNothing) {
  ServerOptions options;
  options.executor.max_inflight_tasks = 5000;
  auto server = StartBuiltinServer(options);
  ASSERT_TRUE(server.ok());
  auto channel = grpc::CreateChannel((*server)->target(),
                                     grpc::InsecureChannelCredentials());
  auto stub = v1::BatchExecutor::NewStub(channel);

  const int callers = EnvInt("SOAK_CALLERS", 32);
  const int max_batch = EnvInt("SOAK_MAX_BATCH", 10000);
  auto run_for = [&](absl::Duration d, Totals& totals) {
    const absl::Time end = absl::Now() + d;
    std::vector<std::thread> threads;
    for (int t = 0; t < callers; ++t) {
      threads.emplace_back([&, t] {
        std::mt19937_64 rng(1234 + t);
        while (absl::Now() < end) OneCall(*stub, rng, max_batch, end, totals);
      });
    }
    for (auto& th : threads) th.join();
  };

  Totals warmup;
  run_for(absl::Seconds(1), warmup);
  ASSERT_TRUE((*server)->executor().WaitIdle(absl::Now() + absl::Seconds(10)));
  const int64_t warm_rss = TrimmedRss();

  Totals totals;
  const absl::Time start = absl::Now();
  run_for(absl::Seconds(EnvInt("SOAK_SECONDS", 8)), totals);
  const absl::Duration took = absl::Now() - start;

  ASSERT_TRUE((*server)->executor().WaitIdle(absl::Now() + absl::Seconds(10)))
      << "a batch never ended";
  // A slot comes back just after its task's result (and a dispatch may be
  // offering slots to a batch that is ending), so the last batch can end a
  // moment before the count reaches 0: it must get there, not be there.
  EXPECT_TRUE(WaitUntil([&] {
    return (*server)->executor().Stats().inflight_tasks() == 0;
  })) << (*server)->executor().Stats().inflight_tasks()
      << " slots held";
  const v1::ServerStats stats = (*server)->executor().Stats();
  EXPECT_EQ(stats.queued_tasks(), 0u);
  EXPECT_EQ(stats.open_batches(), 0u);
  const int64_t rss = TrimmedRss();
  std::printf(
      "SOAK seconds=%.1f callers=%d calls=%ld tasks=%ld completed_calls=%ld "
      "cancelled_calls=%ld deadline_calls=%ld task_failures=%ld "
      "warm_rss_mb=%.1f end_rss_mb=%.1f results_lost=0\n",
      absl::ToDoubleSeconds(took), callers, totals.calls.load(),
      totals.tasks.load(), totals.completed.load(),
      totals.cancelled_calls.load(), totals.deadline_calls.load(),
      totals.task_failures.load(), warm_rss / 1e6, rss / 1e6);
  EXPECT_GT(totals.completed.load(), 0);
  EXPECT_GT(totals.cancelled_calls.load() + totals.deadline_calls.load(), 0);
  EXPECT_EQ(totals.other_errors.load(), 0);
  // No leak: back within a margin of the warm baseline (allocator slack).
  if (kRssTracksHeap) {
    EXPECT_LT(rss, warm_rss + (64 << 20) + warm_rss / 4);
  }
}

}  // namespace
}  // namespace batchexec
