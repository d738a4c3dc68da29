// "host:port" targets of network kinds: split and checked before anything
// runs, with no lookup.
#ifndef BATCHEXEC_SERVER_TASKS_HOST_PORT_H_
#define BATCHEXEC_SERVER_TASKS_HOST_PORT_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace batchexec {

struct HostPort {
  std::string host;  // a host name or a numeric address, without brackets
  int port = 0;      // 1..65535

  // "host:port", with an IPv6 address in brackets.
  std::string ToString() const;
};

// Parses "host:port" (a host name as CheckHostName accepts, or IPv4) or
// "[IPv6]:port". INVALID_ARGUMENT otherwise, its message to follow the
// field's name ("'x' must be host:port").
absl::StatusOr<HostPort> ParseHostPort(absl::string_view target);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_HOST_PORT_H_
