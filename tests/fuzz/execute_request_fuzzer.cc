// Fuzzes what a caller controls on the server: request bytes (binary proto,
// or proto3 JSON as grpcurl sends) -> validation -> a run on an executor
// whose kinds keep the built-ins' names and argument schemas but finish at
// once. Checks that a valid batch reports every task exactly once.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/util/json_util.h"
#include "server/executor.h"
#include "server/tasks/kinds.h"
#include "server/test_util/recording_sink.h"

namespace batchexec {
namespace {

// The built-in kinds' schemas and validators with instant handlers, so that
// a fuzzed `sleep: 86400` or `tcp_probe` costs nothing and touches no network.
TaskRegistry& FakeRegistry() {
  static TaskRegistry* registry = [] {
    TaskRegistry real;
    RegisterBuiltinKinds(real).IgnoreError();
    auto* fake = new TaskRegistry();
    for (const TaskKind* kind : real.List()) {
      TaskKind copy = *kind;
      copy.handler = [](std::shared_ptr<TaskContext> task) {
        if (task->args().fields().count("code")) {
          task->Finish(absl::UnknownError("fuzz failure"));
        } else {
          task->Finish(HandlerOutput{});
        }
      };
      fake->Register(std::move(copy)).IgnoreError();
    }
    return fake;
  }();
  return *registry;
}

Executor& FuzzExecutor() {
  static Executor* executor = [] {
    ExecutorOptions options;
    options.max_batch_size = 1000;
    options.max_task_concurrency = 64;
    options.max_inflight_tasks = 128;
    options.cpu_workers = 1;
    return new Executor(options, FakeRegistry());
  }();
  return *executor;
}

}  // namespace
}  // namespace batchexec

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace batchexec;
  if (size == 0) return 0;
  auto request = std::make_unique<v1::ExecuteRequest>();
  const char* bytes = reinterpret_cast<const char*>(data + 1);
  const bool parsed =
      data[0] % 2 == 0
          ? request->ParseFromArray(bytes, static_cast<int>(size - 1))
          : google::protobuf::util::JsonStringToMessage(
                std::string(bytes, size - 1), request.get())
                .ok();
  if (!parsed) return 0;
  const int n = request->tasks_size();
  // No call deadline: fuzzed timeouts run on the real timer thread, so keep
  // only requests whose tasks end quickly.
  if (request->has_task_timeout()) request->clear_task_timeout();
  for (auto& t : *request->mutable_tasks()) t.clear_timeout();
  auto sink = std::make_shared<RecordingSink>();
  auto batch =
      FuzzExecutor().Start(std::move(request), absl::InfiniteFuture(), sink);
  if (!batch.ok()) return 0;  // rejected: a clear error is all we ask
  if (!sink->WaitDone(absl::Seconds(10))) __builtin_trap();  // a batch hung
  std::vector<int> seen(n, 0);
  for (const auto& r : sink->InCompletionOrder()) {
    if (r.index() >= static_cast<uint32_t>(n)) __builtin_trap();
    if (++seen[r.index()] != 1) __builtin_trap();  // reported twice
  }
  for (int count : seen) {
    if (count != 1) __builtin_trap();  // lost
  }
  return 0;
}
