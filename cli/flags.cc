#include "cli/flags.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <optional>
#include <utility>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/commandlineflag.h"
#include "absl/flags/flag.h"
#include "absl/flags/reflection.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "cli/ordered_output.h"
#include "common/status_code_name.h"

ABSL_FLAG(std::string, target, "127.0.0.1:50051", "server to use");
ABSL_FLAG(uint32_t, max_concurrency, 0,
          "most tasks running at once; 0: the server's default");
ABSL_FLAG(bool, return_exceptions, false,
          "run every task to its end (COLLECT_ALL); without it the first "
          "failure cancels the rest (FAIL_FAST)");
ABSL_FLAG(batchexec::CliDuration, task_timeout, {},
          "time limit of each task, e.g. 1.5s, 500ms, 2 (the SDK's "
          "GatherOptions::task_timeout)");
ABSL_FLAG(batchexec::CliDuration, timeout, {},
          "time limit of the whole call (GatherOptions::timeout; named "
          "deadline before 2026-12, when this flag limited each task)");
ABSL_FLAG(batchexec::CliDuration, deadline, {},
          "deprecated: the old name of --timeout");
ABSL_FLAG(uint32_t, retry_attempts, 1,
          "run a failed task up to N times in all (the server caps it, by "
          "default at 5); 1 = no retry");
ABSL_FLAG(std::vector<std::string>, retry_codes, {"UNAVAILABLE"},
          "failures retried, e.g. UNAVAILABLE,DEADLINE_EXCEEDED");
ABSL_FLAG(batchexec::CliDuration, retry_backoff,
          batchexec::CliDuration{absl::Milliseconds(100)},
          "longest wait before the first retry (doubles each retry, up to "
          "10s; jittered)");
ABSL_FLAG(double, rate, 0,
          "start at most N tasks per second, evenly spaced (retries "
          "included); 0: no limit");
ABSL_FLAG(bool, unordered, false,
          "print each result as it completes, not in request order (each "
          "line has its \"index\")");
ABSL_FLAG(uint64_t, max_pending_output_bytes,
          batchexec::kDefaultMaxPendingOutputBytes,
          "bytes of results waiting for an earlier one held in memory; more "
          "go to a temporary file in $TMPDIR (else /tmp)");
ABSL_FLAG(std::string, progress, "auto",
          "progress on stderr: auto, bar, lines or none (auto: a bar on a "
          "terminal unless stdout is one too, periodic lines otherwise)");
ABSL_FLAG(bool, json, false, "kinds: print the ListTaskKinds response as JSON");
ABSL_FLAG(std::string, tls_ca, "",
          "use TLS, trusting the server certificates FILE (PEM) signed");
ABSL_FLAG(std::string, tls_cert, "",
          "client certificate (PEM), for mutual TLS; with --tls_key");
ABSL_FLAG(std::string, tls_key, "", "the key of --tls_cert (PEM)");
ABSL_FLAG(std::string, auth_token_file, "",
          "send 'authorization: Bearer <token in FILE>'");

namespace batchexec {
namespace {

struct FlagEntry {
  const absl::CommandLineFlag* flag;
  const char* value_name;  // in the usage text; null for a bool flag
  bool hidden = false;     // accepted, not in the usage text (deprecated)
};

// The tool's flags in the order the usage text lists them. Only these are
// accepted on the command line, whatever else the program links.
const std::vector<FlagEntry>& CliFlagList() {
  static const auto* const list = new std::vector<FlagEntry>{
      {&absl::GetFlagReflectionHandle(FLAGS_target), "HOST:PORT"},
      {&absl::GetFlagReflectionHandle(FLAGS_max_concurrency), "N"},
      {&absl::GetFlagReflectionHandle(FLAGS_return_exceptions), nullptr},
      {&absl::GetFlagReflectionHandle(FLAGS_task_timeout), "DURATION"},
      {&absl::GetFlagReflectionHandle(FLAGS_timeout), "DURATION"},
      {&absl::GetFlagReflectionHandle(FLAGS_deadline), "DURATION", true},
      {&absl::GetFlagReflectionHandle(FLAGS_retry_attempts), "N"},
      {&absl::GetFlagReflectionHandle(FLAGS_retry_codes), "CODE,..."},
      {&absl::GetFlagReflectionHandle(FLAGS_retry_backoff), "DURATION"},
      {&absl::GetFlagReflectionHandle(FLAGS_rate), "N"},
      {&absl::GetFlagReflectionHandle(FLAGS_unordered), nullptr},
      {&absl::GetFlagReflectionHandle(FLAGS_max_pending_output_bytes), "N"},
      {&absl::GetFlagReflectionHandle(FLAGS_progress), "STYLE"},
      {&absl::GetFlagReflectionHandle(FLAGS_json), nullptr},
      {&absl::GetFlagReflectionHandle(FLAGS_tls_ca), "FILE"},
      {&absl::GetFlagReflectionHandle(FLAGS_tls_cert), "FILE"},
      {&absl::GetFlagReflectionHandle(FLAGS_tls_key), "FILE"},
      {&absl::GetFlagReflectionHandle(FLAGS_auth_token_file), "FILE"},
  };
  return *list;
}

// One of the tool's flags by name, or null.
absl::CommandLineFlag* FindCliFlag(absl::string_view name) {
  absl::CommandLineFlag* flag = absl::FindCommandLineFlag(name);
  for (const FlagEntry& entry : CliFlagList()) {
    if (entry.flag == flag) return flag;
  }
  return nullptr;
}

// Sets the flag a "--name[=value]" argument names; `next` is the argument
// after it, which a flag without "=value" takes as its value (a bool flag
// does not). Sets `*used_next` if it did.
absl::Status SetFlag(absl::string_view arg, const std::string* next,
                     bool* used_next, std::string* flag_name) {
  const size_t eq = arg.find('=');
  std::string name(arg.substr(0, eq));
  std::optional<std::string> value;
  if (eq != absl::string_view::npos) value = std::string(arg.substr(eq + 1));
  absl::CommandLineFlag* flag = FindCliFlag(name);
  if (flag == nullptr && !value.has_value() && absl::StartsWith(name, "no")) {
    absl::CommandLineFlag* negated = FindCliFlag(name.substr(2));
    if (negated != nullptr && negated->IsOfType<bool>()) {
      flag = negated;
      value = "false";
    }
  }
  if (flag == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("unknown flag --", name));
  }
  if (!value.has_value()) {
    if (flag->IsOfType<bool>()) {
      value = "true";
    } else if (next != nullptr) {
      value = *next;
      *used_next = true;
    } else {
      return absl::InvalidArgumentError(
          absl::StrCat("--", name, " needs a value"));
    }
  }
  *flag_name = std::string(flag->Name());
  std::string error;  // names the flag and the value
  if (!flag->ParseFrom(*value, &error)) {
    return absl::InvalidArgumentError(error);
  }
  return absl::OkStatus();
}

// The parsed flags, with the checks their types do not make; `set` names
// the flags the command line gave, and `warnings` gets what to tell about
// deprecated ones.
absl::StatusOr<CliFlags> ReadFlags(const absl::flat_hash_set<std::string>& set,
                                   std::vector<std::string>* warnings) {
  CliFlags f;
  f.target = absl::GetFlag(FLAGS_target);
  f.max_concurrency = absl::GetFlag(FLAGS_max_concurrency);
  f.return_exceptions = absl::GetFlag(FLAGS_return_exceptions);
  f.task_timeout = absl::GetFlag(FLAGS_task_timeout).value;
  f.timeout = absl::GetFlag(FLAGS_timeout).value;
  // One naming with the SDK (GatherOptions::task_timeout and ::timeout):
  // --deadline stays for one release as --timeout's old name, and an old
  // --timeout, which meant each task's limit, is told about.
  if (set.contains("deadline")) {
    if (set.contains("timeout")) {
      return absl::InvalidArgumentError(
          "--deadline is the old name of --timeout: give only --timeout");
    }
    f.timeout = absl::GetFlag(FLAGS_deadline).value;
    warnings->push_back(
        "--deadline is deprecated and goes in the next release: it is now "
        "--timeout (the whole call's time limit)");
  } else if (set.contains("timeout") && !set.contains("task_timeout")) {
    warnings->push_back(
        "--timeout limits the whole call (it was --deadline); until this "
        "release it limited each task, which is now --task_timeout");
  }
  f.retry_attempts = absl::GetFlag(FLAGS_retry_attempts);
  if (f.retry_attempts < 1) {
    return absl::InvalidArgumentError(
        "--retry_attempts=0: expected a positive integer");
  }
  for (const std::string& name : absl::GetFlag(FLAGS_retry_codes)) {
    if (name.empty()) continue;
    std::optional<absl::StatusCode> code = ParseStatusCodeName(name);
    if (!code.has_value() || *code == absl::StatusCode::kOk) {
      return absl::InvalidArgumentError(
          absl::StrCat("--retry_codes: '", name,
                       "' is not a failure code name (e.g. UNAVAILABLE)"));
    }
    f.retry_codes.push_back(*code);
  }
  if (f.retry_codes.empty()) {
    return absl::InvalidArgumentError("--retry_codes needs a code name");
  }
  f.retry_backoff = absl::GetFlag(FLAGS_retry_backoff).value;
  f.rate = absl::GetFlag(FLAGS_rate);
  if (!(f.rate >= 0) || !std::isfinite(f.rate)) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rate=", absl::GetFlag(FLAGS_rate),
                     ": expected starts per second, e.g. 100 or 0.5"));
  }
  f.unordered = absl::GetFlag(FLAGS_unordered);
  f.max_pending_output_bytes = absl::GetFlag(FLAGS_max_pending_output_bytes);
  f.progress = absl::GetFlag(FLAGS_progress);
  if (f.progress != "auto" && f.progress != "bar" && f.progress != "lines" &&
      f.progress != "none") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--progress=", f.progress, ": expected auto, bar, lines or none"));
  }
  f.json = absl::GetFlag(FLAGS_json);
  f.tls.ca_file = absl::GetFlag(FLAGS_tls_ca);
  f.tls.cert_file = absl::GetFlag(FLAGS_tls_cert);
  f.tls.key_file = absl::GetFlag(FLAGS_tls_key);
  f.auth_token_file = absl::GetFlag(FLAGS_auth_token_file);
  return f;
}

// Puts the tool's flags back to their values at construction. Not
// absl::FlagSaver: it logs a "Restore saved value" line to stderr for every
// flag that was set, i.e. on every run of the tool with a flag.
class CliFlagsRestorer {
 public:
  CliFlagsRestorer() {
    for (const FlagEntry& entry : CliFlagList()) {
      saved_.emplace_back(entry.flag->Name(), entry.flag->CurrentValue());
    }
  }
  ~CliFlagsRestorer() {
    std::string error;
    for (const auto& [name, value] : saved_) {
      // The saved text is the flag's own rendering, which it parses back;
      // a flag type that does not would keep a stale value into the next
      // in-process run, so that is a bug to stop at (flags_test meets it).
      if (!FindCliFlag(name)->ParseFrom(value, &error)) {
        std::fprintf(stderr, "batchexec: --%s cannot be restored to '%s': %s\n",
                     name.c_str(), value.c_str(), error.c_str());
        std::abort();
      }
    }
  }
  CliFlagsRestorer(const CliFlagsRestorer&) = delete;
  CliFlagsRestorer& operator=(const CliFlagsRestorer&) = delete;

 private:
  std::vector<std::pair<std::string, std::string>> saved_;
};

// `text` as lines of at most `width` characters, each after `indent`.
std::string Wrap(absl::string_view text, size_t indent, size_t width) {
  std::string out;
  size_t line = 0;
  for (absl::string_view word : absl::StrSplit(text, ' ', absl::SkipEmpty())) {
    if (line > 0 && line + 1 + word.size() > width) {
      absl::StrAppend(&out, "\n", std::string(indent, ' '));
      line = 0;
    } else if (line > 0) {
      out.push_back(' ');
      ++line;
    }
    absl::StrAppend(&out, word);
    line += word.size();
  }
  return out;
}

}  // namespace

bool AbslParseFlag(absl::string_view text, CliDuration* duration,
                   std::string* error) {
  absl::Duration d;
  double seconds;
  if (absl::SimpleAtod(text, &seconds)) {
    d = absl::Seconds(seconds);
  } else if (!absl::ParseDuration(text, &d)) {
    *error = "not a duration (e.g. 1.5s, 500ms, 2)";
    return false;
  }
  if (d <= absl::ZeroDuration()) {
    *error = "must be positive";
    return false;
  }
  duration->value = d;
  return true;
}

std::string AbslUnparseFlag(CliDuration duration) {
  return absl::FormatDuration(duration.value);
}

absl::StatusOr<CliCommandLine> ParseCliArgs(
    const std::vector<std::string>& args) {
  // The values are read into the result; the process's flags go back to
  // what they were when this returns.
  CliFlagsRestorer restore;
  CliCommandLine line;
  absl::flat_hash_set<std::string> set;  // flags given
  bool flags_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    absl::string_view arg = args[i];
    if (arg == "--" && !flags_done) {
      flags_done = true;
    } else if (flags_done || !absl::StartsWith(arg, "--")) {
      if (arg == "-h" && !flags_done) {
        line.command = "help";
      } else if (line.command.empty()) {
        line.command = std::string(arg);
      } else {
        line.inputs.emplace_back(arg);
      }
    } else if (arg == "--help") {
      line.command = "help";
    } else {
      bool used_next = false;
      std::string name;
      absl::Status status =
          SetFlag(arg.substr(2), i + 1 < args.size() ? &args[i + 1] : nullptr,
                  &used_next, &name);
      if (!status.ok()) return status;
      set.insert(std::move(name));
      if (used_next) ++i;
    }
  }
  absl::StatusOr<CliFlags> flags = ReadFlags(set, &line.warnings);
  if (!flags.ok()) return flags.status();
  line.flags = *std::move(flags);
  return line;
}

std::string CliFlagsUsage() {
  constexpr size_t kHelpColumn = 27;
  constexpr size_t kWidth = 78;
  std::string out = "Flags:\n";
  for (const FlagEntry& entry : CliFlagList()) {
    if (entry.hidden) continue;
    std::string left = absl::StrCat("  --", entry.flag->Name());
    if (entry.value_name != nullptr)
      absl::StrAppend(&left, "=", entry.value_name);
    std::string help = entry.flag->Help();
    const std::string default_value = entry.flag->DefaultValue();
    if (entry.value_name != nullptr && !default_value.empty() &&
        default_value != "0" && default_value != "inf") {
      absl::StrAppend(&help, " (default ", default_value, ")");
    }
    if (left.size() + 1 > kHelpColumn) {
      absl::StrAppend(&out, left, "\n", std::string(kHelpColumn, ' '));
    } else {
      absl::StrAppend(&out, left, std::string(kHelpColumn - left.size(), ' '));
    }
    absl::StrAppend(&out, Wrap(help, kHelpColumn, kWidth - kHelpColumn), "\n");
  }
  return out;
}

}  // namespace batchexec
