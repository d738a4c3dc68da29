#include "server/call_util.h"

#include <string>
#include <vector>

#include "common/arena_blocks.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "server/request_parser.h"

namespace batchexec {
namespace {

// Results beyond which serializing in two halves pays for the hand-off.
constexpr int kParallelSerializeResults = 20'000;

// GatherResponse field `field` holding each of `messages` (already sized by
// ByteSizeLong), as wire bytes in one slice.
template <typename Messages>
grpc::Slice EncodeField(int field, const Messages& messages) {
  using google::protobuf::internal::WireFormatLite;
  using google::protobuf::io::CodedOutputStream;
  const uint32_t tag =
      WireFormatLite::MakeTag(field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  size_t total = 0;
  for (const auto* m : messages) {
    const size_t size = m->GetCachedSize();
    total += CodedOutputStream::VarintSize32(tag) +
             CodedOutputStream::VarintSize32(size) + size;
  }
  grpc::Slice slice(total);
  uint8_t* out = const_cast<uint8_t*>(slice.begin());
  for (const auto* m : messages) {
    out = CodedOutputStream::WriteVarint32ToArray(tag, out);
    out = CodedOutputStream::WriteVarint32ToArray(m->GetCachedSize(), out);
    out = m->SerializeWithCachedSizesToArray(out);
  }
  return slice;
}

// Sizes results [begin, end) (caching each size) and encodes them.
grpc::Slice EncodeResults(const v1::GatherResponse& response, int begin,
                          int end, size_t* bytes) {
  std::vector<const v1::TaskResult*> range;
  range.reserve(end - begin);
  *bytes = 0;
  for (int i = begin; i < end; ++i) {
    *bytes += response.results(i).ByteSizeLong();
    range.push_back(&response.results(i));
  }
  return EncodeField(v1::GatherResponse::kResultsFieldNumber, range);
}

}  // namespace

std::shared_ptr<google::protobuf::Arena> NewCallArena() {
  return std::make_shared<google::protobuf::Arena>(CachedArenaOptions());
}

absl::StatusOr<v1::ExecuteRequest*> ParseWireRequest(
    const grpc::ByteBuffer& wire, google::protobuf::Arena* arena,
    WorkerPool* helpers) {
  // gRPC reads the request buffer no more once the method is invoked;
  // clearing it frees the wire bytes as soon as they are copied out.
  auto& buffer = const_cast<grpc::ByteBuffer&>(wire);
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) {
    return absl::InvalidArgumentError("request: unreadable message bytes");
  }
  std::string flat;
  if (slices.size() != 1) {
    flat.reserve(buffer.Length());
    for (const grpc::Slice& slice : slices) {
      flat.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
    }
    slices.clear();
    buffer.Clear();
  }
  const absl::string_view bytes =
      slices.size() == 1
          ? absl::string_view(reinterpret_cast<const char*>(slices[0].begin()),
                              slices[0].size())
          : absl::string_view(flat);
  auto request = ParseRequest(bytes, arena, helpers);
  buffer.Clear();
  return request;
}

bool SerializeGatherResponse(const v1::GatherResponse& response,
                             grpc::ByteBuffer* wire, WorkerPool* helpers) {
  const int n = response.results_size();
  if (helpers == nullptr || n < kParallelSerializeResults) {
    return SerializeTo(response, wire);
  }
  // Field by field, as SerializeToString would write them: results in
  // order, then the summary.
  grpc::Slice slices[3];
  size_t bytes[2];
  helpers->RunBoth(
      [&] { slices[0] = EncodeResults(response, 0, n / 2, &bytes[0]); },
      [&] { slices[1] = EncodeResults(response, n / 2, n, &bytes[1]); });
  if (bytes[0] + bytes[1] > (size_t{1} << 31)) return false;
  if (response.has_summary()) {
    response.summary().ByteSizeLong();
    const v1::Summary* summary = &response.summary();
    slices[2] = EncodeField(v1::GatherResponse::kSummaryFieldNumber,
                            std::vector<const v1::Summary*>{summary});
  }
  grpc::ByteBuffer buffer(slices, 3);
  wire->Swap(&buffer);
  return true;
}

bool SerializeTo(const google::protobuf::MessageLite& message,
                 grpc::ByteBuffer* wire) {
  wire->Clear();  // the serializer wants an empty buffer
  bool own_buffer;
  return grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(
             message, wire, &own_buffer)
      .ok();
}

}  // namespace batchexec
