// The CLI's own JSON code against protobuf's: every line it prints must be
// byte for byte what MessageToJsonString (always_print_primitive_fields,
// '<' and '>' unescaped) prints for the same TaskResult (with a Value left
// unset inside an output printed as null, where protobuf drops it), and every
// task line it reads must give the message JsonStringToMessage gives, or
// fail where that fails. Results and tasks are generated from a fixed seed (set
// BATCHEXEC_JSON_SEED to try others), plus hand-picked edge cases.
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "batchexec/v1/batch.pb.h"
#include "cli/result_json.h"
#include "cli/task_json.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "google/protobuf/util/json_util.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

using google::protobuf::Duration;
using google::protobuf::Value;
using google::protobuf::util::JsonStringToMessage;

constexpr int kResults = 5000;
constexpr int kTasks = 5000;

uint64_t Seed() {
  const char* seed = std::getenv("BATCHEXEC_JSON_SEED");
  return seed != nullptr ? std::strtoull(seed, nullptr, 10) : 20261130;
}

// Pieces strings are made of: plain ASCII, everything JSON or protobuf
// escapes, and multi-byte UTF-8 (some of which protobuf escapes too).
const std::vector<std::string>& StringPieces() {
  static const auto* pieces = new std::vector<std::string>{
      "a",
      "Z",
      "0",
      " ",
      "task-7",
      "/",
      "'",
      "<",
      ">",
      "&",
      "\"",
      "\\",
      "\\u003c",
      std::string(1, '\0'),
      "\x01",
      "\b",
      "\t",
      "\n",
      "\f",
      "\r",
      "\x1f",
      "\x7f",
      "\xc2\x80",          // U+0080
      "\xc2\x9f",          // U+009F
      "\xc2\xa0",          // U+00A0, printed plainly
      "\xc2\xad",          // U+00AD soft hyphen
      "\xc3\xa9",          // é
      "\xd8\x80",          // U+0600
      "\xdb\x9d",          // U+06DD
      "\xe2\x80\x8b",      // U+200B
      "\xe2\x80\xa8",      // U+2028
      "\xe2\x80\xaf",      // U+202F, printed plainly
      "\xe2\x82\xac",      // €
      "\xe4\xb8\xad",      // 中
      "\xef\xbb\xbf",      // U+FEFF
      "\xef\xbf\xbb",      // U+FFFB
      "\xef\xbf\xbd",      // U+FFFD, printed plainly
      "\xf0\x9f\x98\x80",  // 😀
      "\xf0\x9d\x85\xb3",  // U+1D173
      "\xf3\xa0\x80\x81",  // U+E0001
      "\xf4\x8f\xbf\xbf",  // U+10FFFF
  };
  return *pieces;
}

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  int Uniform(int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng_);
  }
  bool OneIn(int n) { return Uniform(1, n) == 1; }

  std::string String() {
    std::string s;
    const int pieces = OneIn(4) ? 0 : Uniform(1, 8);
    for (int i = 0; i < pieces; ++i) {
      s += StringPieces()[Uniform(0, StringPieces().size() - 1)];
    }
    return s;
  }

  std::string Bytes() {
    std::string s(Uniform(0, 10), '\0');
    for (char& c : s) c = static_cast<char>(Uniform(0, 255));
    return s;
  }

  double Number(bool allow_non_finite) {
    static const double kEdges[] = {0.0,
                                    -0.0,
                                    1,
                                    -1,
                                    0.1,
                                    0.5,
                                    1.5,
                                    -2.25,
                                    1e15,
                                    1e15 - 1,
                                    -1e15 + 1,
                                    1e16,
                                    1e21,
                                    1e22,
                                    1e-7,
                                    1e-5,
                                    123456.789,
                                    0.30000000000000004,
                                    9007199254740992.0,
                                    9007199254740993.0,
                                    -9007199254740992.0,
                                    9223372036854775807.0,
                                    -9223372036854775808.0,
                                    18446744073709551615.0,
                                    4294967295.0,
                                    2147483647.0,
                                    -2147483648.0,
                                    DBL_MAX,
                                    -DBL_MAX,
                                    DBL_MIN,
                                    5e-324,
                                    1.7976931348623157e308};
    switch (Uniform(0, 3)) {
      case 0:
        return kEdges[Uniform(0, std::size(kEdges) - 1)];
      case 1:
        return Uniform(-1000, 1000);
      case 2:
        if (allow_non_finite && OneIn(3)) {
          const double non_finite[] = {std::nan(""), HUGE_VAL, -HUGE_VAL};
          return non_finite[Uniform(0, 2)];
        }
        return std::uniform_real_distribution<double>(-1e6, 1e6)(rng_);
      default: {
        // Any finite bit pattern.
        double d;
        do {
          const uint64_t bits = rng_();
          std::memcpy(&d, &bits, sizeof(d));
        } while (!std::isfinite(d));
        return d;
      }
    }
  }

  // `unset`: a Value may be left with no kind (results only; a task's JSON
  // cannot spell one).
  void FillValue(int depth, bool allow_non_finite, Value* v,
                 bool unset = false) {
    if (unset && depth > 0 && OneIn(8)) return;
    const int kind = Uniform(0, depth >= 4 ? 3 : 5);
    switch (kind) {
      case 0:
        v->set_null_value(google::protobuf::NULL_VALUE);
        break;
      case 1:
        v->set_bool_value(OneIn(2));
        break;
      case 2:
        v->set_number_value(Number(allow_non_finite));
        break;
      case 3:
        v->set_string_value(String());
        break;
      case 4: {
        auto* fields = v->mutable_struct_value()->mutable_fields();
        const int n = Uniform(0, 4);
        for (int i = 0; i < n; ++i) {
          FillValue(depth + 1, allow_non_finite, &(*fields)[String()], unset);
        }
        break;
      }
      default: {
        auto* list = v->mutable_list_value();
        const int n = Uniform(0, 4);
        for (int i = 0; i < n; ++i) {
          FillValue(depth + 1, allow_non_finite, list->add_values(), unset);
        }
      }
    }
  }

  void FillDuration(Duration* d) {
    constexpr int64_t kMax = 315'576'000'000;
    static const int64_t kSeconds[] = {0, 1, 59, 3600, kMax, kMax - 1};
    static const int32_t kNanos[] = {0,          1,         999'999'999,
                                     1'000,      1'000'000, 500'000'000,
                                     12'345'000, 120'000,   7};
    int64_t seconds = OneIn(2) ? kSeconds[Uniform(0, 5)] : Uniform(0, 100000);
    int32_t nanos = OneIn(2) ? kNanos[Uniform(0, 8)] : Uniform(0, 999'999'999);
    if (OneIn(5)) {
      seconds = -seconds;
      nanos = -nanos;
    }
    d->set_seconds(seconds);
    d->set_nanos(nanos);
  }

  v1::TaskResult Result() {
    static const uint32_t kIndexes[] = {0, 1, 99'999,
                                        std::numeric_limits<uint32_t>::max()};
    static const int32_t kCodes[] = {0,
                                     1,
                                     4,
                                     5,
                                     13,
                                     16,
                                     -1,
                                     std::numeric_limits<int32_t>::min(),
                                     std::numeric_limits<int32_t>::max()};
    v1::TaskResult r;
    r.set_index(OneIn(2) ? kIndexes[Uniform(0, 3)] : Uniform(0, 1 << 20));
    r.set_id(String());
    if (!OneIn(10)) {
      r.mutable_status()->set_code(kCodes[Uniform(0, 8)]);
      r.mutable_status()->set_message(String());
    }
    if (!OneIn(3)) {
      FillValue(0, /*allow_non_finite=*/true, r.mutable_output(),
                /*unset=*/true);
    }
    if (OneIn(20)) r.mutable_output();  // present, no kind
    r.set_payload(OneIn(2) ? "" : Bytes());
    if (!OneIn(4)) FillDuration(r.mutable_started_after());
    if (!OneIn(4)) FillDuration(r.mutable_finished_after());
    r.set_attempts(OneIn(2) ? Uniform(0, 5) : rng_());
    return r;
  }

  v1::Task Task() {
    v1::Task t;
    if (!OneIn(10)) t.set_kind(String());
    if (!OneIn(3)) t.set_id(String());
    if (!OneIn(3)) {
      auto* fields = t.mutable_args()->mutable_fields();
      const int n = Uniform(0, 5);
      for (int i = 0; i < n; ++i) {
        FillValue(1, /*allow_non_finite=*/false, &(*fields)[String()]);
      }
    }
    if (OneIn(3)) t.set_payload(Bytes());
    if (OneIn(3)) FillDuration(t.mutable_timeout());
    if (OneIn(4)) {
      v1::RetryPolicy* retry = t.mutable_retry_policy();
      retry->set_max_attempts(OneIn(2) ? Uniform(0, 5) : rng_());
      if (OneIn(2)) FillDuration(retry->mutable_initial_backoff());
      if (OneIn(2)) FillDuration(retry->mutable_max_backoff());
      if (OneIn(2)) retry->set_backoff_multiplier(Number(false));
      if (OneIn(3)) {
        const double non_finite[] = {HUGE_VAL, -HUGE_VAL};
        retry->set_backoff_multiplier(non_finite[Uniform(0, 1)]);
      }
      for (int i = Uniform(0, 3); i > 0; --i) {
        retry->add_retryable_status_codes(String());
      }
    }
    return t;
  }

 private:
  std::mt19937_64 rng_;
};

// Sets every Value with no kind inside `v` (not `v` itself) to null.
void NullUnsetInside(Value* v) {
  const auto fix = [](Value* item) {
    if (item->kind_case() == Value::KIND_NOT_SET) {
      item->set_null_value(google::protobuf::NULL_VALUE);
    } else {
      NullUnsetInside(item);
    }
  };
  if (v->has_struct_value()) {
    for (auto& [key, item] : *v->mutable_struct_value()->mutable_fields()) {
      fix(&item);
    }
  } else if (v->has_list_value()) {
    for (Value& item : *v->mutable_list_value()->mutable_values()) fix(&item);
  }
}

std::string ProtobufLine(const v1::TaskResult& r);

// What the CLI must print for `r`: protobuf's line for `r` with every unset
// Value inside its output made null. protobuf drops such a Value from its
// list or object (so [unset,1] prints as [1], a different list); the CLI
// prints null, and nothing else may differ. An unset output itself is left
// out by both. Edits `r` in place: a copy's maps may iterate in another
// order, and both printers print a map in its iteration order.
std::string ProtobufLineWithUnsetAsNull(v1::TaskResult* r) {
  if (r->has_output()) NullUnsetInside(r->mutable_output());
  return ProtobufLine(*r);
}

std::string ProtobufLine(const v1::TaskResult& r) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  std::string json;
  const auto status =
      google::protobuf::util::MessageToJsonString(r, &json, options);
  EXPECT_TRUE(status.ok()) << status.ToString();
  return UnescapeAngleBrackets(json);
}

std::string CliLine(const v1::TaskResult& r) {
  std::string line;
  AppendTaskResultJson(ViewOf(r), &line);
  return line;
}

// Equal fields, maps compared as sets (Serialize is deterministic here).
std::string Canonical(const v1::Task& t) {
  std::string bytes;
  google::protobuf::io::StringOutputStream stream(&bytes);
  google::protobuf::io::CodedOutputStream coded(&stream);
  coded.SetSerializationDeterministic(true);
  t.SerializeToCodedStream(&coded);
  coded.Trim();
  return bytes;
}

// Whether protobuf and the CLI agree on `json`: both reject it, or both
// accept it and give the same task.
void ExpectSameParse(const std::string& json) {
  v1::Task expected;
  const auto want = JsonStringToMessage(json, &expected);
  v1::Task task;
  TaskJsonParser parser;
  const absl::Status got = parser.Parse(json, &task);
  ASSERT_EQ(got.ok(), want.ok())
      << json << "\nprotobuf: " << want.ToString() << "\ncli: " << got;
  if (!want.ok()) return;
  EXPECT_EQ(Canonical(task), Canonical(expected))
      << json << "\nprotobuf: " << expected.ShortDebugString()
      << "\ncli: " << task.ShortDebugString();
}

TEST(CliJsonEquivalence, ResultLinesMatchProtobufsPrinter) {
  Generator gen(Seed());
  for (int i = 0; i < kResults; ++i) {
    v1::TaskResult r = gen.Result();
    const std::string line = CliLine(r);
    const std::string debug = r.ShortDebugString();
    ASSERT_EQ(line, ProtobufLineWithUnsetAsNull(&r)) << debug;
  }
}

// Counts the Values with no kind inside `v`.
int UnsetInside(const Value& v) {
  int n = 0;
  const auto count = [&n](const Value& item) {
    n += item.kind_case() == Value::KIND_NOT_SET ? 1 : UnsetInside(item);
  };
  for (const auto& [key, item] : v.struct_value().fields()) count(item);
  for (const Value& item : v.list_value().values()) count(item);
  return n;
}

TEST(CliJsonEquivalence, GeneratedResultsHoldUnsetValues) {
  Generator gen(Seed());
  int unset = 0;
  for (int i = 0; i < kResults; ++i)
    unset += UnsetInside(gen.Result().output());
  EXPECT_GT(unset, kResults / 20);  // the comparison above meets them
}

TEST(CliJsonEquivalence, UnsetValuesPrintAsNullAndReadBack) {
  v1::TaskResult r;
  auto* fields = r.mutable_output()->mutable_struct_value()->mutable_fields();
  (*fields)["a"];  // no kind
  auto* list = (*fields)["b"].mutable_list_value();
  list->add_values();
  list->add_values()->set_number_value(1);
  const std::string line = CliLine(r);
  EXPECT_NE(line.find(R"("output":{)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("a":null)"), std::string::npos) << line;
  EXPECT_NE(line.find(R"("b":[null,1])"), std::string::npos) << line;
  v1::TaskResult back;
  ASSERT_TRUE(JsonStringToMessage(line, &back).ok()) << line;
  EXPECT_EQ(back.output().struct_value().fields().at("a").kind_case(),
            Value::kNullValue);
  EXPECT_EQ(
      back.output().struct_value().fields().at("b").list_value().values_size(),
      2);
}

TEST(CliJsonEquivalence, ResultEdgeCases) {
  v1::TaskResult r;
  EXPECT_EQ(CliLine(r), ProtobufLine(r));  // every field at its default
  r.mutable_status();
  r.mutable_output()->mutable_struct_value();
  EXPECT_EQ(CliLine(r), ProtobufLine(r));  // empty status and object
  r.mutable_output()->mutable_list_value();
  EXPECT_EQ(CliLine(r), ProtobufLine(r));
  for (double d : {std::nan(""), HUGE_VAL, -HUGE_VAL, -0.0}) {
    r.mutable_output()->set_number_value(d);
    EXPECT_EQ(CliLine(r), ProtobufLine(r)) << d;
  }
  r.set_id("x <y> \\u003c \xe2\x80\xa8");
  EXPECT_EQ(CliLine(r), ProtobufLine(r));
  r.mutable_started_after()->set_seconds(-315'576'000'000);
  r.mutable_started_after()->set_nanos(-999'999'999);
  EXPECT_EQ(CliLine(r), ProtobufLine(r));
}

TEST(CliJsonEquivalence, TaskLinesParseAsProtobufParsesThem) {
  Generator gen(Seed() + 1);
  for (int i = 0; i < kTasks; ++i) {
    const v1::Task t = gen.Task();
    google::protobuf::util::JsonPrintOptions options;
    // Both spellings of field names, with and without default fields.
    options.preserve_proto_field_names = gen.OneIn(2);
    options.always_print_primitive_fields = gen.OneIn(2);
    std::string json;
    ASSERT_TRUE(
        google::protobuf::util::MessageToJsonString(t, &json, options).ok());
    ExpectSameParse(json);
    if (HasFatalFailure()) return;
  }
}

std::string Nested(int levels, const std::string& open,
                   const std::string& close) {
  std::string json = R"({"kind":"k","args":)";
  for (int i = 0; i < levels; ++i) json += open;
  json += "1";
  for (int i = 0; i < levels; ++i) json += close;
  return json + "}";
}

TEST(CliJsonEquivalence, TaskEdgeCases) {
  const std::vector<std::string> cases = {
      // Numbers in args: 64-bit extremes become the nearest double.
      R"({"args":{"a":9223372036854775807,"b":-9223372036854775808}})",
      R"({"args":{"a":18446744073709551615,"b":18446744073709551616}})",
      R"({"args":{"a":9007199254740993,"b":-0,"c":1e-400,"d":4.9e-324}})",
      R"({"args":{"a":1.7976931348623157e308,"b":123456789012345678901234567890}})",
      R"({"args":{"a":1e999}})",  // out of range: both reject
      R"({"args":{"a":NaN}})",    // not JSON: both reject
      R"({"args":{"a":Infinity}})",
      R"({"args":{"a":1,"a":2}})",  // a key twice: both reject
      // Strings and escapes.
      R"({"kind":"\u0000\/\"\\\b\f\n\r\t","id":"\ud83d\ude00\u2028\u00e9"})",
      "{\"kind\":\"\xe4\xb8\xad \xf0\x9f\x98\x80\"}",
      R"({"kind":"\ud800"})",  // a lone surrogate: both reject
      "{\"kind\":\"\xff\"}",   // not UTF-8: both reject
      // Nulls, empties and both spellings.
      R"({"kind":null,"args":null,"payload":null,"timeout":null,"id":null})",
      R"({"retryPolicy":null})",
      R"({"retry_policy":{"max_attempts":3,"initial_backoff":"1s"}})",
      R"({"args":{},"payload":"","id":""})",
      R"({"args":{"a":null,"b":[],"c":{},"d":[null,true,false,"",{}]}})",
      R"({"args":{"":1}})",
      // Scalars in their other JSON forms.
      R"({"retryPolicy":{"maxAttempts":"3"}})",
      R"({"retryPolicy":{"maxAttempts":3.0}})",
      R"({"retryPolicy":{"maxAttempts":1e2}})",
      R"({"retryPolicy":{"maxAttempts":-0}})",
      R"({"retryPolicy":{"maxAttempts":4294967295}})",
      R"({"retryPolicy":{"maxAttempts":4294967296}})",
      R"({"retryPolicy":{"maxAttempts":3.5}})",
      R"({"retryPolicy":{"maxAttempts":-1}})",
      R"({"retryPolicy":{"maxAttempts":"1e2"}})",
      R"({"retryPolicy":{"maxAttempts":true}})",
      R"({"retryPolicy":{"backoffMultiplier":"2.5"}})",
      R"({"retryPolicy":{"backoffMultiplier":"1e2"}})",
      R"({"retryPolicy":{"backoffMultiplier":"Infinity"}})",
      R"({"retryPolicy":{"backoffMultiplier":"-Infinity"}})",
      R"({"retryPolicy":{"backoffMultiplier":true}})",
      R"({"retryPolicy":{"retryableStatusCodes":["UNAVAILABLE",null]}})",
      // Bytes: standard or URL-safe base64, padded or not.
      R"({"payload":"AP8B"})",
      R"({"payload":"YQ=="})",
      R"({"payload":"YQ"})",
      R"({"payload":"AP-_"})",
      R"({"payload":"YQ="})",
      R"({"payload":"Y Q=="})",
      R"({"payload":"YR=="})",
      R"({"payload":"YQ==YQ=="})",
      R"({"payload":"A+/_"})",
      // Durations.
      R"({"timeout":"1.5s"})",
      R"({"timeout":"-0.5s"})",
      R"({"timeout":"0.000000001s"})",
      R"({"timeout":"1.123456789s"})",
      R"({"timeout":"315576000000s"})",
      R"({"timeout":"-315576000000.999999999s"})",
      R"({"timeout":"1.s"})",
      R"({"timeout":"01s"})",
      R"({"timeout":"315576000001s"})",
      R"({"timeout":"1.1234567891s"})",
      R"({"timeout":"1s5"})",
      R"({"timeout":".5s"})",
      R"({"timeout":"1e2s"})",
      R"({"timeout":"--1s"})",
      R"({"timeout":"1"})",
      R"({"timeout":1})",
      // Wrong types, unknown fields, not an object, trailing text.
      R"({"kind":1})",
      R"({"id":true})",
      R"({"args":[]})",
      R"({"args":1})",
      R"({"knd":"echo"})",
      R"({"Kind":"echo"})",
      R"({"retryPolicy":{"maxAttempt":1}})",
      R"([1])",
      R"({"kind":"a"} x)",
      R"({"kind":"a")",
      // Nesting: protobuf takes 100 message levels, 3 per object level and
      // 2 per list level.
      Nested(32, R"({"a":)", "}"),
      Nested(33, R"({"a":)", "}"),
      Nested(200, R"({"a":)", "}"),
      R"({"args":{"a":)" + std::string(48, '[') + "1" + std::string(48, ']') +
          "}}",
      R"({"args":{"a":)" + std::string(49, '[') + "1" + std::string(49, ']') +
          "}}",
  };
  for (const std::string& json : cases) {
    ExpectSameParse(json);
  }
}

}  // namespace
}  // namespace batchexec
