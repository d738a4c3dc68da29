#include "common/malloc_tunables.h"

#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"

namespace batchexec {
namespace {

// Name and value; malloc_tunables.h says why each.
constexpr const char* kTunables[][2] = {
    {"glibc.malloc.hugetlb", "1"},
    {"glibc.malloc.top_pad", "67108864"},
    {"glibc.malloc.mmap_threshold", "33554432"},
};

bool Names(absl::string_view tunables, absl::string_view name) {
  for (absl::string_view item : absl::StrSplit(tunables, ':')) {
    if (absl::StartsWith(item, absl::StrCat(name, "="))) return true;
  }
  return false;
}

}  // namespace

std::optional<std::string> WithShortRunMallocTunables(const char* current) {
  std::string tunables = current == nullptr ? "" : current;
  bool added = false;
  for (const auto& [name, value] : kTunables) {
    if (Names(tunables, name)) continue;
    absl::StrAppend(&tunables, tunables.empty() ? "" : ":", name, "=", value);
    added = true;
  }
  if (!added) return std::nullopt;
  return tunables;
}

void ReexecWithShortRunMalloc(char** argv) {
  const std::optional<std::string> tunables =
      WithShortRunMallocTunables(getenv("GLIBC_TUNABLES"));
  if (!tunables.has_value()) return;
  if (setenv("GLIBC_TUNABLES", tunables->c_str(), /*overwrite=*/1) != 0) {
    return;
  }
  execv("/proc/self/exe", argv);
  // Still here: exec failed (no /proc?). Run as we are.
}

}  // namespace batchexec
