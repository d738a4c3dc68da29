// The named tokens file of --auth_tokens_file: one caller per line,
//   NAME TOKEN [weight=N]
// with blank lines and `#` comments. The name is the caller's identity (for
// fair sharing, quotas and logs); the weight its share relative to others.
// gRPC-free, so it is unit-tested alone.
#ifndef BATCHEXEC_SERVER_RPC_TOKENS_FILE_H_
#define BATCHEXEC_SERVER_RPC_TOKENS_FILE_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace batchexec {

// Highest weight=N: enough for any sensible share, and small enough that the
// scheduler's per-round arithmetic cannot overflow.
inline constexpr int kMaxCallerWeight = 1000;

struct NamedToken {
  std::string name;  // empty for --auth_token_file's single unnamed token
  std::string token;
  int weight = 1;
};

// The callers in `text`, in file order. INVALID_ARGUMENT "<source>:<line>:
// ..." on the first bad line (too few or too many fields, a character that is
// not printable ASCII, a bad weight, a name or token already used), or
// "<source>: no tokens". Messages never quote a field: a token pasted into
// the wrong column must not end up in a log.
absl::StatusOr<std::vector<NamedToken>> ParseTokensFile(
    absl::string_view text, absl::string_view source);

// ParseTokensFile on the file at `path` (NOT_FOUND if unreadable).
absl::StatusOr<std::vector<NamedToken>> ReadTokensFile(const std::string& path);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_TOKENS_FILE_H_
