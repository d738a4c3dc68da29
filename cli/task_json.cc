#include "cli/task_json.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/struct.pb.h"
#include "rapidjson/document.h"
#include "rapidjson/error/en.h"

namespace batchexec {
namespace {

namespace rj = rapidjson;
using google::protobuf::Duration;

// Strict JSON, checked UTF-8, numbers rounded like strtod (protobuf's
// parser does), and no recursion in the parser whatever the nesting.
constexpr unsigned kParseFlags = rj::kParseValidateEncodingFlag |
                                 rj::kParseFullPrecisionFlag |
                                 rj::kParseIterativeFlag;

// A line this small never allocates beyond the buffers.
constexpr size_t kBufferBytes = 64 * 1024;

// Protobuf's binary parser stops at 100 nested messages; an args value is
// 2-3 messages per JSON level. Up to kTrustedDepth JSON levels always fit;
// deeper args are checked by a round trip through the binary parser, so
// that what it would reject (as JsonStringToMessage did) is rejected here.
// Past kMaxDepth no Task can parse, and recursion stops.
constexpr int kTrustedDepth = 30;
constexpr int kMaxDepth = 100;

// The range of google.protobuf.Duration.
constexpr int64_t kMaxDurationSeconds = 315'576'000'000;

using Status = absl::Status;

Status FieldError(absl::string_view field, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(field, ": ", what));
}

const char* TypeName(const rj::Value& v) {
  switch (v.GetType()) {
    case rj::kNullType:
      return "null";
    case rj::kFalseType:
    case rj::kTrueType:
      return "a boolean";
    case rj::kObjectType:
      return "an object";
    case rj::kArrayType:
      return "an array";
    case rj::kStringType:
      return "a string";
    case rj::kNumberType:
      return "a number";
  }
  return "a value";
}

Status WrongType(absl::string_view field, const rj::Value& v,
                 absl::string_view expected) {
  return FieldError(field,
                    absl::StrCat("expected ", expected, ", got ", TypeName(v)));
}

absl::string_view View(const rj::Value& v) {
  return absl::string_view(v.GetString(), v.GetStringLength());
}

bool AllDigits(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (!absl::ascii_isdigit(static_cast<unsigned char>(c))) return false;
  }
  return true;
}

// "1.5s", "-0.000001s", "3s": [-]SECONDS[.FRACTION]s with at most 9
// fraction digits, within Duration's range.
bool ParseDurationString(absl::string_view s, Duration* out) {
  if (!absl::ConsumeSuffix(&s, "s")) return false;
  const bool negative = absl::ConsumePrefix(&s, "-");
  absl::string_view fraction;
  if (const size_t dot = s.find('.'); dot != absl::string_view::npos) {
    fraction = s.substr(dot + 1);
    s = s.substr(0, dot);
    if (fraction.size() > 9 || (!fraction.empty() && !AllDigits(fraction))) {
      return false;
    }
  }
  uint64_t seconds = 0;
  if (!AllDigits(s) || s.size() > 12 || !absl::SimpleAtoi(s, &seconds) ||
      seconds > static_cast<uint64_t>(kMaxDurationSeconds)) {
    return false;
  }
  int32_t nanos = 0;
  for (size_t i = 0; i < 9; ++i) {
    nanos = nanos * 10 + (i < fraction.size() ? fraction[i] - '0' : 0);
  }
  const int sign = negative ? -1 : 1;
  out->set_seconds(sign * static_cast<int64_t>(seconds));
  out->set_nanos(sign * nanos);
  return true;
}

Status ToDuration(absl::string_view field, const rj::Value& v, Duration* out) {
  if (!v.IsString()) return WrongType(field, v, "a duration like \"1.5s\"");
  if (!ParseDurationString(View(v), out)) {
    return FieldError(field, absl::StrCat("\"", View(v),
                                          "\" is not a duration like \"1.5s\" "
                                          "(at most 9 decimals, within "
                                          "315576000000s)"));
  }
  return absl::OkStatus();
}

Status ToString(absl::string_view field, const rj::Value& v, std::string* out) {
  if (!v.IsString()) return WrongType(field, v, "a string");
  out->assign(v.GetString(), v.GetStringLength());
  return absl::OkStatus();
}

// Standard or URL-safe base64, padded or not (protobuf takes both), in its
// one canonical form: protobuf rejects unused bits that are not zero.
bool DecodeBase64(absl::string_view text, std::string* out) {
  const absl::string_view unpadded =
      absl::StripSuffix(absl::StripSuffix(text, "="), "=");
  std::string again;
  if (absl::Base64Unescape(text, out)) {
    again = absl::Base64Escape(*out);
  } else if (absl::WebSafeBase64Unescape(text, out)) {
    again = absl::WebSafeBase64Escape(*out);
  } else {
    return false;
  }
  return absl::StripSuffix(absl::StripSuffix(again, "="), "=") == unpadded;
}

Status ToBytes(absl::string_view field, const rj::Value& v, std::string* out) {
  if (!v.IsString()) return WrongType(field, v, "a base64 string");
  if (!DecodeBase64(View(v), out)) {
    return FieldError(field, "not valid base64");
  }
  return absl::OkStatus();
}

// A JSON number that is a whole number in range, or such a number written
// as a decimal string.
Status ToUint32(absl::string_view field, const rj::Value& v, uint32_t* out) {
  if (v.IsUint()) {
    *out = v.GetUint();
    return absl::OkStatus();
  }
  if (v.IsDouble()) {
    const double d = v.GetDouble();
    if (d >= 0 && d <= UINT32_MAX && std::floor(d) == d) {
      *out = static_cast<uint32_t>(d);
      return absl::OkStatus();
    }
  } else if (v.IsString() && AllDigits(View(v)) &&
             absl::SimpleAtoi(View(v), out)) {
    return absl::OkStatus();
  } else if (!v.IsNumber()) {
    return WrongType(field, v, "an integer");
  }
  return FieldError(field, "expected an integer from 0 to 4294967295");
}

// A JSON number, or one of "NaN", "Infinity", "-Infinity" or a number as a
// string.
Status ToDouble(absl::string_view field, const rj::Value& v, double* out) {
  if (v.IsNumber()) {
    *out = v.GetDouble();
    return absl::OkStatus();
  }
  if (!v.IsString()) return WrongType(field, v, "a number");
  const absl::string_view s = View(v);
  if (s == "NaN") {
    *out = std::nan("");
  } else if (s == "Infinity" || s == "-Infinity") {
    *out = s[0] == '-' ? -HUGE_VAL : HUGE_VAL;
  } else if (s.empty() ||
             s.find_first_not_of("0123456789+-.eE") !=
                 absl::string_view::npos ||
             !absl::SimpleAtod(s, out) || !std::isfinite(*out)) {
    return FieldError(field, absl::StrCat("\"", s, "\" is not a number"));
  }
  return absl::OkStatus();
}

Status ToValue(const rj::Value& v, int depth, google::protobuf::Value* out);

Status ToStruct(const rj::Value& v, int depth, google::protobuf::Struct* out) {
  if (depth > kMaxDepth) {
    return FieldError("args", "nested too deeply");
  }
  auto& fields = *out->mutable_fields();
  for (const auto& member : v.GetObject()) {
    std::string key(member.name.GetString(), member.name.GetStringLength());
    auto [it, inserted] = fields.insert({std::move(key), {}});
    if (!inserted) {
      return FieldError("args", absl::StrCat("the key \"", it->first,
                                             "\" appears twice in an object"));
    }
    Status s = ToValue(member.value, depth + 1, &it->second);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

Status ToValue(const rj::Value& v, int depth, google::protobuf::Value* out) {
  switch (v.GetType()) {
    case rj::kNullType:
      out->set_null_value(google::protobuf::NULL_VALUE);
      return absl::OkStatus();
    case rj::kFalseType:
    case rj::kTrueType:
      out->set_bool_value(v.GetBool());
      return absl::OkStatus();
    case rj::kNumberType:
      out->set_number_value(v.GetDouble());
      return absl::OkStatus();
    case rj::kStringType:
      out->set_string_value(v.GetString(), v.GetStringLength());
      return absl::OkStatus();
    case rj::kObjectType:
      return ToStruct(v, depth, out->mutable_struct_value());
    case rj::kArrayType: {
      if (depth > kMaxDepth) return FieldError("args", "nested too deeply");
      google::protobuf::ListValue* list = out->mutable_list_value();
      list->mutable_values()->Reserve(static_cast<int>(v.Size()));
      for (const rj::Value& item : v.GetArray()) {
        Status s = ToValue(item, depth + 1, list->add_values());
        if (!s.ok()) return s;
      }
      return absl::OkStatus();
    }
  }
  return absl::OkStatus();
}

// Deepest nesting of objects and arrays in `v` (a scalar is 0), counted no
// further than `limit`.
int Depth(const rj::Value& v, int limit) {
  if (limit <= 0) return 0;
  int deepest = 0;
  if (v.IsObject()) {
    for (const auto& member : v.GetObject()) {
      deepest = std::max(deepest, Depth(member.value, limit - 1));
    }
  } else if (v.IsArray()) {
    for (const rj::Value& item : v.GetArray()) {
      deepest = std::max(deepest, Depth(item, limit - 1));
    }
  } else {
    return 0;
  }
  return deepest + 1;
}

Status ToRetryPolicy(const rj::Value& v, v1::RetryPolicy* out) {
  if (!v.IsObject()) return WrongType("retryPolicy", v, "an object");
  for (const auto& member : v.GetObject()) {
    const absl::string_view name = View(member.name);
    const rj::Value& value = member.value;
    Status s;
    if (name == "maxAttempts" || name == "max_attempts") {
      uint32_t n = 0;
      if (!value.IsNull()) s = ToUint32("retryPolicy.maxAttempts", value, &n);
      out->set_max_attempts(n);
    } else if (name == "initialBackoff" || name == "initial_backoff") {
      out->clear_initial_backoff();
      if (!value.IsNull()) {
        s = ToDuration("retryPolicy.initialBackoff", value,
                       out->mutable_initial_backoff());
      }
    } else if (name == "maxBackoff" || name == "max_backoff") {
      out->clear_max_backoff();
      if (!value.IsNull()) {
        s = ToDuration("retryPolicy.maxBackoff", value,
                       out->mutable_max_backoff());
      }
    } else if (name == "backoffMultiplier" || name == "backoff_multiplier") {
      double d = 0;
      if (!value.IsNull()) {
        s = ToDouble("retryPolicy.backoffMultiplier", value, &d);
      }
      out->set_backoff_multiplier(d);
    } else if (name == "retryableStatusCodes" ||
               name == "retryable_status_codes") {
      out->clear_retryable_status_codes();
      if (value.IsNull()) continue;
      if (!value.IsArray()) {
        return WrongType("retryPolicy.retryableStatusCodes", value,
                         "an array of strings");
      }
      for (const rj::Value& code : value.GetArray()) {
        if (code.IsNull()) continue;  // protobuf skips nulls in lists
        s = ToString("retryPolicy.retryableStatusCodes", code,
                     out->add_retryable_status_codes());
        if (!s.ok()) break;
      }
    } else {
      return FieldError("retryPolicy",
                        absl::StrCat("unknown field \"", name, "\""));
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace

struct TaskJsonParser::Buffers {
  char values[kBufferBytes];
  char stack[kBufferBytes];
};

TaskJsonParser::TaskJsonParser() : buffers_(std::make_unique<Buffers>()) {}
TaskJsonParser::~TaskJsonParser() = default;

absl::Status TaskJsonParser::Parse(absl::string_view json, v1::Task* task) {
  task->Clear();
  rj::MemoryPoolAllocator<> values(buffers_->values, kBufferBytes);
  rj::MemoryPoolAllocator<> stack(buffers_->stack, kBufferBytes);
  rj::GenericDocument<rj::UTF8<>, rj::MemoryPoolAllocator<>,
                      rj::MemoryPoolAllocator<>>
      doc(&values, 1024, &stack);
  doc.Parse<kParseFlags>(json.data(), json.size());
  if (doc.HasParseError()) {
    return absl::InvalidArgumentError(
        absl::StrCat(rj::GetParseError_En(doc.GetParseError()), " (column ",
                     doc.GetErrorOffset() + 1, ")"));
  }
  if (!doc.IsObject()) {
    return absl::InvalidArgumentError(
        absl::StrCat("expected a JSON object, got ", TypeName(doc)));
  }
  for (const auto& member : doc.GetObject()) {
    const absl::string_view name = View(member.name);
    const rj::Value& value = member.value;
    Status s;
    if (name == "kind") {
      task->clear_kind();
      if (!value.IsNull()) s = ToString("kind", value, task->mutable_kind());
    } else if (name == "id") {
      task->clear_id();
      if (!value.IsNull()) s = ToString("id", value, task->mutable_id());
    } else if (name == "args") {
      task->clear_args();
      if (value.IsNull()) continue;
      if (!value.IsObject()) return WrongType("args", value, "an object");
      s = ToStruct(value, 1, task->mutable_args());
      if (s.ok() && Depth(value, kTrustedDepth + 1) > kTrustedDepth) {
        v1::Task round_trip;
        if (!round_trip.ParseFromString(task->SerializeAsString())) {
          s = FieldError("args", "nested too deeply for protobuf");
        }
      }
    } else if (name == "payload") {
      task->clear_payload();
      if (!value.IsNull())
        s = ToBytes("payload", value, task->mutable_payload());
    } else if (name == "timeout") {
      task->clear_timeout();
      if (!value.IsNull()) {
        s = ToDuration("timeout", value, task->mutable_timeout());
      }
    } else if (name == "retryPolicy" || name == "retry_policy") {
      task->clear_retry_policy();
      if (!value.IsNull()) {
        s = ToRetryPolicy(value, task->mutable_retry_policy());
      }
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown field \"", name, "\""));
    }
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

}  // namespace batchexec
