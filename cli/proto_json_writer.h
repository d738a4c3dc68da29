// Appends the proto3 JSON of protobuf's scalar and well-known types to a
// string, byte for byte as protobuf 3.21's printer (MessageToJsonString)
// writes them, except that '<' and '>' stay plain (the CLI prints them so;
// see UnescapeAngleBrackets). Its printer costs ~80 µs a small message;
// these cost well under 1 µs.
//
// What protobuf prints, and so these do:
//   strings: '"', '\\' and control characters escaped (\b \t \n \f \r, else
//     \u00XX), and the invisible or line-breaking code points JavaScript
//     trips over (U+007F-U+009F, U+2028, U+FEFF, ...) as \uXXXX
//   numbers: the shortest of %.15g and %.17g that reads back exactly
//   Duration: "1.5s", "-0.000001s", "3s" (0, 3, 6 or 9 decimals)
//   bytes: standard base64 with padding
//   Value: null, booleans, numbers, strings, lists and objects; object keys
//     in the Struct's map order, which is what protobuf prints too
#ifndef BATCHEXEC_CLI_PROTO_JSON_WRITER_H_
#define BATCHEXEC_CLI_PROTO_JSON_WRITER_H_

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/duration.pb.h"
#include "google/protobuf/struct.pb.h"

namespace batchexec {

// `s` (UTF-8) as a quoted JSON string. Bytes that are not UTF-8 are dropped,
// as protobuf's printer drops them.
void AppendJsonString(absl::string_view s, std::string* out);

// A double; NaN and infinities as the strings "NaN", "Infinity" and
// "-Infinity", as protobuf prints them.
void AppendJsonNumber(double d, std::string* out);

// A duration as a quoted string; false (and nothing appended) outside
// Duration's range or with seconds and nanos of opposite signs.
bool AppendJsonDuration(const google::protobuf::Duration& d, std::string* out);

// Bytes as a quoted base64 string.
void AppendJsonBytes(absl::string_view bytes, std::string* out);

// A google.protobuf.Value. A Value with no kind set writes null, wherever it
// is (protobuf's printer drops it from a list or object, shifting the list's
// items); a caller leaves a top-level field holding one out, as protobuf
// does.
void AppendJsonValue(const google::protobuf::Value& v, std::string* out);

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_PROTO_JSON_WRITER_H_
