// Who a batch belongs to, for fair sharing and per-caller quotas: the name of
// the caller's token when the server has named tokens, else the subject of
// its client certificate (mutual TLS), else its IP address (not the port:
// many connections from one host are one caller). gRPC-free.
#ifndef BATCHEXEC_SERVER_CORE_CALLER_H_
#define BATCHEXEC_SERVER_CORE_CALLER_H_

#include <string>

namespace batchexec {

struct Caller {
  std::string name;  // e.g. "team-a", "CN=client,O=Example", "ipv4:10.0.0.7"
  // Turns in the fair share relative to other callers (a caller of weight 2
  // is offered twice the slots per round). At least 1.
  int weight = 1;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_CALLER_H_
