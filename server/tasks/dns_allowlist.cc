#include "server/tasks/dns_allowlist.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "server/tasks/probe_allowlist.h"

namespace batchexec {
namespace {

bool IsLabelChar(char c) {
  return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '-' ||
         c == '_';
}

}  // namespace

absl::StatusOr<DnsAllowlist> DnsAllowlist::Parse(absl::string_view spec) {
  DnsAllowlist list;
  list.spec_ = std::string(spec);
  if (spec.empty()) return list;
  for (absl::string_view entry : absl::StrSplit(spec, ',')) {
    entry = absl::StripAsciiWhitespace(entry);
    Suffix suffix;
    suffix.subdomains_only = absl::ConsumePrefix(&entry, ".");
    absl::ConsumeSuffix(&entry, ".");
    bool ok = !entry.empty();
    for (absl::string_view label : absl::StrSplit(entry, '.')) {
      ok = ok && !label.empty();
      for (char c : label) ok = ok && IsLabelChar(c);
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "entry '", entry,
          "' is not a name suffix (e.g. example.com,.svc.cluster.local)"));
    }
    suffix.name = absl::AsciiStrToLower(entry);
    list.suffixes_.push_back(std::move(suffix));
  }
  return list;
}

bool DnsAllowlist::Allows(absl::string_view name) const {
  if (suffixes_.empty()) return true;
  if (name != "localhost" && IpAddress::Parse(name).ok()) return true;
  absl::ConsumeSuffix(&name, ".");
  const std::string lower = absl::AsciiStrToLower(name);
  for (const Suffix& s : suffixes_) {
    if (!s.subdomains_only && lower == s.name) return true;
    // Under it: ends with ".suffix", so "notexample.com" is not.
    if (lower.size() > s.name.size() && absl::EndsWith(lower, s.name) &&
        lower[lower.size() - s.name.size() - 1] == '.') {
      return true;
    }
  }
  return false;
}

}  // namespace batchexec
