// The tasks of a batch, read by index, kept in one of two forms:
//  - parsed: the request's own Tasks, on its arena, as protobuf built them;
//  - wire: the request's bytes, each task parsed only when it is read.
// A parsed task with its args Struct takes ~460 bytes; its wire bytes take
// ~33. A batch runs from the wire form when every kind in it reads its task
// only while its handler runs (TaskKind::reads_task_only_at_start): a
// sleeping or waiting task then holds no parsed copy of its args, and a
// million of them fit in well under half the memory.
#ifndef BATCHEXEC_SERVER_CORE_TASK_LIST_H_
#define BATCHEXEC_SERVER_CORE_TASK_LIST_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"
#include "batchexec/v1/batch.pb.h"
#include "google/protobuf/arena.h"

namespace batchexec {

class TaskList {
 public:
  // Where one task's serialized bytes are in the request.
  struct Span {
    uint32_t offset = 0;
    uint32_t size = 0;
  };

  TaskList() = default;
  // The tasks of a parsed request (kept alive with it).
  explicit TaskList(std::shared_ptr<const v1::ExecuteRequest> parsed);
  // Tasks kept as wire bytes: task i is bytes->substr(spans[i])
  // (SplitRequest in request_parser.h finds them).
  TaskList(std::shared_ptr<const std::string> bytes, std::vector<Span> spans);

  int64_t size() const;
  bool parsed() const { return parsed_ != nullptr; }

  // Task `index`. A wire task is parsed onto `arena`, so it lives as long
  // as the arena; null if its bytes are not a Task's (never for a batch's
  // tasks: Executor parses each once when it validates them).
  const v1::Task* Get(int64_t index, google::protobuf::Arena* arena) const;
  // Task `index`'s kind and id, read without parsing the rest of it.
  absl::string_view Kind(int64_t index) const;
  absl::string_view Id(int64_t index) const;

 private:
  // The last value of string field `field` of wire task `index`.
  absl::string_view WireString(int64_t index, int field) const;

  std::shared_ptr<const v1::ExecuteRequest> parsed_;
  std::shared_ptr<const std::string> bytes_;
  std::vector<Span> spans_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_TASK_LIST_H_
