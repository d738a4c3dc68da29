#include "server/rpc/call_util.h"

#include <string>

#include "batchexec/v1/batch.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "gtest/gtest.h"
#include "server/core/worker_pool.h"

namespace batchexec {
namespace {

v1::GatherResponse Response(int n) {
  v1::GatherResponse response;
  for (int i = 0; i < n; ++i) {
    v1::TaskResult* r = response.add_results();
    r->set_index(i);
    r->set_id(std::to_string(i));
    r->mutable_status()->set_code(i % 3);
    r->mutable_output()->set_number_value(i);
    r->mutable_finished_after()->set_nanos(i);
  }
  response.mutable_summary()->set_succeeded(n);
  response.mutable_summary()->mutable_outcome()->set_message("ok");
  return response;
}

v1::GatherResponse RoundTrip(const v1::GatherResponse& response,
                             WorkerPool* helpers) {
  grpc::ByteBuffer wire;
  EXPECT_TRUE(SerializeGatherResponse(response, &wire, helpers));
  v1::GatherResponse parsed;
  EXPECT_TRUE(
      grpc::SerializationTraits<v1::GatherResponse>::Deserialize(&wire, &parsed)
          .ok());
  return parsed;
}

TEST(SerializeGatherResponse, BigResponseInHalvesParsesBackTheSame) {
  WorkerPool pool(1);
  const v1::GatherResponse response = Response(50'000);  // split in two
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      response, RoundTrip(response, &pool)));
  v1::GatherResponse no_summary = Response(30'000);
  no_summary.clear_summary();
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      no_summary, RoundTrip(no_summary, &pool)));
}

TEST(SerializeGatherResponse, SmallResponseOrNoHelpers) {
  const v1::GatherResponse small = Response(10);
  WorkerPool pool(1);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      small, RoundTrip(small, &pool)));
  const v1::GatherResponse big = Response(25'000);
  EXPECT_TRUE(google::protobuf::util::MessageDifferencer::Equals(
      big, RoundTrip(big, nullptr)));
}

}  // namespace
}  // namespace batchexec
