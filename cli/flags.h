// The command line of the `batchexec` tool: its flags (Abseil flags defined
// in flags.cc, whose help strings `batchexec help` prints) and how an
// argument list becomes a command, its inputs and the flags' values.
//
//   batchexec gather [flags] [INPUT ...]    flags before, between or after
//
// Flags are --name=value or --name value; a bool flag alone is true,
// --noname false; after "--" everything is an input.
#ifndef BATCHEXEC_CLI_FLAGS_H_
#define BATCHEXEC_CLI_FLAGS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "client/credentials.h"

namespace batchexec {

// The value of every flag of the tool, checked.
struct CliFlags {
  std::string target;
  uint32_t max_concurrency = 0;
  bool return_exceptions = false;
  // Each task's time limit (GatherOptions::task_timeout).
  absl::Duration task_timeout = absl::InfiniteDuration();
  // The whole call's (GatherOptions::timeout); --timeout, or the deprecated
  // --deadline.
  absl::Duration timeout = absl::InfiniteDuration();
  uint32_t retry_attempts = 1;
  std::vector<absl::StatusCode> retry_codes;
  absl::Duration retry_backoff = absl::ZeroDuration();
  double rate = 0;
  bool unordered = false;
  uint64_t max_pending_output_bytes = 0;
  std::string progress;  // auto, bar, lines or none
  TlsFiles tls;          // as typed; relative paths not resolved yet
  std::string auth_token_file;
  bool json = false;
};

struct CliCommandLine {
  // The first positional argument ("gather", "kinds", "help", or whatever
  // was typed); "help" also for -h and --help. Empty if none.
  std::string command;
  // The positional arguments after the command, in order.
  std::vector<std::string> inputs;
  CliFlags flags;
  // What to tell the user about the command line (deprecated flags), one
  // message each, without "batchexec: ".
  std::vector<std::string> warnings;
};

// Parses `args` (argv without the program name). An unknown flag, a flag
// without its value or a bad value is INVALID_ARGUMENT naming the flag. The
// flags' process-wide values are restored before it returns, so that the
// tool can run in process more than once (tests); not thread-safe.
absl::StatusOr<CliCommandLine> ParseCliArgs(
    const std::vector<std::string>& args);

// The "Flags:" part of the usage text: every flag with its help string.
std::string CliFlagsUsage();

// A duration as the tool takes it: 1.5s, 500ms, or plain seconds (2);
// positive. An Abseil flag type.
struct CliDuration {
  absl::Duration value = absl::InfiniteDuration();
};
bool AbslParseFlag(absl::string_view text, CliDuration* duration,
                   std::string* error);
std::string AbslUnparseFlag(CliDuration duration);

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_FLAGS_H_
