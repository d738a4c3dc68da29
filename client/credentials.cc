#include "client/credentials.h"

#include "common/file_util.h"

namespace batchexec {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>>
MakeChannelCredentials(const TlsFiles& files) {
  if (files.ca_file.empty() && files.cert_file.empty() &&
      files.key_file.empty()) {
    return grpc::InsecureChannelCredentials();
  }
  if (files.ca_file.empty()) {
    return absl::InvalidArgumentError(
        "a client certificate needs --tls_ca (the CA of the server)");
  }
  if (files.cert_file.empty() != files.key_file.empty()) {
    return absl::InvalidArgumentError("--tls_cert and --tls_key go together");
  }
  grpc::SslCredentialsOptions ssl;
  absl::StatusOr<std::string> ca = ReadFile(files.ca_file);
  if (!ca.ok()) return ca.status();
  ssl.pem_root_certs = *ca;
  if (!files.cert_file.empty()) {
    absl::StatusOr<std::string> cert = ReadFile(files.cert_file);
    if (!cert.ok()) return cert.status();
    absl::StatusOr<std::string> key = ReadFile(files.key_file);
    if (!key.ok()) return key.status();
    ssl.pem_cert_chain = *cert;
    ssl.pem_private_key = *key;
  }
  return grpc::SslCredentials(ssl);
}

void AddBearerToken(grpc::ClientContext& context, const std::string& token) {
  if (!token.empty()) context.AddMetadata("authorization", "Bearer " + token);
}

}  // namespace batchexec
