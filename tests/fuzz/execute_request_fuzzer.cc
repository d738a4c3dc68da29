// Fuzzes what a caller controls on the server: request bytes (binary proto,
// or proto3 JSON as grpcurl sends) -> validation -> a run on an executor
// whose kinds keep the built-ins' names and argument schemas but finish at
// once. Checks that a valid batch reports every task exactly once.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "google/protobuf/arena.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/json_util.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/core/executor.h"
#include "server/core/request_parser.h"
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

// Equal field by field; a NaN argument equals itself here.
bool SameRequest(const v1::ExecuteRequest& a, const v1::ExecuteRequest& b) {
  google::protobuf::util::DefaultFieldComparator fields;
  fields.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differ;
  differ.set_field_comparator(&fields);
  return differ.Compare(a, b);
}

WorkerPool& FuzzHelpers() {
  static WorkerPool* pool = new WorkerPool(1);
  return *pool;
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
  const char* bytes = reinterpret_cast<const char*>(data + 1);
  std::shared_ptr<v1::ExecuteRequest> request;
  if (data[0] % 2 == 0) {
    // The server's parser, forced to split any request in two, must agree
    // with a plain parse.
    auto arena = std::make_shared<google::protobuf::Arena>();
    auto split = ParseRequest(absl::string_view(bytes, size - 1), arena.get(),
                              &FuzzHelpers(), 1);
    v1::ExecuteRequest plain;
    const bool plain_ok =
        plain.ParseFromArray(bytes, static_cast<int>(size - 1));
    if (split.ok() != plain_ok) __builtin_trap();
    if (!plain_ok) return 0;
    if (!SameRequest(plain, **split)) __builtin_trap();
    request = std::shared_ptr<v1::ExecuteRequest>(arena, *split);
  } else {
    request = std::make_shared<v1::ExecuteRequest>();
    if (!google::protobuf::util::JsonStringToMessage(
             std::string(bytes, size - 1), request.get())
             .ok()) {
      return 0;
    }
  }
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
