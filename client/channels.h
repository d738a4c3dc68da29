// Channels to batchexec servers: one per target (for Client to split a
// batch over), or one load-balanced channel over many servers (gRPC's
// round_robin, the scale-out path for many callers).
#ifndef BATCHEXEC_CLIENT_CHANNELS_H_
#define BATCHEXEC_CLIENT_CHANNELS_H_

#include <memory>
#include <string>
#include <vector>

#include "client/client_options.h"
#include "grpcpp/grpcpp.h"

namespace batchexec {

// The channel arguments the SDK gives its channels: keepalive as `options`
// set it (ClientOptions::keepalive_time, keepalive_timeout), pinging also
// without calls and without a limit on pings while no data is sent (a
// stream that only receives sends none). For channels made by hand:
//   grpc::CreateCustomChannel(target, credentials, ChannelArgumentsFor({}))
grpc::ChannelArguments ChannelArgumentsFor(const ClientOptions& options);

// One channel per target ("host:port" or any gRPC target URI), in order,
// with options.credentials (null means plaintext) and ChannelArgumentsFor
// (options). Channels connect lazily: this does no I/O, and an unreachable
// target shows up as UNAVAILABLE on the first call.
std::vector<std::shared_ptr<grpc::Channel>> CreateChannels(
    const std::vector<std::string>& targets, const ClientOptions& options);
// The same with default ClientOptions and `credentials`.
std::vector<std::shared_ptr<grpc::Channel>> CreateChannels(
    const std::vector<std::string>& targets,
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

// One channel whose calls are spread over every address `target` resolves
// to, by gRPC's round_robin policy; e.g. "ipv4:10.0.0.1:50051,10.0.0.2:50051"
// or "dns:///batchexec.internal:50051" (every A record). Each call goes to
// one server; to spread one batch too, give Client the channel several times
// (Client({ch, ch, ch}) sends three sub-batches).
// Keepalive as ChannelArgumentsFor(options), credentials as `credentials`.
std::shared_ptr<grpc::Channel> CreateRoundRobinChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr,
    const ClientOptions& options = {});

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_CHANNELS_H_
