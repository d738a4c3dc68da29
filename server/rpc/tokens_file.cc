#include "server/rpc/tokens_file.h"

#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "common/file_util.h"

namespace batchexec {
namespace {

// Names go to logs and replies, tokens into HTTP headers: neither may hold
// control characters (or spaces, which separate the fields anyway).
bool Printable(absl::string_view field) {
  for (char c : field) {
    if (c <= ' ' || c > '~') return false;
  }
  return true;
}

}  // namespace

absl::StatusOr<std::vector<NamedToken>> ParseTokensFile(
    absl::string_view text, absl::string_view source) {
  std::vector<NamedToken> tokens;
  // Name or token -> the line that first used it, for the error message.
  absl::flat_hash_map<std::string, int> name_lines, token_lines;
  int line_number = 0;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    ++line_number;
    auto error = [&](absl::string_view what) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ":", line_number, ": ", what));
    };
    std::vector<absl::string_view> fields =
        absl::StrSplit(line, absl::ByAnyChar(" \t\r\f\v"), absl::SkipEmpty());
    // A `#` field starts a comment, at the start of the line or after the
    // fields (tokens are token68, which has no `#`).
    for (size_t i = 0; i < fields.size(); ++i) {
      if (absl::StartsWith(fields[i], "#")) {
        fields.resize(i);
        break;
      }
    }
    if (fields.empty()) continue;
    if (fields.size() < 2) {
      return error("expected NAME TOKEN [weight=N], but the token is missing");
    }
    if (fields.size() > 3) {
      return error("expected NAME TOKEN [weight=N], but found more fields");
    }
    NamedToken entry{std::string(fields[0]), std::string(fields[1]), 1};
    if (!Printable(entry.name)) {
      return error("the name has a character that is not printable ASCII");
    }
    if (!Printable(entry.token)) {
      return error("the token has a character that is not printable ASCII");
    }
    if (fields.size() == 3) {
      absl::string_view weight = fields[2];
      if (!absl::ConsumePrefix(&weight, "weight=")) {
        return error("the third field must be weight=N");
      }
      // SimpleAtoi takes "+5" and " 5"; a weight is plain digits.
      const bool digits =
          !weight.empty() &&
          weight.find_first_not_of("0123456789") == absl::string_view::npos;
      if (!digits || !absl::SimpleAtoi(weight, &entry.weight) ||
          entry.weight < 1 || entry.weight > kMaxCallerWeight) {
        return error(absl::StrCat("weight must be an integer from 1 to ",
                                  kMaxCallerWeight));
      }
    }
    if (auto [it, added] = name_lines.emplace(entry.name, line_number);
        !added) {
      return error(
          absl::StrCat("the name is already used on line ", it->second));
    }
    if (auto [it, added] = token_lines.emplace(entry.token, line_number);
        !added) {
      return error(
          absl::StrCat("the token is already used on line ", it->second));
    }
    tokens.push_back(std::move(entry));
  }
  if (tokens.empty()) {
    // Would refuse every call; most likely a truncated or wrong file.
    return absl::InvalidArgumentError(absl::StrCat(source, ": no tokens"));
  }
  return tokens;
}

absl::StatusOr<std::vector<NamedToken>> ReadTokensFile(
    const std::string& path) {
  absl::StatusOr<std::string> text = ReadFile(path);
  if (!text.ok()) return text.status();
  return ParseTokensFile(*text, path);
}

}  // namespace batchexec
