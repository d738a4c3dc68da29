// Bearer-token authentication of calls: a call must carry the metadata
// `authorization: Bearer <token>`. The comparison takes the same time
// whatever the token, so timing does not leak how much of a guess was right.
#ifndef BATCHEXEC_SERVER_AUTH_H_
#define BATCHEXEC_SERVER_AUTH_H_

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace batchexec {

// True if `a` equals `b`, in time that depends only on their lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

class TokenAuthenticator {
 public:
  // An empty token disables authentication (every call passes).
  explicit TokenAuthenticator(std::string token) : token_(std::move(token)) {}

  // OK, or UNAUTHENTICATED saying what is missing.
  absl::Status Check(const grpc::CallbackServerContext& context) const;

  bool enabled() const { return !token_.empty(); }

 private:
  const std::string token_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_AUTH_H_
