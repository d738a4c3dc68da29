#include "server/rpc/call_util.h"

#include <climits>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/arena_blocks.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/impl/codegen/proto_utils.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "server/core/limits.h"
#include "server/core/request_parser.h"

namespace batchexec {
namespace {

// Results beyond which serializing in two halves pays for the hand-off.
constexpr int kParallelSerializeResults = 20'000;

using google::protobuf::internal::WireFormatLite;

// `message` encoded as field `field` of its parent: its size, with the tag
// and length (sizing the message caches its size for WriteField).
size_t FieldSize(int field, const google::protobuf::MessageLite& message) {
  return WireFormatLite::TagSize(field, WireFormatLite::TYPE_MESSAGE) +
         WireFormatLite::LengthDelimitedSize(message.ByteSizeLong());
}

uint8_t* WriteField(int field, const google::protobuf::MessageLite& message,
                    uint8_t* out) {
  using google::protobuf::io::CodedOutputStream;
  out = WireFormatLite::WriteTagToArray(
      field, WireFormatLite::WIRETYPE_LENGTH_DELIMITED, out);
  out = CodedOutputStream::WriteVarint32ToArray(message.GetCachedSize(), out);
  return message.SerializeWithCachedSizesToArray(out);
}

// Like FieldSize, for a message whose size is already cached.
size_t CachedFieldSize(int field,
                       const google::protobuf::MessageLite& message) {
  return WireFormatLite::TagSize(field, WireFormatLite::TYPE_MESSAGE) +
         WireFormatLite::LengthDelimitedSize(message.GetCachedSize());
}

// Results [begin, end) as GatherResponse wire bytes, in one slice.
grpc::Slice EncodeResults(const v1::GatherResponse& response, int begin,
                          int end) {
  constexpr int kField = v1::GatherResponse::kResultsFieldNumber;
  size_t total = 0;
  for (int i = begin; i < end; ++i) {
    total += FieldSize(kField, response.results(i));
  }
  grpc::Slice slice(total);
  uint8_t* out = const_cast<uint8_t*>(slice.begin());
  for (int i = begin; i < end; ++i) {
    out = WriteField(kField, response.results(i), out);
  }
  return slice;
}

}  // namespace

absl::StatusOr<std::shared_ptr<RequestMemory>> AdmitRequest(
    const grpc::ByteBuffer& wire, Executor& executor, const Caller& caller) {
  grpc::ProtoBufferReader reader(const_cast<grpc::ByteBuffer*>(&wire));
  Metrics* metrics = executor.metrics();
  absl::StatusOr<int64_t> tasks = CountTasks(reader);
  if (!tasks.ok()) {
    if (metrics != nullptr) metrics->Rejected(RejectReason::kInvalidArgument);
    return tasks.status();
  }
  if (absl::Status s = executor.CheckBatchSize(*tasks); !s.ok()) {
    if (metrics != nullptr) metrics->Rejected(RejectReason::kMaxBatchSize);
    return s;
  }
  MemoryBudget& budget = executor.request_memory();
  const int64_t need =
      2 * static_cast<int64_t>(wire.Length()) + *tasks * kReservedBytesPerTask;
  MemoryBudget::Full full = MemoryBudget::Full::kNone;
  std::optional<MemoryBudget::Reservation> reserved =
      budget.TryReserve(caller.name, need, &full);
  if (!reserved) {
    if (metrics != nullptr) metrics->Rejected(RejectReason::kMaxRequestMemory);
    return absl::ResourceExhaustedError(
        absl::StrCat("request: needs ~", (need + (1 << 20) - 1) >> 20,
                     " MiB but ", budget.Describe(full, caller.name),
                     "; retry later or send smaller batches"));
  }
  auto memory = std::make_shared<RequestMemory>();
  memory->reservation = std::move(*reserved);
  return memory;
}

absl::StatusOr<AdmittedRequest> AdmitAndParse(const grpc::ByteBuffer& wire,
                                              Executor& executor,
                                              const Caller& caller) {
  absl::StatusOr<std::shared_ptr<RequestMemory>> memory =
      AdmitRequest(wire, executor, caller);
  if (!memory.ok()) return memory.status();
  AdmittedRequest admitted;
  admitted.memory = *std::move(memory);
  RequestMemory& m = *admitted.memory;
  // gRPC reads the request buffer no more once the method is invoked;
  // clearing it frees the wire bytes as soon as they are copied out.
  auto& buffer = const_cast<grpc::ByteBuffer&>(wire);
  std::vector<grpc::Slice> slices;
  if (!buffer.Dump(&slices).ok()) {
    return absl::InvalidArgumentError("request: unreadable message bytes");
  }
  m.wire.reserve(buffer.Length());
  for (const grpc::Slice& slice : slices) {
    m.wire.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  }
  slices.clear();
  buffer.Clear();

  // Tasks of kinds that read them only at start stay as wire bytes.
  std::shared_ptr<const std::string> bytes(admitted.memory, &m.wire);
  auto* top =
      google::protobuf::Arena::CreateMessage<v1::ExecuteRequest>(&m.arena);
  absl::StatusOr<TaskList> tasks = SplitRequest(bytes, top);
  if (!tasks.ok()) return tasks.status();
  if (executor.CanRunFromWire(*tasks)) {
    admitted.batch.request =
        std::shared_ptr<const v1::ExecuteRequest>(admitted.memory, top);
    admitted.batch.tasks = *std::move(tasks);
    return admitted;
  }
  *tasks = TaskList();
  absl::StatusOr<v1::ExecuteRequest*> request =
      ParseRequest(m.wire, &m.arena, &executor.environment().cpu_pool);
  std::string().swap(m.wire);  // parsed: the bytes are not needed
  if (!request.ok()) return request.status();
  admitted.batch.request =
      std::shared_ptr<const v1::ExecuteRequest>(admitted.memory, *request);
  admitted.batch.tasks = TaskList(admitted.batch.request);
  return admitted;
}

bool SerializeEvent(const v1::ExecuteEvent& event, grpc::ByteBuffer* wire) {
  if (!event.has_results()) return SerializeTo(event, wire);
  // Fields in number order, as protobuf writes them: the chunk (its results,
  // then its progress) is the event's only field.
  const v1::ResultChunk& chunk = event.results();
  constexpr int kChunkField = v1::ExecuteEvent::kResultsFieldNumber;
  constexpr int kResultField = v1::ResultChunk::kResultsFieldNumber;
  constexpr int kProgressField = v1::ResultChunk::kProgressFieldNumber;
  size_t chunk_bytes = 0;
  for (const v1::TaskResult& r : chunk.results()) {
    chunk_bytes += CachedFieldSize(kResultField, r);
  }
  if (chunk.has_progress()) {
    chunk_bytes += FieldSize(kProgressField, chunk.progress());
  }
  const size_t total =
      WireFormatLite::TagSize(kChunkField, WireFormatLite::TYPE_MESSAGE) +
      WireFormatLite::LengthDelimitedSize(chunk_bytes);
  // The event queue keeps chunks under 4 MiB: the length fits a varint32.
  grpc::Slice slice(total);
  uint8_t* out = WireFormatLite::WriteTagToArray(
      kChunkField, WireFormatLite::WIRETYPE_LENGTH_DELIMITED,
      const_cast<uint8_t*>(slice.begin()));
  out = google::protobuf::io::CodedOutputStream::WriteVarint32ToArray(
      static_cast<uint32_t>(chunk_bytes), out);
  for (const v1::TaskResult& r : chunk.results()) {
    out = WriteField(kResultField, r, out);
  }
  if (chunk.has_progress()) {
    out = WriteField(kProgressField, chunk.progress(), out);
  }
  grpc::ByteBuffer buffer(&slice, 1);
  wire->Swap(&buffer);
  return true;
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
  helpers->RunBoth([&] { slices[0] = EncodeResults(response, 0, n / 2); },
                   [&] { slices[1] = EncodeResults(response, n / 2, n); });
  if (response.has_summary()) {
    constexpr int kField = v1::GatherResponse::kSummaryFieldNumber;
    slices[2] = grpc::Slice(FieldSize(kField, response.summary()));
    WriteField(kField, response.summary(),
               const_cast<uint8_t*>(slices[2].begin()));
  }
  if (slices[0].size() + slices[1].size() + slices[2].size() > INT_MAX) {
    return false;  // as SerializeTo: protobuf encodes at most 2 GiB
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
