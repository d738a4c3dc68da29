// Fuzzes every kind's argument checks, grpc_health's included: byte 0 picks
// a kind, the rest is its `args` as JSON. The checks must answer OK or
// INVALID_ARGUMENT naming the field, give the same answer twice, and leave
// the handlers' assumptions true when they pass (grpc_health dereferences
// its parsed target).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"
#include "server/core/task_registry.h"
#include "server/tasks/args.h"
#include "server/tasks/grpc_health_schema.h"
#include "server/tasks/host_port.h"
#include "server/tasks/kinds.h"

namespace batchexec {
namespace {

TaskRegistry* NewRegistry() {
  auto* registry = new TaskRegistry();
  RegisterBuiltinKinds(*registry).IgnoreError();
  TaskKind health = GrpcHealthSchema("loopback");
  health.handler = [](std::shared_ptr<TaskContext>) {};
  registry->Register(std::move(health)).IgnoreError();
  return registry;
}

// Every kind, in name order; both statics live as long as the process.
const std::vector<const TaskKind*>& Kinds() {
  static TaskRegistry* registry = NewRegistry();
  static auto* kinds = new std::vector<const TaskKind*>(registry->List());
  return *kinds;
}

}  // namespace
}  // namespace batchexec

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace batchexec;
  if (size == 0) return 0;
  const auto& kinds = Kinds();
  const TaskKind& kind = *kinds[data[0] % kinds.size()];
  google::protobuf::Struct args;
  if (!google::protobuf::util::JsonStringToMessage(
           std::string(reinterpret_cast<const char*>(data + 1), size - 1),
           &args)
           .ok()) {
    return 0;
  }
  const absl::Status status = TaskRegistry::ValidateArgs(kind, args);
  if (status != TaskRegistry::ValidateArgs(kind, args)) __builtin_trap();
  if (!status.ok()) {
    if (status.code() != absl::StatusCode::kInvalidArgument) __builtin_trap();
    // Every refusal names the argument it is about.
    if (status.message().find("args") == absl::string_view::npos &&
        status.message().find("payload") == absl::string_view::npos) {
      __builtin_trap();
    }
    return 0;
  }
  if (kind.name == "grpc_health" &&
      !ParseHostPort(StringArg(args, "target")).ok()) {
    __builtin_trap();
  }
  return 0;
}
