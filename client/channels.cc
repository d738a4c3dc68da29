#include "client/channels.h"

#include <utility>

namespace batchexec {
namespace {

std::shared_ptr<grpc::ChannelCredentials> OrInsecure(
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  return credentials != nullptr ? std::move(credentials)
                                : grpc::InsecureChannelCredentials();
}

}  // namespace

std::vector<std::shared_ptr<grpc::Channel>> CreateChannels(
    const std::vector<std::string>& targets,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  credentials = OrInsecure(std::move(credentials));
  std::vector<std::shared_ptr<grpc::Channel>> channels;
  channels.reserve(targets.size());
  for (const std::string& target : targets) {
    channels.push_back(grpc::CreateChannel(target, credentials));
  }
  return channels;
}

std::shared_ptr<grpc::Channel> CreateRoundRobinChannel(
    const std::string& target,
    std::shared_ptr<grpc::ChannelCredentials> credentials) {
  grpc::ChannelArguments args;
  // The same as the service config {"loadBalancingConfig":
  // [{"round_robin": {}}]}; the default, pick_first, sends every call to
  // the first address that answers.
  args.SetLoadBalancingPolicyName("round_robin");
  return grpc::CreateCustomChannel(target, OrInsecure(std::move(credentials)),
                                   args);
}

}  // namespace batchexec
