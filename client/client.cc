#include "client/client.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "client/credentials.h"
#include "client/internal/batch_split.h"
#include "client/internal/gather_call_factory.h"
#include "common/grpc_status.h"

namespace batchexec {
namespace {

GatherOptions WithDefaultPolicy(GatherOptions options, FailurePolicy policy) {
  if (!options.failure_policy.has_value()) options.failure_policy = policy;
  return options;
}

void SetDeadline(grpc::ClientContext& context, absl::Duration timeout) {
  if (timeout != absl::InfiniteDuration()) {
    context.set_deadline(absl::ToChronoTime(absl::Now() + timeout));
  }
}

}  // namespace

struct Client::Backend {
  std::shared_ptr<v1::BatchExecutor::Stub> stub;
  std::string label;
};

Client::Client(const Client&) = default;
Client& Client::operator=(const Client&) = default;
Client::Client(Client&&) noexcept = default;
Client& Client::operator=(Client&&) noexcept = default;
Client::~Client() = default;

size_t Client::channel_count() const { return backends_.size(); }

Client::Client(std::shared_ptr<grpc::Channel> channel, ClientOptions options)
    : auth_token_(std::move(options.auth_token)),
      stream_idle_timeout_(options.stream_idle_timeout) {
  backends_.push_back({v1::BatchExecutor::NewStub(std::move(channel)), ""});
}

Client::Client(std::vector<std::shared_ptr<grpc::Channel>> channels,
               ClientOptions options)
    : auth_token_(std::move(options.auth_token)),
      stream_idle_timeout_(options.stream_idle_timeout) {
  std::vector<std::string>& labels = options.channel_labels;
  backends_.reserve(channels.size());
  for (size_t i = 0; i < channels.size(); ++i) {
    std::string label =
        i < labels.size() ? std::move(labels[i]) : absl::StrCat("channel ", i);
    // A lone channel is not a split: its messages need no label.
    if (channels.size() == 1) label.clear();
    backends_.push_back(
        {v1::BatchExecutor::NewStub(std::move(channels[i])), std::move(label)});
  }
}

Client Client::ForTargets(const std::vector<std::string>& targets,
                          ClientOptions options) {
  std::vector<std::shared_ptr<grpc::Channel>> channels =
      CreateChannels(targets, options);
  if (options.channel_labels.empty()) options.channel_labels = targets;
  return Client(std::move(channels), std::move(options));
}

void Client::Authorize(grpc::ClientContext& context) const {
  AddBearerToken(context, auth_token_);
}

std::unique_ptr<GatherCall> Client::StartGather(std::vector<Task> tasks,
                                                GatherOptions options) const {
  std::vector<gather_internal::Part> parts;
  // Without a channel, one part without a stub: its tasks fail at once.
  for (const IndexRange& range :
       SplitContiguous(tasks.size(), std::max<size_t>(backends_.size(), 1))) {
    gather_internal::Part& part = parts.emplace_back();
    if (!backends_.empty()) {
      const Backend& backend = backends_[parts.size() - 1];
      part.stub = backend.stub;
      part.label = backend.label;
    }
    part.first_index = range.begin;
    part.request.mutable_tasks()->Reserve(static_cast<int>(range.size()));
    for (size_t i = range.begin; i < range.end; ++i) {
      *part.request.add_tasks() = std::move(*tasks[i].mutable_proto());
    }
  }
  return gather_internal::GatherCallFactory::Start(
      std::move(parts),
      WithDefaultPolicy(std::move(options), FailurePolicy::kFailFast),
      auth_token_, stream_idle_timeout_);
}

absl::StatusOr<std::vector<TaskOutput>> Client::Gather(
    std::vector<Task> tasks, const GatherOptions& options) const {
  GatherResult result =
      StartGather(std::move(tasks),
                  WithDefaultPolicy(options, FailurePolicy::kFailFast))
          ->TakeResult();
  if (!result.status.ok()) return result.status;
  std::vector<TaskOutput> outputs;
  outputs.reserve(result.results.size());
  for (absl::StatusOr<TaskOutput>& r : result.results) {
    outputs.push_back(std::move(*r));
  }
  return outputs;
}

std::vector<absl::StatusOr<TaskOutput>> Client::GatherAll(
    std::vector<Task> tasks, const GatherOptions& options) const {
  return StartGather(std::move(tasks),
                     WithDefaultPolicy(options, FailurePolicy::kCollectAll))
      ->TakeResult()
      .results;
}

absl::StatusOr<v1::ListTaskKindsResponse> Client::ListTaskKinds(
    absl::Duration timeout) const {
  if (backends_.empty()) {
    return absl::FailedPreconditionError("the client has no channel");
  }
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  Authorize(context);
  v1::ListTaskKindsResponse response;
  grpc::Status status = backends_.front().stub->ListTaskKinds(
      &context, v1::ListTaskKindsRequest(), &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

absl::StatusOr<v1::ServerStats> Client::GetServerStats(
    size_t channel, absl::Duration timeout) const {
  if (channel >= backends_.size()) {
    return absl::OutOfRangeError(absl::StrCat(
        "channel ", channel, " of a client with ", backends_.size()));
  }
  grpc::ClientContext context;
  SetDeadline(context, timeout);
  Authorize(context);
  v1::ServerStats response;
  grpc::Status status = backends_[channel].stub->GetServerStats(
      &context, v1::GetServerStatsRequest(), &response);
  if (!status.ok()) return FromGrpcStatus(status);
  return response;
}

}  // namespace batchexec
