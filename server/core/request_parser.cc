#include "server/core/request_parser.h"

#include <vector>

#include "google/protobuf/io/coded_stream.h"

namespace batchexec {
namespace {

absl::Status NotARequest() {
  return absl::InvalidArgumentError(
      "request: not a valid batchexec.v1.ExecuteRequest message");
}

// Where to cut: [split, tasks_end) is a run of top-level `tasks` fields that
// starts at or after the middle. Parsing [0, split), then that run, then the
// rest, in that order, is the same as parsing the whole.
struct Split {
  size_t split = 0;  // 0: parse in one piece
  size_t tasks_end = 0;
};

// Skips the value of a field whose tag was just read; false if malformed
// (groups included: requests have none, and a plain parse judges them).
bool SkipValue(google::protobuf::io::CodedInputStream& in, uint32_t tag) {
  uint64_t varint;
  uint32_t length;
  switch (tag & 7) {
    case 0:
      return in.ReadVarint64(&varint);
    case 1:
      return in.Skip(8);
    case 2:
      return in.ReadVarint32(&length) && in.Skip(static_cast<int>(length));
    case 5:
      return in.Skip(4);
    default:
      return false;
  }
}

bool IsTask(uint32_t tag) {
  return tag >> 3 == v1::ExecuteRequest::kTasksFieldNumber && (tag & 7) == 2;
}

Split FindSplit(absl::string_view bytes) {
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes.data()),
      static_cast<int>(bytes.size()));
  Split s;
  for (;;) {
    const size_t pos = static_cast<size_t>(in.CurrentPosition());
    const uint32_t tag = in.ReadTag();
    const bool is_task = IsTask(tag);
    if (s.split != 0 && !is_task) {
      s.tasks_end = pos;  // the run ends here (or at the end of the bytes)
      return s;
    }
    if (tag == 0) return Split();  // ended before the middle, or malformed
    if (s.split == 0 && is_task && pos >= bytes.size() / 2) s.split = pos;
    if (!SkipValue(in, tag)) return Split();
  }
}

}  // namespace

absl::StatusOr<int64_t> CountTasks(
    google::protobuf::io::ZeroCopyInputStream& bytes) {
  google::protobuf::io::CodedInputStream in(&bytes);
  int64_t tasks = 0;
  for (;;) {
    const uint32_t tag = in.ReadTag();
    // The end, or a malformed tag that the full parse will refuse.
    if (tag == 0) return tasks;
    if (IsTask(tag)) ++tasks;
    if (!SkipValue(in, tag)) return NotARequest();
  }
}

absl::StatusOr<v1::ExecuteRequest*> ParseRequest(absl::string_view bytes,
                                                 google::protobuf::Arena* arena,
                                                 WorkerPool* helpers,
                                                 size_t parallel_bytes) {
  using google::protobuf::Arena;
  auto* request = Arena::CreateMessage<v1::ExecuteRequest>(arena);
  const Split split = helpers != nullptr && bytes.size() >= parallel_bytes
                          ? FindSplit(bytes)
                          : Split();
  if (split.split == 0) {
    if (!request->ParseFromArray(bytes.data(), static_cast<int>(bytes.size())))
      return NotARequest();
    return request;
  }
  const absl::string_view second =
      bytes.substr(split.split, split.tasks_end - split.split);
  auto* tail_request = Arena::CreateMessage<v1::ExecuteRequest>(arena);
  bool first_ok = false;
  bool second_ok = false;
  helpers->RunBoth(
      [&] {
        first_ok = request->ParseFromArray(bytes.data(),
                                           static_cast<int>(split.split));
      },
      [&] {
        second_ok = tail_request->ParseFromArray(
            second.data(), static_cast<int>(second.size()));
      });
  if (!first_ok || !second_ok) return NotARequest();
  // Append the second half's tasks (same arena: pointers move), then the
  // fields after them, merged as a parse would.
  auto* tail = tail_request->mutable_tasks();
  std::vector<v1::Task*> moved(tail->size());
  tail->UnsafeArenaExtractSubrange(0, tail->size(), moved.data());
  auto* tasks = request->mutable_tasks();
  tasks->Reserve(tasks->size() + static_cast<int>(moved.size()));
  for (v1::Task* task : moved) tasks->UnsafeArenaAddAllocated(task);
  const absl::string_view rest = bytes.substr(split.tasks_end);
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(rest.data()),
      static_cast<int>(rest.size()));
  if (!request->MergeFromCodedStream(&in) || !in.ConsumedEntireMessage()) {
    return NotARequest();
  }
  return request;
}

absl::StatusOr<TaskList> SplitRequest(std::shared_ptr<const std::string> bytes,
                                      v1::ExecuteRequest* top) {
  if (bytes->size() > UINT32_MAX) return NotARequest();
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(bytes->data()),
      static_cast<int>(bytes->size()));
  std::vector<TaskList::Span> spans;
  // The other fields, in order, parse as they would in the whole message.
  std::string rest;
  for (;;) {
    const size_t start = static_cast<size_t>(in.CurrentPosition());
    const uint32_t tag = in.ReadTag();
    if (tag == 0) {
      if (start != bytes->size()) return NotARequest();  // not the end
      break;
    }
    if (IsTask(tag)) {
      uint32_t size;
      if (!in.ReadVarint32(&size)) return NotARequest();
      const auto offset = static_cast<uint32_t>(in.CurrentPosition());
      if (!in.Skip(static_cast<int>(size))) return NotARequest();
      spans.push_back({offset, size});
      continue;
    }
    if (!SkipValue(in, tag)) return NotARequest();
    rest.append(*bytes, start,
                static_cast<size_t>(in.CurrentPosition()) - start);
  }
  if (!top->ParseFromString(rest)) return NotARequest();
  return TaskList(std::move(bytes), std::move(spans));
}

}  // namespace batchexec
