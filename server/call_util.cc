#include "server/call_util.h"

#include "common/arena_blocks.h"
#include "grpcpp/impl/codegen/proto_utils.h"

namespace batchexec {

std::shared_ptr<google::protobuf::Arena> NewCallArena() {
  return std::make_shared<google::protobuf::Arena>(CachedArenaOptions());
}

absl::StatusOr<v1::ExecuteRequest*> ParseRequest(
    const grpc::ByteBuffer& wire, google::protobuf::Arena* arena) {
  auto* request =
      google::protobuf::Arena::CreateMessage<v1::ExecuteRequest>(arena);
  // gRPC reads the request buffer no more once the method is invoked, and
  // clearing it frees the wire bytes as soon as they are parsed.
  auto& buffer = const_cast<grpc::ByteBuffer&>(wire);
  grpc::Status status =
      grpc::SerializationTraits<v1::ExecuteRequest>::Deserialize(&buffer,
                                                                 request);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        "request: not a valid batchexec.v1.ExecuteRequest message");
  }
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
