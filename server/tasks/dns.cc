// The dns kind: looks a name up (hosts file, then DNS) with the server's
// shared c-ares resolver; no thread is held while it waits. Tasks cannot
// name a server: only the operator's --dns_servers (or resolv.conf) is
// asked, so the probe allowlist has no server to check; --dns_allowlist
// restricts the names.
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/tasks/args.h"
#include "server/tasks/dns_resolver.h"
#include "server/tasks/kinds.h"

namespace batchexec {
namespace {

constexpr double kDefaultDnsTimeoutSeconds = 5.0;
constexpr double kMaxDnsTimeoutSeconds = 60.0;

absl::StatusOr<AddressFamily> ParseFamily(absl::string_view family) {
  if (family == "any") return AddressFamily::kAny;
  if (family == "ipv4") return AddressFamily::kIpv4;
  if (family == "ipv6") return AddressFamily::kIpv6;
  return absl::InvalidArgumentError(absl::StrCat(
      "args.family must be any, ipv4 or ipv6, got '", family, "'"));
}

absl::Status ValidateDnsArgs(const google::protobuf::Struct& args) {
  if (absl::Status s = CheckHostName(StringArg(args, "name")); !s.ok()) {
    return absl::InvalidArgumentError(absl::StrCat("args.name ", s.message()));
  }
  if (auto family = ParseFamily(StringArg(args, "family", "any"));
      !family.ok()) {
    return family.status();
  }
  double timeout = NumberArg(args, "timeout", kDefaultDnsTimeoutSeconds);
  if (!(timeout > 0 && timeout <= kMaxDnsTimeoutSeconds)) {
    return absl::InvalidArgumentError(
        absl::StrCat("args.timeout must be in (0, ", kMaxDnsTimeoutSeconds,
                     "] seconds, got ", timeout));
  }
  return absl::OkStatus();
}

absl::StatusOr<TaskKind> DnsKind(const BuiltinKindsOptions& options) {
  std::shared_ptr<DnsResolver> resolver = options.dns_resolver;
  if (resolver == nullptr) {
    return absl::FailedPreconditionError("dns: no resolver (kinds.h)");
  }
  const DnsAllowlist allowlist = options.dns_allowlist;
  TaskKind kind;
  kind.name = "dns";
  kind.description = absl::StrCat(
      "Looks a name up (hosts file, then DNS",
      resolver->servers().empty() ? ""
                                  : absl::StrCat(" at ", resolver->servers()),
      "); returns {addresses, latency_ms}. No such name: NOT_FOUND; no "
      "resolver answers: UNAVAILABLE; past timeout: DEADLINE_EXCEEDED",
      allowlist.allows_any()
          ? "."
          : absl::StrCat("; a name outside --dns_allowlist (", allowlist.spec(),
                         "): PERMISSION_DENIED."));
  kind.args = {
      {"name", ArgType::kString, true,
       absl::StrCat("host name to look up (at most ", kMaxHostNameBytes,
                    " bytes), or a numeric address")},
      {"family", ArgType::kString, false,
       "\"any\" (default), \"ipv4\" (A records) or \"ipv6\" (AAAA records)"},
      {"timeout", ArgType::kNumber, false,
       absl::StrCat("seconds to wait for an answer (default ",
                    kDefaultDnsTimeoutSeconds, ", max ", kMaxDnsTimeoutSeconds,
                    ")")},
  };
  kind.validate = ValidateDnsArgs;
  kind.reads_task_only_at_start = true;  // args are copied out here
  kind.handler = [resolver, allowlist](std::shared_ptr<TaskContext> task) {
    const std::string name = StringArg(task->args(), "name");
    if (!allowlist.Allows(name)) {
      return task->Finish(absl::PermissionDeniedError(
          absl::StrCat("dns: '", name, "' is not under --dns_allowlist (",
                       allowlist.spec(), ")")));
    }
    const AddressFamily family =
        *ParseFamily(StringArg(task->args(), "family", "any"));
    const absl::Duration timeout = absl::Seconds(
        NumberArg(task->args(), "timeout", kDefaultDnsTimeoutSeconds));
    const absl::Time start = absl::Now();
    auto done = [task, start](absl::StatusOr<std::vector<IpAddress>> found) {
      if (!found.ok()) {
        return task->Finish(
            absl::Status(found.status().code(),
                         absl::StrCat("dns: ", found.status().message())));
      }
      HandlerOutput out;
      auto& f = *out.output.mutable_struct_value()->mutable_fields();
      auto* list = f["addresses"].mutable_list_value();
      for (const IpAddress& ip : *found) {
        list->add_values()->set_string_value(ip.ToString());
      }
      f["latency_ms"].set_number_value(
          absl::ToDoubleMilliseconds(absl::Now() - start));
      task->Finish(std::move(out));
    };
    auto lookup = resolver->Resolve(name, family, timeout, std::move(done));
    // Dropped by Finish: the lookup's callback holds the task, not the
    // other way round for long.
    task->OnCancel([lookup] { lookup->Cancel(); });
  };
  return kind;
}

[[maybe_unused]] const bool kRegistered = AddBuiltinKind(&DnsKind);

}  // namespace

}  // namespace batchexec
