// Fuzzes the CLI's inputs: a JSON-lines task file and KIND:ARGS arguments.
// Either parses or returns an error naming the line; never crashes.
#include <cstddef>
#include <cstdint>
#include <string>

#include "absl/strings/string_view.h"
#include "cli/task_args.h"
#include "cli/task_reader.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view text(reinterpret_cast<const char*>(data), size);
  auto tasks = batchexec::ParseTasksJsonl(text);
  if (!tasks.ok() &&
      tasks.status().message().find("line ") == std::string::npos) {
    __builtin_trap();  // every error names its line
  }
  (void)batchexec::ParseTaskArg(text);
  return 0;
}
