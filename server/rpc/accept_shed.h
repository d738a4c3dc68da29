// Keeps gRPC's listener alive when the process runs out of descriptors.
//
// gRPC 1.51's posix tcp_server treats any accept4 error but EAGAIN,
// EWOULDBLOCK, ECONNABORTED and EINTR as fatal for the listener: on EMFILE
// or ENFILE it logs "Failed accept4" and never polls the listening socket
// again, so a server whose batches took every descriptor stops accepting
// connections for good. gRPC has no option for this, so this library
// interposes accept4 (libuv's reserved-descriptor trick): on EMFILE/ENFILE
// for a non-blocking listener it closes one spare descriptor it keeps,
// accepts and at once closes every pending connection (their clients see the
// connection close and may retry), reopens the spare and returns EAGAIN,
// which makes gRPC re-arm the listener. Once descriptors free up,
// connections are accepted again.
//
// Linked (alwayslink) by //server/rpc:server, so every binary embedding the
// server has it: the definition in the executable takes precedence over
// libc's for libgrpc's calls (check with `nm -D`: accept4 is defined, "T").
// Blocking sockets and every other error go through unchanged.
#ifndef BATCHEXEC_SERVER_RPC_ACCEPT_SHED_H_
#define BATCHEXEC_SERVER_RPC_ACCEPT_SHED_H_

#include <cstdint>

namespace batchexec {

// Connections accepted and closed at once because descriptors ran out,
// since the process started (batchexec_connections_dropped_total).
uint64_t ConnectionsDroppedForDescriptors();

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_ACCEPT_SHED_H_
