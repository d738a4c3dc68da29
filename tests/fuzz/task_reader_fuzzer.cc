// Fuzzes the CLI's inputs: a JSON-lines task file and KIND:ARGS arguments.
// Either parses or returns an error naming the line; never crashes. A file
// cut in two halves parsed at once reads as it does whole.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "cli/task_args.h"
#include "cli/task_reader.h"
#include "tests/fuzz/same_message.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto tasks = batchexec::ParseTasksJsonl(text);
  if (!tasks.ok() &&
      tasks.status().message().find("line ") == std::string::npos) {
    __builtin_trap();  // every error names its line
  }
  auto split = batchexec::ParseTasksJsonl(text, 1);
  if (split.status() != tasks.status()) __builtin_trap();
  if (tasks.ok()) {
    if (split->size() != tasks->size()) __builtin_trap();
    for (size_t i = 0; i < tasks->size(); ++i) {
      if (!batchexec::SameMessage((*tasks)[i], (*split)[i])) __builtin_trap();
    }
  }
  (void)batchexec::ParseTaskArg(text);
  return 0;
}
