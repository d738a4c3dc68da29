// Which names the `dns` kind may look up, so a deployment can keep tasks
// from probing names outside its own zones (or using the server to learn
// what an internal resolver knows). Entries are name suffixes, compared
// case-insensitively and without a final dot:
//   "example.com"          example.com itself and every name under it
//   ".svc.cluster.local"   only names under svc.cluster.local
// An empty list allows any name (the default). Numeric addresses are always
// allowed: they are answered without asking anyone.
#ifndef BATCHEXEC_SERVER_TASKS_DNS_ALLOWLIST_H_
#define BATCHEXEC_SERVER_TASKS_DNS_ALLOWLIST_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace batchexec {

class DnsAllowlist {
 public:
  // Any name.
  DnsAllowlist() = default;
  // A comma-separated list of suffixes; "" = any name. INVALID_ARGUMENT
  // naming the bad entry if one is not a host name.
  static absl::StatusOr<DnsAllowlist> Parse(absl::string_view spec);

  bool allows_any() const { return suffixes_.empty(); }
  bool Allows(absl::string_view name) const;
  // The list as given ("" = any), for messages.
  const std::string& spec() const { return spec_; }

 private:
  struct Suffix {
    std::string name;  // lower case, no leading or final dot
    bool subdomains_only = false;
  };
  std::vector<Suffix> suffixes_;
  std::string spec_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_DNS_ALLOWLIST_H_
