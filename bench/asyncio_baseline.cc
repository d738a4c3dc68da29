#include "bench/asyncio_baseline.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace batchexec::bench {
namespace {

bool Exists(const std::string& path) { return access(path.c_str(), R_OK) == 0; }

std::string FindScript() {
  // `bazel run` starts the binary in its runfiles tree, under the workspace
  // name.
  for (const char* path :
       {"bench/asyncio_baseline.py", "batchexec/bench/asyncio_baseline.py"}) {
    if (Exists(path)) return path;
  }
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY")) {
    std::string path = absl::StrCat(ws, "/bench/asyncio_baseline.py");
    if (Exists(path)) return path;
  }
  return "";
}

// The number after "key": in a flat JSON object; nullopt if absent.
std::optional<double> JsonNumber(absl::string_view json,
                                 absl::string_view key) {
  const std::string quoted = absl::StrCat("\"", key, "\":");
  size_t pos = json.find(quoted);
  if (pos == absl::string_view::npos) return std::nullopt;
  absl::string_view rest = json.substr(pos + quoted.size());
  size_t end = rest.find_first_of(",}");
  double value;
  if (!absl::SimpleAtod(rest.substr(0, end), &value)) return std::nullopt;
  return value;
}

}  // namespace

AsyncioBaseline::AsyncioBaseline(std::string python, std::string script)
    : python_(std::move(python)),
      script_(script.empty() ? FindScript() : std::move(script)) {}

bool AsyncioBaseline::available(std::string* why) const {
  if (script_.empty() || !Exists(script_)) {
    if (why) *why = "bench/asyncio_baseline.py not found";
    return false;
  }
  const std::string probe = absl::StrCat(python_, " -c pass >/dev/null 2>&1");
  if (std::system(probe.c_str()) != 0) {
    if (why) *why = absl::StrCat(python_, " not runnable");
    return false;
  }
  return true;
}

std::optional<AsyncioResult> AsyncioBaseline::Run(
    const std::string& args) const {
  if (script_.empty()) return std::nullopt;
  const std::string command =
      absl::StrCat(python_, " ", script_, " ", args, " 2>/dev/null");
  FILE* pipe = popen(command.c_str(), "r");
  if (pipe == nullptr) return std::nullopt;
  std::string output;
  char buffer[512];
  while (fgets(buffer, sizeof(buffer), pipe) != nullptr) output += buffer;
  if (pclose(pipe) != 0) return std::nullopt;
  auto wall = JsonNumber(output, "wall_s");
  auto rate = JsonNumber(output, "tasks_per_s");
  if (!wall || !rate) return std::nullopt;
  return AsyncioResult{*wall, *rate};
}

}  // namespace batchexec::bench
