// The `batchexec` command-line tool as a function, so tests run it in
// process with their own streams:
//
//   batchexec gather [flags] [tasks.jsonl | - | KIND:ARGS ...]
//   batchexec kinds [--target=...] [--json]
//
// gather reads every task first (JSON lines from files or stdin, or task
// arguments like sleep:2), sends nothing if any input is malformed, runs
// the batch, shows progress on stderr and prints one JSON line per task on
// stdout, in request order, each as soon as every earlier one is printed
// (or, with --unordered, as each completes). Every write to stdout is
// checked: a failed one cancels the batch and is an error naming its cause.
#ifndef BATCHEXEC_CLI_CLI_H_
#define BATCHEXEC_CLI_CLI_H_

#include <istream>
#include <ostream>
#include <string>
#include <vector>

#include "absl/time/time.h"

namespace batchexec {

// Exit codes.
inline constexpr int kExitOk = 0;      // every task succeeded
inline constexpr int kExitFailed = 1;  // a task or the call failed
// Bad flags, arguments or input, a batch the server rejects for its content
// (INVALID_ARGUMENT as a whole) included.
inline constexpr int kExitUsage = 2;
// Stopped by signal N (SIGINT, SIGTERM): 128 + N, as a shell reports a
// process a signal ended, after the batch is cancelled and the summary said.
inline constexpr int kExitSignalBase = 128;

class StopRequest;  // cli/stop_request.h

struct CliEnvironment {
  // Whether stderr is a terminal: a redrawn progress bar instead of lines.
  bool stderr_is_tty = false;
  // Whether stdout is a terminal too: result lines stream there while the
  // batch runs, so a redrawn bar would break them; auto then picks lines.
  bool stdout_is_tty = false;
  // Progress update period; zero means the default for the style (0.1 s
  // for the bar, 2 s for lines).
  absl::Duration progress_interval = absl::ZeroDuration();
  // Told from outside when to stop a batch early (a signal, stdout's reader
  // gone); may be null. Borrowed.
  StopRequest* stop = nullptr;
};

// Runs the tool on `args` (argv without the program name) and returns the
// exit code. `in` is stdin (read only for "-" or when no input is named).
int RunCli(const std::vector<std::string>& args, std::istream& in,
           std::ostream& out, std::ostream& err,
           const CliEnvironment& env = {});

}  // namespace batchexec

#endif  // BATCHEXEC_CLI_CLI_H_
