// ServerOptions::Validate, and what StartBuiltinServer does with invalid
// options and with the host it listens on.
#include "server/rpc/builtin_server.h"

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "gtest/gtest.h"
#include "server/rpc/server.h"
#include "server/test_util/recording_sink.h"

namespace batchexec {
namespace {

TEST(ServerOptionsValidate, AcceptsTheDefaults) {
  EXPECT_TRUE(ServerOptions{}.Validate().ok());
  ServerOptions edge;
  edge.executor.cpu_workers = 0;  // one per core
  edge.min_client_ping_interval = absl::ZeroDuration();
  EXPECT_TRUE(edge.Validate().ok());
}

TEST(ServerOptionsValidate, RejectsLimitsThatCannotWorkNamingTheField) {
  struct Case {
    const char* field;
    void (*set)(ServerOptions&);
  };
  const Case cases[] = {
      {"max_task_concurrency",
       [](ServerOptions& o) { o.executor.max_task_concurrency = 0; }},
      {"max_inflight_tasks",
       [](ServerOptions& o) { o.executor.max_inflight_tasks = -1; }},
      {"max_queued_tasks",
       [](ServerOptions& o) { o.executor.max_queued_tasks = 0; }},
      {"max_open_batches",
       [](ServerOptions& o) { o.executor.max_open_batches = 0; }},
      {"max_batch_size",
       [](ServerOptions& o) { o.executor.max_batch_size = 0; }},
      {"max_request_memory",
       [](ServerOptions& o) { o.executor.max_request_memory = 0; }},
      {"max_request_memory_per_caller",
       [](ServerOptions& o) { o.executor.max_request_memory_per_caller = -1; }},
      {"cpu_workers", [](ServerOptions& o) { o.executor.cpu_workers = -1; }},
      {"max_receive_message_bytes",
       [](ServerOptions& o) { o.max_receive_message_bytes = 0; }},
      {"max_concurrent_streams",
       [](ServerOptions& o) { o.max_concurrent_streams = 0; }},
      {"keepalive_time",
       [](ServerOptions& o) { o.keepalive_time = absl::ZeroDuration(); }},
      {"keepalive_time",
       [](ServerOptions& o) { o.keepalive_time = absl::InfiniteDuration(); }},
      {"keepalive_timeout",
       [](ServerOptions& o) { o.keepalive_timeout = -absl::Seconds(1); }},
      {"min_client_ping_interval",
       [](ServerOptions& o) {
         o.min_client_ping_interval = -absl::Seconds(1);
       }},
  };
  for (const Case& c : cases) {
    ServerOptions options;
    c.set(options);
    absl::Status s = options.Validate();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_TRUE(absl::StartsWith(s.message(), c.field)) << s;
  }
}

TEST(StartBuiltinServer, RefusesZeroInflightTasksWithInvalidArgument) {
  ServerOptions options;
  options.executor.max_inflight_tasks = 0;
  auto server = StartBuiltinServer(options);
  ASSERT_FALSE(server.ok());
  EXPECT_EQ(server.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(server.status().message().find("max_inflight_tasks"),
            std::string::npos)
      << server.status();
}

// Runs one tcp_probe of host:port on `server`; the task's status code.
int ProbeCode(Server& server, const std::string& host, int port) {
  auto request = std::make_shared<v1::ExecuteRequest>();
  v1::Task* task = request->add_tasks();
  task->set_kind("tcp_probe");
  auto& args = *task->mutable_args()->mutable_fields();
  args["host"].set_string_value(host);
  args["port"].set_number_value(port);
  auto sink = std::make_shared<RecordingSink>();
  auto batch = server.executor().Start(request, absl::InfiniteFuture(), sink);
  EXPECT_TRUE(batch.ok()) << batch.status();
  if (!batch.ok() || !sink->WaitDone()) return -1;
  return sink->ByIndex().at(0).status().code();
}

TEST(StartBuiltinServer, OnEveryInterfaceDeniesProbesOfItsOwnLoopback) {
  ServerOptions options;
  options.address = "0.0.0.0:0";
  auto server = StartBuiltinServer(options);
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(ProbeCode(**server, "127.0.0.1", (*server)->port()),
            static_cast<int>(absl::StatusCode::kPermissionDenied));
}

TEST(StartBuiltinServer, OnLoopbackProbesLoopbackByDefault) {
  auto server = StartBuiltinServer(ServerOptions{});
  ASSERT_TRUE(server.ok()) << server.status();
  EXPECT_EQ(ProbeCode(**server, "127.0.0.1", (*server)->port()), 0);
}

}  // namespace
}  // namespace batchexec
