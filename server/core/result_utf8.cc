#include "server/core/result_utf8.h"

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/stubs/common.h"

namespace batchexec {
namespace {

// protobuf's own check, the one a client's parser applies.
bool ValidUtf8(const std::string& s) {
  return google::protobuf::internal::IsStructurallyValidUTF8(s.data(),
                                                             s.size());
}

// The path of the first bad string in `value`, under `path`; "" if none.
std::string FirstInvalid(const google::protobuf::Value& value,
                         const std::string& path) {
  switch (value.kind_case()) {
    case google::protobuf::Value::kStringValue:
      return ValidUtf8(value.string_value()) ? "" : path;
    case google::protobuf::Value::kStructValue:
      for (const auto& [key, field] : value.struct_value().fields()) {
        if (!ValidUtf8(key)) return absl::StrCat(path, " (a key)");
        std::string bad = FirstInvalid(field, absl::StrCat(path, ".", key));
        if (!bad.empty()) return bad;
      }
      return "";
    case google::protobuf::Value::kListValue: {
      const auto& values = value.list_value().values();
      for (int i = 0; i < values.size(); ++i) {
        std::string bad =
            FirstInvalid(values[i], absl::StrCat(path, "[", i, "]"));
        if (!bad.empty()) return bad;
      }
      return "";
    }
    default:
      return "";
  }
}

}  // namespace

std::string FirstInvalidUtf8(const v1::TaskResult& result) {
  if (!ValidUtf8(result.id())) return "id";
  if (!ValidUtf8(result.status().message())) return "status.message";
  if (result.has_output()) return FirstInvalid(result.output(), "output");
  return "";
}

bool ReplaceInvalidUtf8(v1::TaskResult* result) {
  const std::string bad = FirstInvalidUtf8(*result);
  if (bad.empty()) return false;
  if (bad == "id") result->clear_id();
  result->clear_output();
  result->clear_payload();
  v1::Status* status = result->mutable_status();
  status->set_code(static_cast<int>(absl::StatusCode::kInternal));
  status->set_message(absl::StrCat(
      "task result field ", bad,
      " is not valid UTF-8 (the task kind must put binary data in the "
      "payload); the server dropped the result"));
  return true;
}

}  // namespace batchexec
