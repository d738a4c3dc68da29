#include "server/rpc/call_util.h"

#include <string>

#include "batchexec/v1/batch.pb.h"
#include "google/protobuf/util/message_differencer.h"
#include "grpcpp/grpcpp.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "gtest/gtest.h"
#include "server/core/result_size.h"
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

std::string Bytes(grpc::ByteBuffer& wire) {
  std::vector<grpc::Slice> slices;
  EXPECT_TRUE(wire.Dump(&slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return bytes;
}

// A chunk is written with the sizes the batch measured: byte for byte what
// protobuf writes, results large and small, with and without progress.
TEST(SerializeEvent, AChunkIsWhatProtobufWrites) {
  for (bool progress : {true, false}) {
    v1::ExecuteEvent event;
    const v1::GatherResponse response = Response(300);
    for (const v1::TaskResult& source : response.results()) {
      v1::TaskResult* r = event.mutable_results()->add_results();
      *r = source;
      if (r->index() % 7 == 0) {  // long fields: two-byte lengths
        r->set_payload(std::string(300 + r->index(), 'p'));
        auto& fields =
            *r->mutable_output()->mutable_struct_value()->mutable_fields();
        fields["text"].set_string_value(std::string(200, 't'));
        fields["n"].set_number_value(r->index());
      }
      SizeResult(*r);  // as the batch does before the result goes out
    }
    if (progress) {
      event.mutable_results()->mutable_progress()->set_total(300);
      event.mutable_results()->mutable_progress()->set_completed(120);
    }
    grpc::ByteBuffer wire;
    ASSERT_TRUE(SerializeEvent(event, &wire));
    EXPECT_EQ(Bytes(wire), event.SerializeAsString()) << progress;
  }
}

// Events other than chunks, and an empty chunk, go through protobuf.
TEST(SerializeEvent, OtherEvents) {
  std::vector<v1::ExecuteEvent> events(3);
  events[0].mutable_accepted()->set_batch_id("b-1");
  events[1].mutable_summary()->set_succeeded(4);
  events[2].mutable_results();
  for (const v1::ExecuteEvent& event : events) {
    grpc::ByteBuffer wire;
    ASSERT_TRUE(SerializeEvent(event, &wire));
    EXPECT_EQ(Bytes(wire), event.SerializeAsString());
  }
}

}  // namespace
}  // namespace batchexec
