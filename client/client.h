// batchexec::Client: run a batch of tasks on batchexec servers and get every
// result back in request order, like asyncio.gather.
//
//   batchexec::Client client(grpc::CreateChannel(
//       "127.0.0.1:50051", grpc::InsecureChannelCredentials()));
//   // or, with a token and TLS (see ClientOptions):
//   //   batchexec::Client::ForTargets({"10.0.0.1:50051"}, options)
//   absl::StatusOr<std::vector<batchexec::TaskOutput>> outputs =
//       client.Gather({batchexec::Task::Sleep(absl::Seconds(1)),
//                      batchexec::Task::Echo({{"x", 1}})});
//
// Every form runs the batch as Execute streams (so no batch size meets the
// 4 MiB message limit) through GatherCall; Gather and GatherAll wait for it.
// Given several channels, the client splits each batch into contiguous
// parts, one per channel, runs them in parallel and merges the results back
// into request order.
//
// Thread safety: a Client is immutable after construction (every setting,
// the auth token included, is a ClientOptions given to the constructor) and
// safe to use from many threads; copies share the channels. A GatherCall may
// outlive the Client that started it.
#ifndef BATCHEXEC_CLIENT_CLIENT_H_
#define BATCHEXEC_CLIENT_CLIENT_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "client/channels.h"
#include "client/client_options.h"
#include "client/credentials.h"
#include "client/gather_call.h"
#include "client/gather_options.h"
#include "client/progress.h"
#include "client/task.h"
#include "client/task_output.h"
#include "grpcpp/grpcpp.h"

namespace batchexec {

class Client {
 public:
  // Sends every batch over `channel` (one server, or a load-balanced
  // channel, see CreateRoundRobinChannel).
  explicit Client(std::shared_ptr<grpc::Channel> channel,
                  ClientOptions options = {});

  // Splits every batch over `channels`: with N tasks and C channels,
  // channel k runs the k-th of min(C, N) contiguous parts of near-equal
  // size. A part whose server fails as a whole (e.g. UNAVAILABLE) fails
  // exactly its own tasks; messages name the part's channel as
  // `options.channel_labels[k]` ("channel k" if labels are missing).
  explicit Client(std::vector<std::shared_ptr<grpc::Channel>> channels,
                  ClientOptions options = {});

  // One channel per target with `options.credentials` (plaintext if null)
  // and keepalive (ClientOptions::keepalive_time), split as above; messages
  // name the target unless options label it. The constructors above take
  // channels as they are: see ChannelArgumentsFor for keepalive on them.
  static Client ForTargets(const std::vector<std::string>& targets,
                           ClientOptions options = {});

  // Runs the batch and returns every output in request order, or the first
  // failure (the failing task's index is in the message). FAIL_FAST unless
  // options say otherwise: the first failure cancels the rest.
  absl::StatusOr<std::vector<TaskOutput>> Gather(
      std::vector<Task> tasks, const GatherOptions& options = {}) const;

  // Runs the batch and returns each task's own outcome in request order.
  // COLLECT_ALL unless options say otherwise. A call that fails as a whole
  // (server unreachable, batch rejected) gives its status to every task it
  // had no result for.
  std::vector<absl::StatusOr<TaskOutput>> GatherAll(
      std::vector<Task> tasks, const GatherOptions& options = {}) const;

  // Starts the batch and returns at once; see GatherCall and the callbacks
  // in GatherOptions. FAIL_FAST unless options say otherwise. No callback
  // runs on this thread before it returns. Dropping the handle cancels the
  // batch at once.
  [[nodiscard]] std::unique_ptr<GatherCall> StartGather(
      std::vector<Task> tasks, GatherOptions options = {}) const;

  // The task kinds of the first channel's server.
  absl::StatusOr<v1::ListTaskKindsResponse> ListTaskKinds(
      absl::Duration timeout = absl::Seconds(10)) const;

  // Load counters of channel `channel`'s server.
  absl::StatusOr<v1::ServerStats> GetServerStats(
      size_t channel = 0, absl::Duration timeout = absl::Seconds(10)) const;

  size_t channel_count() const;

  // Copies share the channels.
  Client(const Client&);
  Client& operator=(const Client&);
  Client(Client&&) noexcept;
  Client& operator=(Client&&) noexcept;
  ~Client();

 private:
  // The call's context with the token applied.
  void Authorize(grpc::ClientContext& context) const;

  // A channel's stub and label (client.cc): the generated gRPC stub stays
  // out of this header.
  struct Backend;
  std::vector<Backend> backends_;
  std::string auth_token_;
  absl::Duration stream_idle_timeout_ = kDefaultStreamIdleTimeout;
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_CLIENT_H_
