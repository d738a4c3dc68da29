#include "server/builtin_server.h"

#include <utility>

namespace batchexec {

absl::StatusOr<std::unique_ptr<Server>> StartBuiltinServer(
    ServerOptions options, const BuiltinKindsOptions& kinds) {
  auto registry = std::make_unique<TaskRegistry>();
  if (absl::Status s = RegisterBuiltinKinds(*registry, kinds); !s.ok()) {
    return s;
  }
  return Server::BuildAndStart(std::move(options), std::move(registry));
}

}  // namespace batchexec
