// Bearer-token authentication of calls: a call must carry the metadata
// `authorization: Bearer <token>` (the scheme in any case, as HTTP has it),
// with the one token of --auth_token_file or any of the named tokens of
// --auth_tokens_file (replaceable at run time, e.g. on SIGHUP).
// The comparison takes the same time whatever the token, so timing does not
// leak how much of a guess was right.
//
// The token is checked by gRPC's server auth filter on each call's headers,
// before the request message is read (see TokenCheckedCredentials): a client
// without it cannot make the server buffer requests of up to
// max_receive_message_bytes on every stream it opens.
#ifndef BATCHEXEC_SERVER_RPC_AUTH_H_
#define BATCHEXEC_SERVER_RPC_AUTH_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/core/caller.h"
#include "server/rpc/tokens_file.h"

namespace batchexec {

// True if `a` equals `b`, in time that depends only on their lengths.
bool ConstantTimeEquals(absl::string_view a, absl::string_view b);

// Whether calls to `method` (gRPC's `:path`, "/package.Service/Method") need
// the token: all but health checking, which stays open for load balancers.
// Reflection needs it (grpcurl sends it with -H): it shows no data, but its
// lookups cost CPU that a server with tokens gives only to its callers.
// Unknown methods need it too: without it they get UNAUTHENTICATED, not
// UNIMPLEMENTED.
bool MethodNeedsToken(absl::string_view method);

class TokenAuthenticator {
 public:
  // An empty token disables authentication (every call passes); otherwise
  // one unnamed caller, identified by its certificate subject or IP address.
  explicit TokenAuthenticator(std::string token);
  // Named callers (tokens_file.h); `tokens` must not be empty.
  explicit TokenAuthenticator(std::vector<NamedToken> tokens);

  // Copies share one token table, so ReplaceTokens on any copy reaches the
  // auth filter's copy and the handlers' alike. Calls already admitted go
  // on; each later call is checked against the new table.
  // FAILED_PRECONDITION unless constructed with named tokens (the transport
  // was set up with or without the check at start-up), INVALID_ARGUMENT if
  // `tokens` is empty. Thread-safe.
  absl::Status ReplaceTokens(std::vector<NamedToken> tokens);

  // OK, or UNAUTHENTICATED saying what is wrong, for a call whose first
  // `authorization` metadata value is `authorization` (nullopt: none).
  // Compares against every token, in time independent of which (if any)
  // matches.
  absl::Status CheckAuthorization(
      std::optional<absl::string_view> authorization) const;

  // CheckAuthorization on the call's metadata. The auth filter has checked
  // the call already; this is a second line of defence in the handlers.
  absl::Status Check(const grpc::CallbackServerContext& context) const;

  bool enabled() const { return enabled_; }
  // Calls the auth filter refused (UNAUTHENTICATED), for the metrics;
  // shared by copies.
  uint64_t rejected() const {
    return shared_->rejected.load(std::memory_order_relaxed);
  }
  void CountRejected() const {
    shared_->rejected.fetch_add(1, std::memory_order_relaxed);
  }
  bool has_named_tokens() const { return named_; }

  // Who made a call (caller.h): the name and weight of its token when the
  // server has named tokens, else the subject of its client certificate
  // (mutual TLS), else its IP address without the port. A token revoked
  // between Check and this call falls through to the subject or address.
  Caller IdentifyCaller(const grpc::CallbackServerContext& context) const;

 private:
  using Table = std::vector<NamedToken>;
  // Shared by copies; the table is swapped whole, never changed in place,
  // so a reader holds a consistent snapshot without the lock.
  struct Shared {
    mutable Mutex mu;
    std::shared_ptr<const Table> table ABSL_GUARDED_BY(mu);
    std::atomic<uint64_t> rejected{0};
  };

  std::shared_ptr<const Table> Snapshot() const;
  // The entry of `table` matching the bearer token in `authorization`, or
  // UNAUTHENTICATED.
  static absl::StatusOr<const NamedToken*> Match(
      const Table& table, std::optional<absl::string_view> authorization);

  bool enabled_ = false;
  bool named_ = false;
  std::shared_ptr<Shared> shared_;
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

#endif  // BATCHEXEC_SERVER_RPC_AUTH_H_
