// Channel credentials from PEM files: plaintext, TLS, or mutual TLS.
#ifndef BATCHEXEC_CLIENT_CREDENTIALS_H_
#define BATCHEXEC_CLIENT_CREDENTIALS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "grpcpp/grpcpp.h"

namespace batchexec {

struct TlsFiles {
  // CA bundle that signed the server's certificate; empty = plaintext.
  std::string ca_file;
  // Client certificate chain and key, for servers that require mutual TLS.
  std::string cert_file;
  std::string key_file;
};

// Plaintext credentials if `files` is all empty, TLS otherwise. Errors name
// the file that could not be read, or the flag missing its pair.
absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const TlsFiles& files);

// Adds `authorization: Bearer <token>` to the call's metadata, as servers
// started with --auth_token_file expect; nothing for an empty token.
void AddBearerToken(grpc::ClientContext& context, const std::string& token);

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_CREDENTIALS_H_
