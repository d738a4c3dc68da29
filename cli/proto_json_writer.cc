#include "cli/proto_json_writer.h"

#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"

namespace batchexec {
namespace {

constexpr char kHex[] = "0123456789abcdef";

// The range of google.protobuf.Duration.
constexpr int64_t kMaxDurationSeconds = 315'576'000'000;
constexpr int32_t kNanosPerSecond = 1'000'000'000;

void AppendUnicodeEscape(uint32_t unit, std::string* out) {
  const char escape[6] = {'\\',
                          'u',
                          kHex[(unit >> 12) & 0xf],
                          kHex[(unit >> 8) & 0xf],
                          kHex[(unit >> 4) & 0xf],
                          kHex[unit & 0xf]};
  out->append(escape, sizeof(escape));
}

// Code points protobuf's printer escapes although JSON does not require it:
// invisible or line-breaking characters that trip up JavaScript.
bool EscapedAboveAscii(uint32_t cp) {
  return (cp >= 0x7f && cp <= 0x9f) || cp == 0xad ||
         (cp >= 0x600 && cp <= 0x603) || cp == 0x6dd || cp == 0x70f ||
         cp == 0x17b4 || cp == 0x17b5 || (cp >= 0x200b && cp <= 0x200f) ||
         (cp >= 0x2028 && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x2064) ||
         (cp >= 0x206a && cp <= 0x206f) || cp == 0xfeff ||
         (cp >= 0xfff9 && cp <= 0xfffb) || cp == 0xe0001 ||
         (cp >= 0x1d173 && cp <= 0x1d17a) || (cp >= 0xe0020 && cp <= 0xe007f);
}

// Decodes the UTF-8 sequence at s[i]; returns its length, or 0 if it is not
// valid UTF-8 (overlong forms aside, which protobuf's reader takes too).
size_t DecodeUtf8(absl::string_view s, size_t i, uint32_t* cp) {
  const auto byte = [&](size_t k) { return static_cast<uint8_t>(s[k]); };
  const uint8_t lead = byte(i);
  size_t length;
  if (lead < 0x80) {
    *cp = lead;
    return 1;
  } else if (lead < 0xc0) {
    return 0;
  } else if (lead < 0xe0) {
    length = 2;
    *cp = lead & 0x1f;
  } else if (lead < 0xf0) {
    length = 3;
    *cp = lead & 0x0f;
  } else if (lead < 0xf8) {
    length = 4;
    *cp = lead & 0x07;
  } else {
    return 0;
  }
  if (i + length > s.size()) return 0;
  for (size_t k = 1; k < length; ++k) {
    if ((byte(i + k) & 0xc0) != 0x80) return 0;
    *cp = (*cp << 6) | (byte(i + k) & 0x3f);
  }
  const bool surrogate = (*cp & 0xfffff800) == 0xd800;
  if (surrogate || *cp > 0x10ffff) return 0;
  return length;
}

}  // namespace

void AppendJsonString(absl::string_view s, std::string* out) {
  out->push_back('"');
  size_t plain = 0;  // start of the run not yet copied
  size_t i = 0;
  const auto flush = [&] { out->append(s.data() + plain, i - plain); };
  while (i < s.size()) {
    const auto c = static_cast<uint8_t>(s[i]);
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') {
      ++i;
      continue;
    }
    flush();
    if (c < 0x80) {
      switch (c) {
        case '"':
          out->append("\\\"");
          break;
        case '\\':
          out->append("\\\\");
          break;
        case '\b':
          out->append("\\b");
          break;
        case '\t':
          out->append("\\t");
          break;
        case '\n':
          out->append("\\n");
          break;
        case '\f':
          out->append("\\f");
          break;
        case '\r':
          out->append("\\r");
          break;
        default:  // other controls and DEL
          AppendUnicodeEscape(c, out);
      }
      plain = ++i;
      continue;
    }
    uint32_t cp = 0;
    const size_t length = DecodeUtf8(s, i, &cp);
    if (length == 0) {
      plain = ++i;  // not UTF-8: dropped
      continue;
    }
    if (!EscapedAboveAscii(cp)) {
      plain = i;
      i += length;
      continue;
    }
    if (cp < 0x10000) {
      AppendUnicodeEscape(cp, out);
    } else {
      AppendUnicodeEscape(0xd800 + ((cp - 0x10000) >> 10), out);
      AppendUnicodeEscape(0xdc00 + ((cp - 0x10000) & 0x3ff), out);
    }
    i += length;
    plain = i;
  }
  flush();
  out->push_back('"');
}

void AppendJsonNumber(double d, std::string* out) {
  if (std::isnan(d)) {
    out->append("\"NaN\"");
    return;
  }
  if (std::isinf(d)) {
    out->append(d > 0 ? "\"Infinity\"" : "\"-Infinity\"");
    return;
  }
  // Whole numbers below 1e15 print as integers under %.15g; most outputs
  // are such, and this skips snprintf and strtod for them.
  if (std::fabs(d) < 1e15 && std::trunc(d) == d &&
      !(d == 0 && std::signbit(d))) {
    absl::StrAppend(out, static_cast<int64_t>(d));
    return;
  }
  // protobuf's SimpleDtoa: 15 significant digits if they read back exactly,
  // else 17.
  char buffer[32];
  std::snprintf(buffer, sizeof(buffer), "%.15g", d);
  if (std::strtod(buffer, nullptr) != d) {
    std::snprintf(buffer, sizeof(buffer), "%.17g", d);
  }
  out->append(buffer);
}

bool AppendJsonDuration(const google::protobuf::Duration& d, std::string* out) {
  int64_t seconds = d.seconds();
  int32_t nanos = d.nanos();
  if (seconds < -kMaxDurationSeconds || seconds > kMaxDurationSeconds ||
      nanos <= -kNanosPerSecond || nanos >= kNanosPerSecond) {
    return false;
  }
  out->push_back('"');
  if (seconds < 0 || (seconds == 0 && nanos < 0)) {
    if (nanos > 0) {
      out->pop_back();
      return false;
    }
    out->push_back('-');
    seconds = -seconds;
    nanos = -nanos;
  } else if (nanos < 0) {
    out->pop_back();
    return false;
  }
  absl::StrAppend(out, seconds);
  if (nanos != 0) {
    // 3, 6 or 9 decimals, the fewest that are exact.
    int digits = 9;
    if (nanos % 1'000'000 == 0) {
      nanos /= 1'000'000;
      digits = 3;
    } else if (nanos % 1'000 == 0) {
      nanos /= 1'000;
      digits = 6;
    }
    char fraction[10];
    for (int k = digits - 1; k >= 0; --k) {
      fraction[k] = static_cast<char>('0' + nanos % 10);
      nanos /= 10;
    }
    out->push_back('.');
    out->append(fraction, digits);
  }
  out->append("s\"");
  return true;
}

void AppendJsonBytes(absl::string_view bytes, std::string* out) {
  out->push_back('"');
  out->append(absl::Base64Escape(bytes));
  out->push_back('"');
}

void AppendJsonValue(const google::protobuf::Value& v, std::string* out) {
  using google::protobuf::Value;
  switch (v.kind_case()) {
    case Value::kNullValue:
      out->append("null");
      return;
    case Value::kNumberValue:
      AppendJsonNumber(v.number_value(), out);
      return;
    case Value::kStringValue:
      AppendJsonString(v.string_value(), out);
      return;
    case Value::kBoolValue:
      out->append(v.bool_value() ? "true" : "false");
      return;
    case Value::kStructValue: {
      out->push_back('{');
      bool first = true;
      for (const auto& [key, value] : v.struct_value().fields()) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonString(key, out);
        out->push_back(':');
        AppendJsonValue(value, out);
      }
      out->push_back('}');
      return;
    }
    case Value::kListValue: {
      out->push_back('[');
      bool first = true;
      for (const Value& item : v.list_value().values()) {
        if (!first) out->push_back(',');
        first = false;
        AppendJsonValue(item, out);
      }
      out->push_back(']');
      return;
    }
    case Value::KIND_NOT_SET:
      // An unset Value inside a struct or list: protobuf's printer drops
      // it, which loses a list item's place; null keeps it, and reads back
      // as the null_value it is closest to.
      out->append("null");
      return;
  }
}

}  // namespace batchexec
