// Who a batch belongs to, for fair sharing and per-caller quotas: the name of
// the caller's token when the server has named tokens, else the subject of
// its client certificate (mutual TLS), else its IP address (not the port:
// many connections from one host are one caller). gRPC-free.
#ifndef BATCHEXEC_SERVER_CORE_CALLER_H_
#define BATCHEXEC_SERVER_CORE_CALLER_H_

#include <cstddef>
#include <string>

#include "absl/hash/hash.h"
#include "absl/strings/string_view.h"

namespace batchexec {

struct Caller {
  std::string name;  // e.g. "team-a", "CN=client,O=Example", "ipv4:10.0.0.7"
  // Turns in the fair share relative to other callers (a caller of weight 2
  // is offered twice the slots per round). At least 1.
  int weight = 1;
};

// The caller named `name` in the CPU pool's turns (WorkerPool::Post): the
// same address for as long as the process runs, whether or not the caller
// has a batch open. A Gather's response is serialized after its batch ended,
// when the Caller the batch shared with its caller's other batches may be
// gone; a key that came and went with it would make each such job a caller
// of its own. A fixed table: no memory per caller; two names that hash alike
// (1 in kCpuTurnKeys, hashed with a per-process seed) share a turn.
inline constexpr size_t kCpuTurnKeys = size_t{1} << 16;
inline const void* CpuTurnKey(absl::string_view name) {
  static char keys[kCpuTurnKeys];
  return &keys[absl::Hash<absl::string_view>{}(name) % kCpuTurnKeys];
}

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_CALLER_H_
