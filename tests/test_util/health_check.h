// Calls grpc.health.v1.Health/Check without generated stubs: the request
// {service} and the response {status} are one-field messages, encoded here
// by hand, so tests need no copy of health.proto.
#ifndef BATCHEXEC_TESTS_TEST_UTIL_HEALTH_CHECK_H_
#define BATCHEXEC_TESTS_TEST_UTIL_HEALTH_CHECK_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "common/grpc_status.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace batchexec::testing {

// grpc.health.v1.HealthCheckResponse.ServingStatus values.
inline constexpr int kServing = 1;
inline constexpr int kNotServing = 2;

// The serving status of `service` ("" = the whole server).
inline absl::StatusOr<int> CheckHealth(std::shared_ptr<grpc::Channel> channel,
                                       const std::string& service = "") {
  std::string request;
  if (!service.empty()) {  // field 1, length-delimited
    request.push_back(0x0a);
    request.push_back(static_cast<char>(service.size()));
    request += service;
  }
  grpc::Slice slice(request);
  grpc::ByteBuffer in(&slice, 1), out;
  grpc::GenericStub stub(channel);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  grpc::Status status;
  absl::Notification done;
  stub.UnaryCall(&context, "/grpc.health.v1.Health/Check", {}, &in, &out,
                 [&](grpc::Status s) {
                   status = std::move(s);
                   done.Notify();
                 });
  done.WaitForNotification();
  if (!status.ok()) {
    return FromGrpcStatus(status);
  }
  std::vector<grpc::Slice> slices;
  out.Dump(&slices);
  std::string bytes;
  for (auto& s : slices)
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  // Field 1 varint: 0x08 <status>; an empty message means UNKNOWN (0).
  if (bytes.size() >= 2 && bytes[0] == 0x08) return static_cast<int>(bytes[1]);
  return 0;
}

}  // namespace batchexec::testing

#endif  // BATCHEXEC_TESTS_TEST_UTIL_HEALTH_CHECK_H_
