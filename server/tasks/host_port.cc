#include "server/tasks/host_port.h"

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "server/tasks/dns_resolver.h"
#include "server/tasks/probe_allowlist.h"

namespace batchexec {

std::string HostPort::ToString() const {
  return host.find(':') != std::string::npos
             ? absl::StrCat("[", host, "]:", port)
             : absl::StrCat(host, ":", port);
}

absl::StatusOr<HostPort> ParseHostPort(absl::string_view target) {
  HostPort out;
  absl::string_view host, port;
  if (!target.empty() && target.front() == '[') {
    const size_t close = target.find(']');
    if (close == target.npos || close + 1 >= target.size() ||
        target[close + 1] != ':') {
      return absl::InvalidArgumentError(
          absl::StrCat("'", target, "' must be [IPv6]:port"));
    }
    host = target.substr(1, close - 1);
    port = target.substr(close + 2);
    if (auto ip = IpAddress::Parse(host); !ip.ok() || ip->is_v4) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", target, "': brackets hold an IPv6 address"));
    }
  } else {
    const size_t colon = target.rfind(':');
    if (colon == target.npos) {
      return absl::InvalidArgumentError(
          absl::StrCat("'", target, "' must be host:port"));
    }
    host = target.substr(0, colon);
    port = target.substr(colon + 1);
    if (host.find(':') != host.npos) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", target, "': an IPv6 address goes in brackets, [::1]:port"));
    }
    if (absl::Status s = CheckHostName(host); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("host ", s.message()));
    }
  }
  if (port.empty() || port.front() == '+' ||
      !absl::SimpleAtoi(port, &out.port) || out.port < 1 || out.port > 65535) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", target, "' needs a port 1..65535"));
  }
  out.host = std::string(host);
  return out;
}

}  // namespace batchexec
