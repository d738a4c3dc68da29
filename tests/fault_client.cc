// The client side of the fault suite (tests/faults/run.sh): the calls a
// hostile or a plain caller makes, each on a fresh channel, so that a check
// sees whether the server still accepts new connections.
//   fault_client health ADDRESS             exit 0 if SERVING within 10 s
//   fault_client reflect ADDRESS LEN COUNT  COUNT concurrent lookups of a
//                                           LEN-character symbol; prints each
//                                           one's time and status; exit 0 if
//                                           every one answered within 10 s
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "grpcpp/grpcpp.h"
#include "src/proto/grpc/health/v1/health.grpc.pb.h"
#include "src/proto/grpc/reflection/v1/reflection.grpc.pb.h"

namespace {

constexpr auto kAnswerWithin = std::chrono::seconds(10);

std::shared_ptr<grpc::Channel> FreshChannel(const std::string& address) {
  grpc::ChannelArguments args;
  // A channel of its own: no connection shared with an earlier check.
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  args.SetInt(GRPC_ARG_MAX_RECEIVE_MESSAGE_LENGTH, 64 << 20);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(),
                                   args);
}

int Health(const std::string& address) {
  auto stub = grpc::health::v1::Health::NewStub(FreshChannel(address));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + kAnswerWithin);
  context.set_wait_for_ready(true);
  grpc::health::v1::HealthCheckRequest request;
  grpc::health::v1::HealthCheckResponse response;
  const auto start = std::chrono::steady_clock::now();
  grpc::Status status = stub->Check(&context, request, &response);
  const double ms = std::chrono::duration<double, std::milli>(
                        std::chrono::steady_clock::now() - start)
                        .count();
  std::printf("health: %s in %.0f ms (%s)\n",
              status.ok()
                  ? grpc::health::v1::HealthCheckResponse::ServingStatus_Name(
                        response.status())
                        .c_str()
                  : "no answer",
              ms, status.error_message().c_str());
  return status.ok() && response.status() ==
                            grpc::health::v1::HealthCheckResponse::SERVING
             ? 0
             : 1;
}

int Reflect(const std::string& address, size_t length, int count) {
  std::vector<std::thread> threads;
  std::vector<int> answered(count, 0);
  for (int i = 0; i < count; ++i) {
    threads.emplace_back([&, i] {
      auto stub = grpc::reflection::v1::ServerReflection::NewStub(
          FreshChannel(address));
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() + kAnswerWithin);
      const auto start = std::chrono::steady_clock::now();
      auto stream = stub->ServerReflectionInfo(&context);
      grpc::reflection::v1::ServerReflectionRequest request;
      // "a.a.a...": a name of many components, the costly shape for
      // protobuf's lookup (it splits the name at each dot).
      std::string name(length, 'a');
      for (size_t c = 1; c < length; c += 2) name[c] = '.';
      request.set_file_containing_symbol(name);
      grpc::reflection::v1::ServerReflectionResponse response;
      const bool got = stream->Write(request) && stream->Read(&response);
      stream->WritesDone();
      grpc::Status status = stream->Finish();
      const double ms = std::chrono::duration<double, std::milli>(
                            std::chrono::steady_clock::now() - start)
                            .count();
      const bool answered_in_time =
          (got || !status.ok()) &&
          status.error_code() != grpc::StatusCode::DEADLINE_EXCEEDED &&
          status.error_code() != grpc::StatusCode::UNAVAILABLE;
      answered[i] = answered_in_time ? 1 : 0;
      // The first 120 characters: an error may quote the whole name.
      std::string what = got ? (response.has_error_response()
                                    ? response.error_response().error_message()
                                    : "a descriptor")
                             : status.error_message();
      if (what.size() > 120) what = what.substr(0, 120) + "...";
      std::printf("reflect %d: %.0f ms, %s%s\n", i, ms,
                  got ? "answered: " : "status: ", what.c_str());
    });
  }
  for (auto& t : threads) t.join();
  for (int a : answered) {
    if (!a) return 1;
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string mode = argc > 1 ? argv[1] : "";
  if (mode == "health" && argc == 3) return Health(argv[2]);
  if (mode == "reflect" && argc == 5) {
    return Reflect(argv[2], std::strtoul(argv[3], nullptr, 10),
                   std::atoi(argv[4]));
  }
  std::fprintf(stderr,
               "usage: fault_client health ADDRESS | reflect ADDRESS LEN "
               "COUNT\n");
  return 2;
}
