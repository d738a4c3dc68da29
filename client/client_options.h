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

#include "absl/time/time.h"
#include "grpcpp/security/credentials.h"

namespace batchexec {

// Defaults of the connection's liveness checks (see ClientOptions). A ping
// every 20 s stays above the servers' --min_client_ping_interval (10 s by
// default; pinging more often gets GOAWAY too_many_pings), and a stopped
// server is noticed within 20 s + 20 s.
inline constexpr absl::Duration kDefaultKeepaliveTime = absl::Seconds(20);
inline constexpr absl::Duration kDefaultKeepaliveTimeout = absl::Seconds(20);
// Above the servers' 10 s heartbeat (kStreamHeartbeatInterval) with room to
// spare; the same bound as keepalive's (20 s + 20 s).
inline constexpr absl::Duration kDefaultStreamIdleTimeout = absl::Seconds(40);

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

  // Keepalive of the channels the client creates itself (ForTargets,
  // CreateChannels, ChannelArgumentsFor): an HTTP/2 ping every
  // keepalive_time, also while a call only receives; a ping unanswered for
  // keepalive_timeout closes the connection, and its calls fail
  // UNAVAILABLE. Servers disconnect clients that ping more often than their
  // --min_client_ping_interval (10 s by default). Zero or infinite
  // keepalive_time: no pings.
  absl::Duration keepalive_time = kDefaultKeepaliveTime;
  absl::Duration keepalive_timeout = kDefaultKeepaliveTimeout;

  // An Execute stream whose server has accepted the batch and then sends
  // nothing for this long fails UNAVAILABLE, its batch cancelled: it catches
  // a stopped server even where pings are answered for it (a proxy) or are
  // off. Servers send a heartbeat every 10 s, so keep it well above that.
  // Applies to every channel, those handed to a constructor too. Infinite:
  // no watchdog.
  absl::Duration stream_idle_timeout = kDefaultStreamIdleTimeout;
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_CLIENT_OPTIONS_H_
