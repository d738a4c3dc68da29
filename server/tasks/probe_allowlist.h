// Which addresses network-touching kinds may reach, so the server cannot be
// used as an open proxy or a scanner. Entries are CIDRs (any port) or
// address:port pairs (port 1..65535); IPv6 addresses with a port go in
// brackets:
//   "127.0.0.0/8,::1/128"   (loopback only: the default on a loopback server)
//   "10.0.0.5:8080,[::1]:9000,192.0.2.0/24"
//
// A rule covers one address family. IPv4 is stored as IPv4-mapped IPv6, so
// a bare prefix match would let an IPv6 rule such as "::/0" (or "::/8")
// admit every IPv4 address, loopback and 169.254.169.254 included, without
// the operator ever writing an IPv4 rule. Instead an IPv6 rule matches only
// IPv6 addresses, and IPv4 ones (an IPv4-mapped target such as
// "::ffff:127.0.0.1" included: it reaches the IPv4 host) only IPv4 rules. A
// rule written in IPv4-mapped form with a prefix of /96 or longer
// ("::ffff:10.0.0.0/104") is the IPv4 rule it maps. We split rather than
// refuse: "::/0" is a reasonable way to say "any IPv6", and a flag to make
// it mean "IPv4 too" would keep the trap. Warnings() names each rule whose
// range spans the mapped range, for the server to print at start.
#ifndef BATCHEXEC_SERVER_TASKS_PROBE_ALLOWLIST_H_
#define BATCHEXEC_SERVER_TASKS_PROBE_ALLOWLIST_H_

#include <netinet/in.h>

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace batchexec {

// An IPv4 or IPv6 address, IPv4 stored as IPv4-mapped IPv6.
struct IpAddress {
  std::array<uint8_t, 16> bytes{};
  bool is_v4 = false;

  // Parses a numeric address, or "localhost" (127.0.0.1). No DNS lookups:
  // they would block and let a name move the check elsewhere.
  static absl::StatusOr<IpAddress> Parse(absl::string_view text);
  std::string ToString() const;
  // 127.0.0.0/8, ::1, or 127.0.0.0/8 in IPv4-mapped form.
  bool IsLoopback() const;
};

// Whether a server listening on `host` ("127.0.0.1", "[::1]", "localhost",
// "0.0.0.0", ...) can only be reached from this machine. Names other than
// "localhost" count as reachable from elsewhere.
bool IsLoopbackHost(absl::string_view host);

class ProbeAllowlist {
 public:
  static ProbeAllowlist LoopbackOnly();
  // The allowlist when the operator names none, for a server listening on
  // `listen_host`: loopback only if only loopback clients can call it;
  // otherwise nothing, so remote callers cannot probe the services this
  // host keeps on loopback.
  static ProbeAllowlist DefaultFor(absl::string_view listen_host);
  // Parses a comma-separated list; INVALID_ARGUMENT naming the bad entry.
  static absl::StatusOr<ProbeAllowlist> Parse(absl::string_view spec);

  bool Allows(const IpAddress& address, int port) const;
  const std::string& spec() const { return spec_; }
  // One line per IPv6 rule that spans the IPv4-mapped range (e.g. "::/0"),
  // saying that it covers no IPv4 address.
  const std::vector<std::string>& Warnings() const { return warnings_; }

 private:
  struct Rule {
    IpAddress network;
    int prefix_bits = 128;  // over the 16-byte form
    int port = 0;           // 0 = any port (entries may not name port 0)
    bool v4 = false;        // matches IPv4 (and IPv4-mapped) addresses only
  };
  std::vector<Rule> rules_;
  std::string spec_;
  std::vector<std::string> warnings_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_PROBE_ALLOWLIST_H_
