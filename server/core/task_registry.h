// Task kinds by name: each an asynchronous handler with a description and an
// argument schema (served by ListTaskKinds and used to validate requests
// before anything runs). Services embedding the server register their own.
//
// Thread safety: register everything before the server starts; after that
// the registry is read-only and safe to share.
#ifndef BATCHEXEC_SERVER_CORE_TASK_REGISTRY_H_
#define BATCHEXEC_SERVER_CORE_TASK_REGISTRY_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"
#include "server/core/task_context.h"

namespace batchexec {

enum class ArgType { kNumber, kString, kBool, kObject, kList, kAny };

// The JSON type name shown to users ("number", "string", ...).
absl::string_view ArgTypeName(ArgType type);

struct ArgSpec {
  std::string name;
  ArgType type = ArgType::kAny;
  bool required = false;
  std::string description;  // meaning, unit and default
};

// Checks what the schema cannot express (ranges, formats). Returns
// INVALID_ARGUMENT naming the field and the rule.
using ArgsValidator =
    std::function<absl::Status(const google::protobuf::Struct& args)>;

struct TaskKind {
  std::string name;
  std::string description;  // one line
  std::vector<ArgSpec> args;
  TaskHandler handler;
  ArgsValidator validate;  // optional
  // The handler reads its task (args, payload) only before it returns, never
  // from callbacks that run later, and its output is never its args
  // (HandlerOutput::output_is_args). A batch of such kinds alone is kept as
  // wire bytes, each task parsed as it starts (TaskList): a waiting task
  // then holds ~33 bytes of request instead of ~460.
  bool reads_task_only_at_start = false;
};

class TaskRegistry {
 public:
  // Fails with ALREADY_EXISTS for a taken name, INVALID_ARGUMENT for an empty
  // name or a missing handler.
  absl::Status Register(TaskKind kind);

  // nullptr if no such kind.
  const TaskKind* Find(absl::string_view name) const;

  // Every kind, sorted by name.
  std::vector<const TaskKind*> List() const;

  // Checks `args` against the kind's schema (required fields present, types
  // right, no unknown fields, nesting within kMaxArgsDepth), then its own
  // validator.
  static absl::Status ValidateArgs(const TaskKind& kind,
                                   const google::protobuf::Struct& args);

 private:
  absl::flat_hash_map<std::string, std::unique_ptr<TaskKind>> kinds_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_TASK_REGISTRY_H_
