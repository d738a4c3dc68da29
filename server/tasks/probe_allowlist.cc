#include "server/tasks/probe_allowlist.h"

#include <arpa/inet.h>

#include <algorithm>
#include <cstring>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace batchexec {
namespace {

constexpr uint8_t kV4MappedPrefix[12] = {0, 0, 0, 0, 0,    0,
                                         0, 0, 0, 0, 0xff, 0xff};

// In ::ffff:0:0/96, written either way: an IPv4 host.
bool IsV4Mapped(const std::array<uint8_t, 16>& bytes) {
  return std::memcmp(bytes.data(), kV4MappedPrefix, 12) == 0;
}

// Whether `a` and `b` agree on their first `bits` bits.
bool SamePrefix(const std::array<uint8_t, 16>& a,
                const std::array<uint8_t, 16>& b, int bits) {
  for (int i = 0; i < 16 && bits > 0; ++i, bits -= 8) {
    const uint8_t mask =
        bits >= 8 ? 0xff : static_cast<uint8_t>(0xff << (8 - bits));
    if ((a[i] & mask) != (b[i] & mask)) return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<IpAddress> IpAddress::Parse(absl::string_view text) {
  IpAddress out;
  std::string s(text);
  if (s == "localhost") s = "127.0.0.1";
  in_addr v4;
  in6_addr v6;
  if (inet_pton(AF_INET, s.c_str(), &v4) == 1) {
    out.is_v4 = true;
    out.bytes[10] = out.bytes[11] = 0xff;
    std::memcpy(&out.bytes[12], &v4, 4);
    return out;
  }
  if (inet_pton(AF_INET6, s.c_str(), &v6) == 1) {
    std::memcpy(out.bytes.data(), &v6, 16);
    return out;
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "'", text, "' is not a numeric IP address (or \"localhost\")"));
}

std::string IpAddress::ToString() const {
  char buf[INET6_ADDRSTRLEN];
  if (is_v4) {
    inet_ntop(AF_INET, &bytes[12], buf, sizeof buf);
  } else {
    inet_ntop(AF_INET6, bytes.data(), buf, sizeof buf);
  }
  return buf;
}

bool IpAddress::IsLoopback() const {
  static constexpr std::array<uint8_t, 16> kV6Loopback = {
      0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  if (bytes == kV6Loopback) return true;
  return IsV4Mapped(bytes) && bytes[12] == 127;
}

bool IsLoopbackHost(absl::string_view host) {
  if (absl::ConsumePrefix(&host, "[") && !absl::ConsumeSuffix(&host, "]")) {
    return false;
  }
  auto ip = IpAddress::Parse(host);
  return ip.ok() && ip->IsLoopback();
}

ProbeAllowlist ProbeAllowlist::LoopbackOnly() {
  return *Parse("127.0.0.0/8,::1/128");
}

ProbeAllowlist ProbeAllowlist::DefaultFor(absl::string_view listen_host) {
  if (IsLoopbackHost(listen_host)) return LoopbackOnly();
  ProbeAllowlist none;
  // Shown in tcp_probe's description and PERMISSION_DENIED messages.
  none.spec_ =
      "empty: the server listens beyond loopback, so only what "
      "--probe_allowlist names may be probed";
  return none;
}

absl::StatusOr<ProbeAllowlist> ProbeAllowlist::Parse(absl::string_view spec) {
  ProbeAllowlist list;
  list.spec_ = std::string(spec);
  for (absl::string_view entry :
       absl::StrSplit(spec, ',', absl::SkipWhitespace())) {
    entry = absl::StripAsciiWhitespace(entry);
    auto bad = [&](absl::string_view why) {
      return absl::InvalidArgumentError(
          absl::StrCat("allowlist entry '", entry, "': ", why));
    };
    Rule rule;
    bool has_port = false;
    absl::string_view addr = entry;
    // "[v6]:port", "v4:port", or a bare address/CIDR.
    if (absl::ConsumePrefix(&addr, "[")) {
      size_t close = addr.find(']');
      if (close == addr.npos) return bad("missing ']'");
      absl::string_view rest = addr.substr(close + 1);
      addr = addr.substr(0, close);
      if (!rest.empty()) {
        has_port = true;
        if (!absl::ConsumePrefix(&rest, ":") ||
            !absl::SimpleAtoi(rest, &rule.port))
          return bad("expected [address]:port");
      }
    } else if (std::count(addr.begin(), addr.end(), ':') == 1) {
      has_port = true;
      size_t colon = addr.find(':');
      if (!absl::SimpleAtoi(addr.substr(colon + 1), &rule.port))
        return bad("port must be a number");
      addr = addr.substr(0, colon);
    }
    // Port 0 would otherwise read as the any-port rule.
    if (has_port && rule.port == 0) {
      return bad(
          "port 0 is not a port; to allow every port, omit it (e.g. "
          "127.0.0.1 or [::1])");
    }
    if (rule.port < 0 || rule.port > 65535) return bad("port out of range");
    size_t slash = addr.find('/');
    absl::string_view host = addr.substr(0, slash);
    auto ip = IpAddress::Parse(host);
    if (!ip.ok()) return bad(ip.status().message());
    rule.network = *ip;
    int bits = ip->is_v4 ? 32 : 128;
    if (slash != addr.npos) {
      if (!absl::SimpleAtoi(addr.substr(slash + 1), &bits) || bits < 0 ||
          bits > (ip->is_v4 ? 32 : 128))
        return bad("bad prefix length");
    }
    rule.prefix_bits = ip->is_v4 ? 96 + bits : bits;
    // Mapped form with /96 or longer: an IPv4 rule. Any other IPv6 rule
    // covers IPv6 only, however short its prefix.
    rule.v4 = IsV4Mapped(rule.network.bytes) && rule.prefix_bits >= 96;
    if (!rule.v4 && SamePrefix(rule.network.bytes,
                               {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff},
                               std::min(rule.prefix_bits, 96))) {
      list.warnings_.push_back(absl::StrCat(
          "allowlist entry '", entry,
          "' is an IPv6 rule: it spans the IPv4-mapped range ::ffff:0:0/96 "
          "but admits no IPv4 address (loopback and 169.254.169.254 "
          "included); to allow IPv4, list IPv4 rules (e.g. 10.0.0.0/8)"));
    }
    list.rules_.push_back(rule);
  }
  return list;
}

bool ProbeAllowlist::Allows(const IpAddress& address, int port) const {
  // The family is the bytes': "::ffff:127.0.0.1" parsed as IPv6 reaches the
  // IPv4 host 127.0.0.1.
  const bool v4 = IsV4Mapped(address.bytes);
  for (const Rule& rule : rules_) {
    if (rule.v4 != v4) continue;
    if (rule.port != 0 && rule.port != port) continue;
    if (SamePrefix(address.bytes, rule.network.bytes, rule.prefix_bits)) {
      return true;
    }
  }
  return false;
}

}  // namespace batchexec
