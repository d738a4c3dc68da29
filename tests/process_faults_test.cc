// Process faults: the server binary killed or stopped while batches run.
// Callers must never hang, and a restarted server must serve again.
#include <signal.h>

#include <string>
#include <thread>

#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "client/client.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/test_util/health_check.h"
#include "tests/test_util/server_process.h"

namespace batchexec {
namespace {

const char kServer[] = "server/batchexec_server";

v1::ExecuteRequest Sleeps(int n, double seconds) {
  v1::ExecuteRequest r;
  for (int i = 0; i < n; ++i) {
    v1::Task* t = r.add_tasks();
    t->set_kind("sleep");
    (*t->mutable_args()->mutable_fields())["seconds"].set_number_value(seconds);
  }
  return r;
}

struct CallOutcome {
  grpc::Status status;
  bool got_summary = false;
  int results = 0;
};

CallOutcome RunExecute(v1::BatchExecutor::Stub& stub,
                       const v1::ExecuteRequest& r) {
  grpc::ClientContext context;
  context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(60)));
  auto reader = stub.Execute(&context, r);
  CallOutcome out;
  v1::ExecuteEvent e;
  while (reader->Read(&e)) {
    out.results += e.results().results_size();
    if (e.has_summary()) out.got_summary = true;
  }
  out.status = reader->Finish();
  return out;
}

TEST(ProcessFaults, KilledServerEndsTheSdkCallPromptlyAndARestartServes) {
  int port;
  {
    testing::ServerProcess server(kServer, {"--port=0"});
    ASSERT_NE(server.port(), 0);
    port = server.port();
    Client client(grpc::CreateChannel(server.target(),
                                      grpc::InsecureChannelCredentials()));
    absl::Status status;
    absl::Time ended;
    std::thread caller([&] {
      std::vector<Task> tasks(100, Task::Sleep(absl::Seconds(30)));
      status = client.Gather(std::move(tasks)).status();
      ended = absl::Now();
    });
    absl::SleepFor(absl::Milliseconds(500));  // the batch is running
    const absl::Time killed = absl::Now();
    server.Signal(SIGKILL);
    caller.join();
    EXPECT_EQ(status.code(), absl::StatusCode::kUnavailable) << status;
    EXPECT_LT(ended - killed, absl::Seconds(5));
    EXPECT_EQ(server.Wait(), 128 + SIGKILL);
  }
  // Same port, new process: the same kind of call works again.
  testing::ServerProcess restarted(kServer, {absl::StrCat("--port=", port)});
  ASSERT_EQ(restarted.port(), port);
  Client client(grpc::CreateChannel(restarted.target(),
                                    grpc::InsecureChannelCredentials()));
  std::vector<Task> tasks(10, Task::Sleep(absl::Milliseconds(50)));
  auto outputs = client.Gather(std::move(tasks));
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  EXPECT_EQ(outputs->size(), 10u);
}

TEST(ProcessFaults, SigtermDrainsWithinTheGraceAndExitsZero) {
  // No drain delay: the grace alone, as before --drain_delay.
  testing::ServerProcess server(
      kServer, {"--port=0", "--shutdown_grace=1s", "--drain_delay=0"});
  ASSERT_NE(server.port(), 0);
  auto stub = v1::BatchExecutor::NewStub(
      grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials()));
  CallOutcome short_call, long_call;
  std::thread a([&] { short_call = RunExecute(*stub, Sleeps(5, 0.5)); });
  std::thread b([&] { long_call = RunExecute(*stub, Sleeps(5, 60)); });
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  server.Signal(SIGTERM);
  a.join();
  b.join();
  EXPECT_EQ(server.Wait(), 0);
  EXPECT_LT(absl::Now() - start, absl::Seconds(8));
  // The short batch finished within the grace: all results and a summary.
  EXPECT_TRUE(short_call.status.ok()) << short_call.status.error_message();
  EXPECT_TRUE(short_call.got_summary);
  EXPECT_EQ(short_call.results, 5);
  // The long one was cancelled after the grace: every task still reported.
  EXPECT_EQ(long_call.status.error_code(), grpc::StatusCode::CANCELLED)
      << long_call.status.error_message();
  EXPECT_TRUE(long_call.got_summary);
  EXPECT_EQ(long_call.results, 5);
}

TEST(ProcessFaults, DuringTheDrainDelayNewConnectionsSeeNotServingAndBatches) {
  testing::ServerProcess server(
      kServer, {"--port=0", "--drain_delay=2s", "--shutdown_grace=3s"});
  ASSERT_NE(server.port(), 0);
  auto stub = v1::BatchExecutor::NewStub(
      grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials()));
  CallOutcome running;
  std::thread a([&] { running = RunExecute(*stub, Sleeps(3, 1.0)); });
  absl::SleepFor(absl::Milliseconds(200));  // the batch is running
  const absl::Time start = absl::Now();
  server.Signal(SIGTERM);
  absl::SleepFor(absl::Milliseconds(300));

  // A connection made after SIGTERM (a fresh channel: a new TCP connection)
  // is accepted and told NOT_SERVING, not refused.
  grpc::ChannelArguments fresh;
  fresh.SetInt("batchexec.test.unique", 1);  // no subchannel sharing
  auto probe = grpc::CreateCustomChannel(
      server.target(), grpc::InsecureChannelCredentials(), fresh);
  absl::StatusOr<int> health = testing::CheckHealth(probe);
  ASSERT_TRUE(health.ok()) << health.status();
  EXPECT_EQ(*health, testing::kNotServing);
  EXPECT_EQ(*testing::CheckHealth(probe, "batchexec.v1.BatchExecutor"),
            testing::kNotServing);
  // New batches are refused with UNAVAILABLE, which clients retry elsewhere.
  auto probe_stub = v1::BatchExecutor::NewStub(probe);
  CallOutcome refused = RunExecute(*probe_stub, Sleeps(1, 0.01));
  EXPECT_EQ(refused.status.error_code(), grpc::StatusCode::UNAVAILABLE)
      << refused.status.error_message();

  // The running batch finishes whole; the process exits 0 within
  // delay + grace (plus slack for the last steps).
  a.join();
  EXPECT_TRUE(running.status.ok()) << running.status.error_message();
  EXPECT_TRUE(running.got_summary);
  EXPECT_EQ(running.results, 3);
  EXPECT_EQ(server.Wait(), 0);
  const absl::Duration took = absl::Now() - start;
  EXPECT_GE(took, absl::Milliseconds(1900));  // the delay was kept
  EXPECT_LT(took, absl::Seconds(2 + 3 + 2));
}

}  // namespace
}  // namespace batchexec
