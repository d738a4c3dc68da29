#include "server/core/task_list.h"

#include <utility>

#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"

namespace batchexec {
using google::protobuf::internal::WireFormatLite;

TaskList::TaskList(std::shared_ptr<const v1::ExecuteRequest> parsed)
    : parsed_(std::move(parsed)) {}

TaskList::TaskList(std::shared_ptr<const std::string> bytes,
                   std::vector<Span> spans)
    : bytes_(std::move(bytes)), spans_(std::move(spans)) {}

int64_t TaskList::size() const {
  return parsed_ != nullptr ? parsed_->tasks_size()
                            : static_cast<int64_t>(spans_.size());
}

const v1::Task* TaskList::Get(int64_t index,
                              google::protobuf::Arena* arena) const {
  if (parsed_ != nullptr) return &parsed_->tasks(static_cast<int>(index));
  const Span span = spans_[index];
  auto* task = google::protobuf::Arena::CreateMessage<v1::Task>(arena);
  if (!task->ParseFromArray(bytes_->data() + span.offset,
                            static_cast<int>(span.size))) {
    return nullptr;
  }
  return task;
}

absl::string_view TaskList::Kind(int64_t index) const {
  if (parsed_ != nullptr) return parsed_->tasks(static_cast<int>(index)).kind();
  return WireString(index, v1::Task::kKindFieldNumber);
}

absl::string_view TaskList::Id(int64_t index) const {
  if (parsed_ != nullptr) return parsed_->tasks(static_cast<int>(index)).id();
  return WireString(index, v1::Task::kIdFieldNumber);
}

absl::string_view TaskList::WireString(int64_t index, int field) const {
  const Span span = spans_[index];
  const char* begin = bytes_->data() + span.offset;
  google::protobuf::io::CodedInputStream in(
      reinterpret_cast<const uint8_t*>(begin), static_cast<int>(span.size));
  absl::string_view found;  // proto3: the last occurrence wins
  for (uint32_t tag; (tag = in.ReadTag()) != 0;) {
    if (WireFormatLite::GetTagFieldNumber(tag) == field &&
        WireFormatLite::GetTagWireType(tag) ==
            WireFormatLite::WIRETYPE_LENGTH_DELIMITED) {
      uint32_t length;
      if (!in.ReadVarint32(&length)) break;
      const int at = in.CurrentPosition();
      if (!in.Skip(static_cast<int>(length))) break;
      found = absl::string_view(begin + at, length);
      continue;
    }
    if (!WireFormatLite::SkipField(&in, tag)) break;
  }
  return found;
}

}  // namespace batchexec
