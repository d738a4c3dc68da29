#include "server/core/task_registry.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "server/core/value_depth.h"

namespace batchexec {
namespace {

bool HasType(const google::protobuf::Value& value, ArgType type) {
  using google::protobuf::Value;
  switch (type) {
    case ArgType::kNumber:
      return value.kind_case() == Value::kNumberValue;
    case ArgType::kString:
      return value.kind_case() == Value::kStringValue;
    case ArgType::kBool:
      return value.kind_case() == Value::kBoolValue;
    case ArgType::kObject:
      return value.kind_case() == Value::kStructValue;
    case ArgType::kList:
      return value.kind_case() == Value::kListValue;
    case ArgType::kAny:
      return true;
  }
  return false;
}

}  // namespace

absl::string_view ArgTypeName(ArgType type) {
  switch (type) {
    case ArgType::kNumber:
      return "number";
    case ArgType::kString:
      return "string";
    case ArgType::kBool:
      return "bool";
    case ArgType::kObject:
      return "object";
    case ArgType::kList:
      return "list";
    case ArgType::kAny:
      return "any";
  }
  return "any";
}

absl::Status TaskRegistry::Register(TaskKind kind) {
  if (kind.name.empty()) {
    return absl::InvalidArgumentError("task kind name must not be empty");
  }
  if (!kind.handler) {
    return absl::InvalidArgumentError(
        absl::StrCat("task kind '", kind.name, "' has no handler"));
  }
  std::string name = kind.name;
  auto [it, inserted] =
      kinds_.emplace(name, std::make_unique<TaskKind>(std::move(kind)));
  if (!inserted) {
    return absl::AlreadyExistsError(
        absl::StrCat("task kind '", name, "' is already registered"));
  }
  return absl::OkStatus();
}

const TaskKind* TaskRegistry::Find(absl::string_view name) const {
  auto it = kinds_.find(name);
  return it == kinds_.end() ? nullptr : it->second.get();
}

std::vector<const TaskKind*> TaskRegistry::List() const {
  std::vector<const TaskKind*> out;
  out.reserve(kinds_.size());
  for (const auto& [name, kind] : kinds_) out.push_back(kind.get());
  std::sort(out.begin(), out.end(), [](const TaskKind* a, const TaskKind* b) {
    return a->name < b->name;
  });
  return out;
}

absl::Status TaskRegistry::ValidateArgs(const TaskKind& kind,
                                        const google::protobuf::Struct& args) {
  // First, for every kind: echo would send deeper args back in a response
  // that clients could not parse.
  if (absl::Status depth = CheckArgsDepth(args); !depth.ok()) return depth;
  for (const ArgSpec& spec : kind.args) {
    auto it = args.fields().find(spec.name);
    if (it == args.fields().end()) {
      if (spec.required) {
        return absl::InvalidArgumentError(absl::StrCat(
            "args.", spec.name, " is required by kind '", kind.name, "'"));
      }
      continue;
    }
    if (!HasType(it->second, spec.type)) {
      return absl::InvalidArgumentError(
          absl::StrCat("args.", spec.name, " must be a ",
                       ArgTypeName(spec.type), " for kind '", kind.name, "'"));
    }
  }
  // Only kinds that declare arguments reject unknown ones: `echo` takes any.
  if (!kind.args.empty()) {
    for (const auto& field : args.fields()) {
      const std::string& name = field.first;
      bool known =
          std::any_of(kind.args.begin(), kind.args.end(),
                      [&](const ArgSpec& s) { return s.name == name; });
      if (!known) {
        std::vector<std::string> names;
        for (const ArgSpec& s : kind.args) names.push_back(s.name);
        return absl::InvalidArgumentError(absl::StrCat(
            "args.", name, " is not an argument of kind '", kind.name,
            "' (it takes: ", absl::StrJoin(names, ", "), ")"));
      }
    }
  }
  if (kind.validate) return kind.validate(args);
  return absl::OkStatus();
}

}  // namespace batchexec
