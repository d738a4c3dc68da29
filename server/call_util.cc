#include "server/call_util.h"

#include <string>
#include <vector>

#include "common/arena_blocks.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "server/request_parser.h"

namespace batchexec {

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

bool SerializeTo(const google::protobuf::MessageLite& message,
                 grpc::ByteBuffer* wire) {
  wire->Clear();  // the serializer wants an empty buffer
  bool own_buffer;
  return grpc::SerializationTraits<google::protobuf::MessageLite>::Serialize(
             message, wire, &own_buffer)
      .ok();
}

}  // namespace batchexec
