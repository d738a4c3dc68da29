// How a Client connects and authenticates, fixed at construction: the one
// place for its connection settings. Settings of one batch (concurrency,
// timeouts, callbacks) are GatherOptions, per call.
//
//   batchexec::ClientOptions options;
//   options.auth_token = token;                        // sent on every call
//   options.credentials = *batchexec::MakeChannelCredentials(tls);
//   batchexec::Client client =
//       batchexec::Client::ForTargets({"10.0.0.1:50051"}, options);
#ifndef BATCHEXEC_CLIENT_CLIENT_OPTIONS_H_
#define BATCHEXEC_CLIENT_CLIENT_OPTIONS_H_

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/security/credentials.h"

namespace batchexec {

struct ClientOptions {
  // Bearer token for servers started with --auth_token_file or
  // --auth_tokens_file, sent as `authorization: Bearer <token>` on every
  // call of the client; empty sends none.
  std::string auth_token;

  // Credentials of the channels the client creates itself (ForTargets), e.g.
  // from MakeChannelCredentials; null means plaintext. A channel handed to a
  // constructor already has its credentials, and this is not used.
  std::shared_ptr<grpc::ChannelCredentials> credentials;

  // Names of the channels in messages about a split batch's parts
  // ("tasks 4..7 on <label>: ..."), one per channel in order. Missing
  // labels: ForTargets uses the targets, the constructors "channel k".
  std::vector<std::string> channel_labels;
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_CLIENT_OPTIONS_H_
