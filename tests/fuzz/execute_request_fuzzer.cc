// Fuzzes what a caller controls on the server: request bytes (binary proto,
// or proto3 JSON as grpcurl sends) -> validation -> a run on an executor
// whose kinds keep the built-ins' names and argument schemas but finish at
// once. Checks that a valid batch reports every task exactly once.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "google/protobuf/arena.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "server/core/executor.h"
#include "server/core/request_parser.h"
#include "server/core/task_list.h"
#include "server/tasks/kinds.h"
#include "server/test_util/recording_sink.h"
#include "tests/fuzz/same_message.h"

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

// The wire form of a request (SplitRequest) agrees with a plain parse of
// the same bytes: the same top-level fields, and each task, its kind and id.
void CheckWireSplit(absl::string_view bytes, const v1::ExecuteRequest& plain) {
  // The server counts the tasks first and refuses what that walk cannot
  // skip (groups, which a plain parse keeps as unknown fields).
  google::protobuf::io::ArrayInputStream stream(bytes.data(),
                                                static_cast<int>(bytes.size()));
  if (!CountTasks(stream).ok()) return;
  auto shared = std::make_shared<const std::string>(bytes);
  v1::ExecuteRequest top;
  absl::StatusOr<TaskList> tasks = SplitRequest(shared, &top);
  if (!tasks.ok()) __builtin_trap();  // the whole parsed: so must the split
  v1::ExecuteRequest expected_top = plain;
  expected_top.clear_tasks();
  if (!SameMessage(top, expected_top)) __builtin_trap();
  if (tasks->size() != plain.tasks_size()) __builtin_trap();
  google::protobuf::Arena arena;
  for (int i = 0; i < plain.tasks_size(); ++i) {
    const v1::Task* task = tasks->Get(i, &arena);
    if (task == nullptr) __builtin_trap();
    v1::ExecuteRequest a, b;
    *a.add_tasks() = *task;
    *b.add_tasks() = plain.tasks(i);
    if (!SameMessage(a, b)) __builtin_trap();
    if (tasks->Kind(i) != plain.tasks(i).kind()) __builtin_trap();
    if (tasks->Id(i) != plain.tasks(i).id()) __builtin_trap();
  }
}

// nullopt when the server would refuse the re-encoded bytes before
// splitting them: a parse keeps a group as an unknown field, and
// re-encoding writes it back, which CountTasks refuses.
std::optional<BatchRequest> WireRequest(const v1::ExecuteRequest& request) {
  auto bytes = std::make_shared<const std::string>(request.SerializeAsString());
  google::protobuf::io::ArrayInputStream stream(
      bytes->data(), static_cast<int>(bytes->size()));
  if (!CountTasks(stream).ok()) return std::nullopt;
  auto top = std::make_shared<v1::ExecuteRequest>();
  absl::StatusOr<TaskList> tasks = SplitRequest(bytes, top.get());
  if (!tasks.ok()) __builtin_trap();  // counted: so must it split
  return BatchRequest{std::move(top), *std::move(tasks)};
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
    if (!SameMessage(plain, **split)) __builtin_trap();
    request = std::shared_ptr<v1::ExecuteRequest>(arena, *split);
    CheckWireSplit(absl::string_view(bytes, size - 1), plain);
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
  // Every other binary input runs from its wire bytes (as a batch of kinds
  // that read their task at start does), re-encoded without the timeouts.
  BatchRequest batch_request;
  if (data[0] % 4 == 2) {
    std::optional<BatchRequest> wire = WireRequest(*request);
    if (!wire) return 0;
    batch_request = *std::move(wire);
  } else {
    std::shared_ptr<const v1::ExecuteRequest> parsed = std::move(request);
    batch_request = BatchRequest{parsed, TaskList(parsed)};
  }
  auto sink = std::make_shared<RecordingSink>();
  auto batch = FuzzExecutor().Start(std::move(batch_request),
                                    absl::InfiniteFuture(), sink);
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
