// A server that goes silent: stopped (SIGSTOP) mid-batch, or one that sends
// its Summary and never closes the stream. The SDK and the CLI must end the
// call, never wait forever.
#include <signal.h>
#include <sys/wait.h>

#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "client/client.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "tests/test_util/server_process.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;

const char kServer[] = "server/batchexec_server";
const char kCli[] = "cli/batchexec";

// Gathers `tasks` on a thread of its own; the outcome and when it came.
struct Outcome {
  absl::Status status;
  absl::Time ended;
};

std::thread GatherInBackground(const Client& client, int sleeps,
                               Outcome* outcome) {
  return std::thread([&client, sleeps, outcome] {
    std::vector<Task> tasks(sleeps, Task::Sleep(absl::Seconds(120)));
    outcome->status = client.Gather(std::move(tasks)).status();
    outcome->ended = absl::Now();
  });
}

// Keepalive alone (no watchdog): the stopped server leaves a ping
// unanswered, the connection closes, the call fails UNAVAILABLE.
TEST(SilentPeer, KeepaliveEndsTheGatherOfAStoppedServer) {
  testing::ServerProcess server(kServer,
                                {"--port=0", "--min_client_ping_interval=1s"});
  ASSERT_NE(server.port(), 0);
  ClientOptions options;
  options.keepalive_time = absl::Seconds(2);
  options.keepalive_timeout = absl::Seconds(2);
  options.stream_idle_timeout = absl::InfiniteDuration();
  Client client = Client::ForTargets({server.target()}, options);
  Outcome outcome;
  std::thread caller = GatherInBackground(client, 10, &outcome);
  absl::SleepFor(absl::Seconds(1));  // the batch is running
  const absl::Time stopped = absl::Now();
  server.Signal(SIGSTOP);
  caller.join();
  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kUnavailable)
      << outcome.status;
  // 2 s to the next ping, 2 s for its answer; generous for a loaded host.
  EXPECT_LT(outcome.ended - stopped, absl::Seconds(20));
  server.Signal(SIGKILL);
}

// The watchdog alone (no pings, as behind a proxy that answers them): the
// stream's silence ends the call.
TEST(SilentPeer, IdleWatchdogEndsTheGatherOfAStoppedServer) {
  testing::ServerProcess server(kServer, {"--port=0"});
  ASSERT_NE(server.port(), 0);
  ClientOptions options;
  options.keepalive_time = absl::InfiniteDuration();
  options.stream_idle_timeout = absl::Seconds(2);
  Client client(
      grpc::CreateChannel(server.target(), grpc::InsecureChannelCredentials()),
      options);
  Outcome outcome;
  std::thread caller = GatherInBackground(client, 10, &outcome);
  absl::SleepFor(absl::Seconds(1));
  const absl::Time stopped = absl::Now();
  server.Signal(SIGSTOP);
  caller.join();
  EXPECT_EQ(outcome.status.code(), absl::StatusCode::kUnavailable)
      << outcome.status;
  EXPECT_THAT(outcome.status.message(), HasSubstr("stream_idle_timeout"));
  EXPECT_LT(outcome.ended - stopped, absl::Seconds(20));
  server.Signal(SIGKILL);
}

// A quiet batch is not a silent server: a task longer than the idle timeout
// finishes, the server's heartbeat keeping the stream alive.
TEST(SilentPeer, AQuietBatchLongerThanTheIdleTimeoutSucceeds) {
  testing::ServerProcess server(kServer, {"--port=0"});
  ASSERT_NE(server.port(), 0);
  ClientOptions options;
  options.stream_idle_timeout = absl::Seconds(13);  // over the 10 s heartbeat
  Client client = Client::ForTargets({server.target()}, options);
  absl::StatusOr<std::vector<TaskOutput>> outputs =
      client.Gather({Task::Sleep(absl::Seconds(16))});
  EXPECT_TRUE(outputs.ok()) << outputs.status();
}

// The CLI binary with its defaults exits non-zero within 60 s.
TEST(SilentPeer, TheCliExitsNonZeroWithinAMinuteWhenTheServerStops) {
  testing::ServerProcess server(kServer, {"--port=0"});
  ASSERT_NE(server.port(), 0);
  const std::string command =
      absl::StrCat(kCli, " gather --progress=none --target=", server.target(),
                   " sleep:300 sleep:300 >/dev/null 2>",
                   std::getenv("TEST_TMPDIR"), "/cli.err");
  int status = -1;
  absl::Time ended;
  std::thread cli([&] {
    status = std::system(command.c_str());
    ended = absl::Now();
  });
  absl::SleepFor(absl::Seconds(2));  // the batch is running
  const absl::Time stopped = absl::Now();
  server.Signal(SIGSTOP);
  cli.join();
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_NE(WEXITSTATUS(status), 0);
  EXPECT_LT(ended - stopped, absl::Seconds(60));
  server.Signal(SIGKILL);
}

// Accepts every batch, answers each task with an empty output and a
// Summary, and then never closes the stream (until the client cancels).
class NeverClosingService final : public v1::BatchExecutor::CallbackService {
 public:
  grpc::ServerWriteReactor<v1::ExecuteEvent>* Execute(
      grpc::CallbackServerContext*,
      const v1::ExecuteRequest* request) override {
    return new Writer(request->tasks_size());
  }

 private:
  class Writer final : public grpc::ServerWriteReactor<v1::ExecuteEvent> {
   public:
    explicit Writer(int tasks) {
      events_.resize(3);
      events_[0].mutable_accepted()->set_task_count(tasks);
      for (int i = 0; i < tasks; ++i) {
        v1::TaskResult* r = events_[1].mutable_results()->add_results();
        r->set_index(i);
        r->mutable_status();
        r->mutable_output()->set_number_value(i);
        r->set_attempts(1);
      }
      events_[2].mutable_summary()->set_succeeded(tasks);
      StartWrite(&events_[next_++]);
    }
    void OnWriteDone(bool ok) override {
      if (ok && next_ < events_.size()) StartWrite(&events_[next_++]);
      // After the summary: no Finish until the client cancels.
    }
    void OnCancel() override { Finish(grpc::Status::CANCELLED); }
    void OnDone() override { delete this; }

   private:
    std::vector<v1::ExecuteEvent> events_;
    size_t next_ = 0;
  };
};

TEST(SilentPeer, AStreamThatSentItsSummaryEndsTheCallUnclosed) {
  NeverClosingService service;
  grpc::ServerBuilder builder;
  int port = 0;
  builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(),
                           &port);
  builder.RegisterService(&service);
  std::unique_ptr<grpc::Server> server = builder.BuildAndStart();
  ASSERT_NE(server, nullptr);
  Client client(grpc::CreateChannel(absl::StrCat("127.0.0.1:", port),
                                    grpc::InsecureChannelCredentials()));
  GatherOptions options;
  options.timeout = absl::Seconds(60);  // a hang fails the test, not CI
  const absl::Time start = absl::Now();
  absl::StatusOr<std::vector<TaskOutput>> outputs =
      client.Gather({Task::Echo({}), Task::Echo({}), Task::Echo({})}, options);
  const absl::Duration took = absl::Now() - start;
  ASSERT_TRUE(outputs.ok()) << outputs.status();
  ASSERT_EQ(outputs->size(), 3u);
  EXPECT_EQ((*outputs)[2].output.number_value(), 2);
  // The grace is 2 s; far under the 60 s timeout that would otherwise end it.
  EXPECT_LT(took, absl::Seconds(20));
  server->Shutdown(std::chrono::system_clock::now());
}

}  // namespace
}  // namespace batchexec
