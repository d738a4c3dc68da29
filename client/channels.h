// Channels to batchexec servers: one per target (for Client to split a
// batch over), or one load-balanced channel over many servers (gRPC's
// round_robin, the scale-out path for many callers).
#ifndef BATCHEXEC_CLIENT_CHANNELS_H_
#define BATCHEXEC_CLIENT_CHANNELS_H_

#include <memory>
#include <string>
#include <vector>

#include "grpcpp/grpcpp.h"

namespace batchexec {

// One channel per target ("host:port" or any gRPC target URI), in order.
// Null `credentials` means plaintext. Channels connect lazily: this does no
// I/O, and an unreachable target shows up as UNAVAILABLE on the first call.
std::vector<std::shared_ptr<grpc::Channel>> CreateChannels(
    const std::vector<std::string>& targets,
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

// One channel whose calls are spread over every address `target` resolves
// to, by gRPC's round_robin policy; e.g. "ipv4:10.0.0.1:50051,10.0.0.2:50051"
// or "dns:///batchexec.internal:50051" (every A record). Each call goes to
// one server; to spread one batch too, give Client the channel several times
// (Client({ch, ch, ch}) sends three sub-batches).
std::shared_ptr<grpc::Channel> CreateRoundRobinChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials = nullptr);

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_CHANNELS_H_
