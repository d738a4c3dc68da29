#include "server/core/result_size.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "server/core/limits.h"

namespace batchexec {

ResultFit SizeResult(const v1::TaskResult& result) {
  return {result.ByteSizeLong(), 0};
}

ResultFit FitResult(v1::TaskResult* result) {
  constexpr auto kLimit = static_cast<size_t>(kMaxStreamedResultBytes);
  const size_t size = result->ByteSizeLong();
  if (size <= kLimit) return {size, 0};
  result->clear_output();
  result->clear_payload();
  v1::Status* status = result->mutable_status();
  status->set_code(static_cast<int>(absl::StatusCode::kResourceExhausted));
  status->set_message(absl::StrCat(
      "result too large: ", size, " bytes serialized, over the limit of ",
      kMaxStreamedResultBytes,
      " bytes per result (messages stay under 4 MiB)"));
  // Even its id may be too large (the request's limit is far higher).
  size_t fitted = result->ByteSizeLong();
  if (fitted > kLimit) {
    result->clear_id();
    fitted = result->ByteSizeLong();
  }
  return {fitted, size};
}

}  // namespace batchexec
