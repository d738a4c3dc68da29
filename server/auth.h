// Bearer-token authentication of calls: a call must carry the metadata
// `authorization: Bearer <token>` (the scheme in any case, as HTTP has it).
// The comparison takes the same time whatever the token, so timing does not
// leak how much of a guess was right.
//
// The token is checked by gRPC's server auth filter on each call's headers,
// before the request message is read (see TokenCheckedCredentials): a client
// without it cannot make the server buffer requests of up to
// max_receive_message_bytes on every stream it opens.
#ifndef BATCHEXEC_SERVER_AUTH_H_
#define BATCHEXEC_SERVER_AUTH_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "grpcpp/grpcpp.h"

namespace batchexec {

// True if `a` equals `b`, in time that depends only on their lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// Whether calls to `method` (gRPC's `:path`, "/package.Service/Method") need
// the token: all but health checking and reflection, which stay open for
// load balancers and grpcurl (they show no data). Unknown methods need it
// too: without it they get UNAUTHENTICATED, not UNIMPLEMENTED.
bool MethodNeedsToken(absl::string_view method);

class TokenAuthenticator {
 public:
  // An empty token disables authentication (every call passes).
  explicit TokenAuthenticator(std::string token) : token_(std::move(token)) {}

  // OK, or UNAUTHENTICATED saying what is wrong, for a call whose first
  // `authorization` metadata value is `authorization` (nullopt: none).
  absl::Status CheckAuthorization(
      std::optional<absl::string_view> authorization) const;

  // CheckAuthorization on the call's metadata. The auth filter has checked
  // the call already; this is a second line of defence in the handlers.
  absl::Status Check(const grpc::CallbackServerContext& context) const;

  bool enabled() const { return !token_.empty(); }

 private:
  std::string token_;
};

// Credentials to listen with: `tls` (null for plaintext) with `auth`'s check
// installed in gRPC's server auth filter, which runs on the call's headers
// and fails the call before its request message is read.
// InsecureServerCredentials() cannot take an AuthMetadataProcessor (it
// aborts), so plaintext with a token uses core insecure credentials, which
// can.
std::shared_ptr<grpc::ServerCredentials> TokenCheckedCredentials(
    const TokenAuthenticator& auth,
    std::shared_ptr<grpc::ServerCredentials> tls);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_AUTH_H_
