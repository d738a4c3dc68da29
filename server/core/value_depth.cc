#include "server/core/value_depth.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/core/limits.h"

namespace batchexec {
namespace {

using google::protobuf::Struct;
using google::protobuf::Value;

// A value and the number of containers around it.
using Pending = std::pair<const Value*, int>;

void PushFields(const Struct& object, int depth, std::vector<Pending>& stack) {
  for (const auto& field : object.fields()) {
    stack.emplace_back(&field.second, depth);
  }
}

// The deepest container depth under `stack`. An explicit stack rather than
// recursion: a handler may build outputs deeper than the thread's stack.
int Deepest(std::vector<Pending> stack, int deepest) {
  while (!stack.empty()) {
    const auto [value, around] = stack.back();
    stack.pop_back();
    switch (value->kind_case()) {
      case Value::kStructValue:
        deepest = std::max(deepest, around + 1);
        PushFields(value->struct_value(), around + 1, stack);
        break;
      case Value::kListValue:
        deepest = std::max(deepest, around + 1);
        for (const Value& element : value->list_value().values()) {
          stack.emplace_back(&element, around + 1);
        }
        break;
      default:
        break;
    }
  }
  return deepest;
}

}  // namespace

int ValueDepth(const Value& value) { return Deepest({{&value, 0}}, 0); }

int StructDepth(const Struct& object) {
  std::vector<Pending> stack;
  PushFields(object, 1, stack);
  return Deepest(std::move(stack), 1);
}

absl::Status CheckArgsDepth(const Struct& args) {
  const int depth = StructDepth(args);
  if (depth <= kMaxArgsDepth) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("args nest ", depth, " levels deep, more than the limit of ",
                   kMaxArgsDepth, " (each object or list is a level)"));
}

absl::Status CheckOutputDepth(const Value& output) {
  const int depth = ValueDepth(output);
  if (depth <= kMaxArgsDepth) return absl::OkStatus();
  return absl::InternalError(
      absl::StrCat("the task's output nests ", depth,
                   " levels deep, more than the limit of ", kMaxArgsDepth,
                   ": clients could not parse it"));
}

}  // namespace batchexec
