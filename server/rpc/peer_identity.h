// A caller's identity from its peer address (gRPC's context.peer()), for
// callers with neither a named token nor a client certificate: the address
// without the port, so many connections from one host are one caller. An
// IPv6 address counts by its /64: a host is routinely given a whole /64 and
// could otherwise pose as 2^64 callers, each with its own quotas and turn.
// An IPv4-mapped IPv6 address is the IPv4 address it maps.
#ifndef BATCHEXEC_SERVER_RPC_PEER_IDENTITY_H_
#define BATCHEXEC_SERVER_RPC_PEER_IDENTITY_H_

#include <string>

#include "absl/strings/string_view.h"

namespace batchexec {

// "ipv4:10.0.0.7:5123" -> "ipv4:10.0.0.7";
// "ipv6:[2001:db8:1:2:3:4:5:6]:5123" (brackets also as %5B/%5D, as gRPC
// 1.51 writes them) -> "ipv6:[2001:db8:1:2::]/64";
// "ipv6:[::ffff:10.0.0.7]:5123" -> "ipv4:10.0.0.7".
// Anything else (a Unix socket path) loses only what follows its last ':'
// after the scheme, as before.
std::string CallerNameOfPeer(absl::string_view peer);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_PEER_IDENTITY_H_
