#include "common/status_code_name.h"

#include "absl/strings/ascii.h"

namespace batchexec {
namespace {
// gRPC's codes are 0 (OK) to 16 (UNAUTHENTICATED); absl::StatusCode shares
// their numbers and names.
constexpr int kLastCode = 16;
}  // namespace

std::string StatusCodeName(int code) {
  if (code < 0 || code > kLastCode) return "UNKNOWN";
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

std::optional<absl::StatusCode> ParseStatusCodeName(absl::string_view name) {
  const std::string upper = absl::AsciiStrToUpper(name);
  for (int c = 0; c <= kLastCode; ++c) {
    const auto code = static_cast<absl::StatusCode>(c);
    if (absl::StatusCodeToString(code) == upper) return code;
  }
  return std::nullopt;
}

}  // namespace batchexec
