#include <vector>

#include "server/tasks/kinds.h"

namespace batchexec {
namespace {

// Filled before main by the kinds' files; read-only afterwards. A function
// static, so it exists whichever file initializes first.
std::vector<BuiltinKindFactory>& Factories() {
  static auto* factories = new std::vector<BuiltinKindFactory>();
  return *factories;
}

}  // namespace

bool AddBuiltinKind(BuiltinKindFactory factory) {
  Factories().push_back(factory);
  return true;
}

absl::Status RegisterBuiltinKinds(TaskRegistry& registry,
                                  const BuiltinKindsOptions& given) {
  BuiltinKindsOptions options = given;
  if (options.dns_resolver == nullptr) {
    auto resolver = DnsResolver::Create({options.dns_servers});
    if (!resolver.ok()) return resolver.status();
    options.dns_resolver = *std::move(resolver);
  }
  for (BuiltinKindFactory factory : Factories()) {
    absl::StatusOr<TaskKind> kind = factory(options);
    if (!kind.ok()) return kind.status();
    if (absl::Status s = registry.Register(*std::move(kind)); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace batchexec
