#include "client/channels.h"

#include <algorithm>
#include <cstdint>
#include <limits>
#include <utility>

#include "grpc/grpc.h"

namespace batchexec {
namespace {

std::shared_ptr<grpc::ChannelCredentials> OrInsecure(
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  return credentials != nullptr ? std::move(credentials)
                                : grpc::InsecureChannelCredentials();
}

int ClampedMs(absl::Duration d) {
  return static_cast<int>(std::min<int64_t>(absl::ToInt64Milliseconds(d),
                                            std::numeric_limits<int>::max()));
}

}  // namespace

grpc::ChannelArguments ChannelArgumentsFor(const ClientOptions& options) {
  grpc::ChannelArguments args;
  const absl::Duration time = options.keepalive_time;
  if (time <= absl::ZeroDuration() || time == absl::InfiniteDuration()) {
    return args;
  }
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS, ClampedMs(time));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
              ClampedMs(options.keepalive_timeout));
  // A ping also between calls: a connection that died while idle fails the
  // next call at once instead of after its first ping.
  args.SetInt(GRPC_ARG_KEEPALIVE_PERMIT_WITHOUT_CALLS, 1);
  // gRPC's default (2) stops pinging after two pings without data sent,
  // which is all of an Execute call after its request: 0 lifts the limit.
  args.SetInt(GRPC_ARG_HTTP2_MAX_PINGS_WITHOUT_DATA, 0);
  return args;
}

std::vector<std::shared_ptr<grpc::Channel>> CreateChannels(
    const std::vector<std::string>& targets, const ClientOptions& options) {
  const std::shared_ptr<grpc::ChannelCredentials> credentials =
      OrInsecure(options.credentials);
  const grpc::ChannelArguments args = ChannelArgumentsFor(options);
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  channels.reserve(targets.size());
  for (const std::string& target : targets) {
    channels.push_back(grpc::CreateCustomChannel(target, credentials, args));
  }
  return channels;
}

std::vector<std::shared_ptr<grpc::Channel>> CreateChannels(
    const std::vector<std::string>& targets,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  ClientOptions options;
  options.credentials = std::move(credentials);
  return CreateChannels(targets, options);
}

std::shared_ptr<grpc::Channel> CreateRoundRobinChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials,
    const ClientOptions& options) {
  grpc::ChannelArguments args = ChannelArgumentsFor(options);
  // The same as the service config {"loadBalancingConfig":
  // [{"round_robin": {}}]}; the default, pick_first, sends every call to
  // the first address that answers.
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(target, OrInsecure(std::move(credentials)),
                                   args);
}

}  // namespace batchexec
