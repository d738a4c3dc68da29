#include "common/huge_page_malloc.h"

#include <stdlib.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace batchexec {

inline constexpr char kTunable[] = "glibc.malloc.hugetlb";

std::optional<std::string> TunablesWithHugePages(const char* current) {
  if (current == nullptr || *current == '\0') {
    return absl::StrCat(kTunable, "=1");
  }
  if (absl::StrContains(current, kTunable)) return std::nullopt;
  return absl::StrCat(current, ":", kTunable, "=1");
}

void ReexecWithHugePageMalloc(char** argv) {
  const std::optional<std::string> tunables =
      TunablesWithHugePages(getenv("GLIBC_TUNABLES"));
  if (!tunables.has_value()) return;
  if (setenv("GLIBC_TUNABLES", tunables->c_str(), /*overwrite=*/1) != 0) {
    return;
  }
  execv("/proc/self/exe", argv);
  // Still here: exec failed (no /proc?). Run as we are.
}

}  // namespace batchexec
