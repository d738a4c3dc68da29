#include "cli/cli.h"

#include <algorithm>
#include <csignal>
#include <cstring>
#include <functional>
#include <map>
#include <optional>
#include <thread>
#include <utility>

#include "absl/cleanup/cleanup.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "cli/fd_ostream.h"
#include "cli/flags.h"
#include "cli/ordered_output.h"
#include "cli/progress_printer.h"
#include "cli/result_json.h"
#include "cli/stop_request.h"
#include "cli/task_args.h"
#include "cli/task_reader.h"
#include "client/client.h"
#include "client/credentials.h"
#include "common/file_util.h"
#include "common/proto_time.h"
#include "google/protobuf/util/json_util.h"
#include "grpcpp/grpcpp.h"

namespace batchexec {
namespace {

constexpr absl::Duration kBarInterval = absl::Milliseconds(100);
constexpr absl::Duration kLinesInterval = absl::Seconds(2);
constexpr absl::Duration kKindsTimeout = absl::Seconds(10);

constexpr char kUsageHead[] = R"(Usage:
  batchexec gather [flags] [INPUT ...]   run a batch, print results as JSON lines
  batchexec kinds [flags]                list the server's task kinds
  batchexec help                         this text

INPUT is a file of JSON lines, one Task each, e.g.
    {"kind": "sleep", "args": {"seconds": 1}, "id": "a"}
or - for stdin (the default), or a task argument:
    sleep:2   primes:100000   echo:'{"x":1}'   fail:'{"code":5}'   echo:
    http:http://127.0.0.1:8080/health   grpc_health:127.0.0.1:50051
    dns:localhost
    '{"kind":"echo","args":{"x":1},"id":"a"}'
Every input is read before anything is sent; a malformed line is an error
naming its line, and nothing runs. Under `bazel run`, relative FILEs (inputs,
--tls_*, --auth_token_file) are taken from where the command was typed.
)";

constexpr char kUsageTail[] = R"(
Output: one line per task, in request order, each printed as soon as every
earlier task's is (while the batch runs; --unordered: as each completes):
the proto3 JSON of a batchexec.v1.TaskResult ({"index","id","status":
{"code","message"},"output",...}). Exit code 0 if every task succeeded, 1 if
any failed or stdout could not be written (the batch is then cancelled), 2
for usage or input errors, a batch the server rejects for its content
(INVALID_ARGUMENT, e.g. an unknown kind) included: then its message is
printed once, and no lines. SIGINT or SIGTERM cancels the batch, prints the
lines left (cancelled tasks' too) and the summary, and exits 130 or 143; a
second one exits at once.
)";

// The usage text; the flags' part comes from their definitions (flags.cc).
std::string Usage() {
  return absl::StrCat(kUsageHead, "\n", CliFlagsUsage(), kUsageTail);
}

// Every task of every input, in order, or the first error.
absl::StatusOr<std::vector<v1::Task>> ReadInputs(
    const std::vector<std::string>& inputs, std::istream& in) {
  std::vector<v1::Task> tasks;
  auto add_lines = [&](absl::string_view source,
                       absl::string_view text) -> absl::Status {
    absl::StatusOr<std::vector<v1::Task>> parsed = ParseTasksJsonl(text);
    if (!parsed.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat(source, ": ", parsed.status().message()));
    }
    if (tasks.empty()) {
      tasks = *std::move(parsed);  // one input: no copy of 100k tasks
    } else {
      for (v1::Task& t : *parsed) tasks.push_back(std::move(t));
    }
    return absl::OkStatus();
  };
  for (const std::string& input : inputs) {
    absl::Status status;
    if (input == "-") {
      std::string text;
      char buffer[1 << 16];  // istreambuf_iterator goes a byte at a time
      while (in.read(buffer, sizeof(buffer)) || in.gcount() > 0) {
        text.append(buffer, static_cast<size_t>(in.gcount()));
      }
      status = add_lines("<stdin>", text);
    } else if (LooksLikeTaskArg(input)) {
      absl::StatusOr<v1::Task> task = ParseTaskArg(input);
      if (task.ok()) {
        tasks.push_back(*std::move(task));
      } else {
        status = absl::Status(task.status().code(),
                              TidyJsonError(task.status().message()));
      }
    } else {
      // Read where the user meant; line errors name the file as typed.
      absl::StatusOr<std::string> text = ReadFile(ResolveUserPath(input));
      status = text.ok() ? add_lines(input, *text) : text.status();
    }
    if (!status.ok()) return status;
  }
  return tasks;
}

// A client for --target with the TLS and token flags applied, and the
// SDK's defaults otherwise (keepalive, the stream's idle watchdog).
absl::StatusOr<std::unique_ptr<Client>> MakeClient(const CliFlags& flags) {
  TlsFiles tls = flags.tls;
  for (std::string* file : {&tls.ca_file, &tls.cert_file, &tls.key_file}) {
    *file = ResolveUserPath(*file);
  }
  absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> credentials =
      MakeChannelCredentials(tls);
  if (!credentials.ok()) return credentials.status();
  ClientOptions options;
  options.credentials = *std::move(credentials);
  if (!flags.auth_token_file.empty()) {
    absl::StatusOr<std::string> token =
        ReadTokenFile(ResolveUserPath(flags.auth_token_file));
    if (!token.ok()) return token.status();
    options.auth_token = *std::move(token);
  }
  return std::make_unique<Client>(
      Client::ForTargets({flags.target}, std::move(options)));
}

// A failed task's timing as the server sent it (the SDK attaches it to the
// task's status), for the line the CLI prints; null if there is none.
std::optional<TaskTimes> FailedTaskTimes(const absl::Status& status) {
  std::optional<TaskOutput> details = FailedTaskDetails(status);
  if (!details.has_value()) return std::nullopt;
  TaskTimes times;
  times.started_after = ToProtoDuration(details->started_after);
  times.finished_after = ToProtoDuration(details->finished_after);
  times.attempts = static_cast<uint32_t>(details->attempts);
  return times;
}

// Whether the server refused the batch as a whole for its content (unknown
// kind, bad args) before running it: the call failed INVALID_ARGUMENT and
// every task carries that status, none a result of its own.
bool RejectedAsInput(const GatherResult& result) {
  if (result.status.code() != absl::StatusCode::kInvalidArgument) return false;
  for (const absl::StatusOr<TaskOutput>& r : result.results) {
    if (r.status() != result.status) return false;
  }
  return true;
}

// A stopped run's cause, e.g. "interrupted (SIGINT)".
std::string StopReason(const StopRequest& stop) {
  switch (stop.signal()) {
    case SIGINT:
      return "interrupted (SIGINT)";
    case SIGTERM:
      return "terminated (SIGTERM)";
    case 0:
      return "stdout's reader has gone";
    default:
      return absl::StrCat("stopped by signal ", stop.signal());
  }
}

int RunGather(const CliCommandLine& command, std::istream& in,
              std::ostream& out, std::ostream& err, const CliEnvironment& env) {
  std::vector<std::string> inputs = command.inputs;
  if (inputs.empty()) inputs.push_back("-");
  absl::StatusOr<std::vector<v1::Task>> read = ReadInputs(inputs, in);
  if (!read.ok()) {
    err << "batchexec: " << read.status().message() << "\n";
    return kExitUsage;
  }
  std::vector<std::string> ids;
  std::vector<Task> tasks;
  ids.reserve(read->size());
  tasks.reserve(read->size());
  for (v1::Task& t : *read) {
    ids.push_back(t.id());
    tasks.emplace_back(std::move(t));
  }

  const CliFlags& flags = command.flags;
  StopRequest no_stop;  // when nothing outside can tell the run to stop
  StopRequest& stop = env.stop != nullptr ? *env.stop : no_stop;
  // Each result is printed as soon as every earlier one is, once the server
  // has accepted the batch; a batch it rejects prints no lines.
  OrderedOutputOptions output_options;
  output_options.max_pending_bytes = flags.max_pending_output_bytes;
  output_options.unordered = flags.unordered;
  OrderedOutput output(ids.size(), output_options);
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient(flags);
  if (!client.ok()) {
    err << "batchexec: " << client.status().message() << "\n";
    return kExitUsage;
  }
  ProgressStyle style = ProgressStyle::kLines;
  if (flags.progress == "none") {
    style = ProgressStyle::kNone;
  } else if (flags.progress == "bar" ||
             (flags.progress == "auto" && env.stderr_is_tty &&
              !env.stdout_is_tty)) {
    style = ProgressStyle::kBar;
  }
  absl::Duration interval = env.progress_interval;
  if (interval <= absl::ZeroDuration()) {
    interval = style == ProgressStyle::kBar ? kBarInterval : kLinesInterval;
  }
  ProgressPrinter printer(err, style, interval);

  GatherOptions options;
  options.max_concurrency = flags.max_concurrency;
  options.failure_policy = flags.return_exceptions ? FailurePolicy::kCollectAll
                                                   : FailurePolicy::kFailFast;
  options.task_timeout = flags.task_timeout;
  options.timeout = flags.timeout;
  if (flags.retry_attempts > 1) {
    RetryPolicy retry;
    retry.max_attempts = flags.retry_attempts;
    retry.retryable_codes = flags.retry_codes;
    retry.initial_backoff = flags.retry_backoff;
    retry.max_backoff = std::max(flags.retry_backoff, absl::Seconds(10));
    options.retry = retry;
  }
  options.max_starts_per_second = flags.rate;
  options.on_accepted = [&output] { output.Open(); };
  options.on_progress = [&printer](const Progress& p) { printer.Update(p); };
  // Formatting on the callback thread overlaps it with writing here.
  options.on_result = [&](size_t i, const absl::StatusOr<TaskOutput>& r) {
    std::string line;
    std::optional<TaskTimes> times;
    if (!r.ok()) times = FailedTaskTimes(r.status());
    AppendResultJsonLine(i, ids[i], r, times ? &*times : nullptr, &line);
    line.push_back('\n');
    output.Put(i, std::move(line));
  };
  options.on_done = [&output](const GatherResult&) { output.Close(); };
  // A printed result's output is not needed again: memory holds the
  // unprinted window, not every output until the batch ends.
  options.keep_outputs = false;
  if (stop.stopped()) {
    // A signal while the input was read: nothing was sent.
    printer.Discard();
    err << "batchexec: " << StopReason(stop) << ": nothing was sent\n";
    return stop.signal() != 0 ? kExitSignalBase + stop.signal() : kExitFailed;
  }
  std::unique_ptr<GatherCall> call =
      (*client)->StartGather(std::move(tasks), std::move(options));
  // Cancels the batch when told from outside. A lost stdout also drops the
  // lines (none is waited for), unless every line is already out.
  std::thread stopper([&stop, &output, &call] {
    if (!stop.Wait()) return;
    if (stop.output_error() != 0) {
      if (output.complete()) return;
      output.Abandon();
    }
    call->Cancel();
  });
  absl::Cleanup join_stopper = [&stop, &stopper] {
    stop.Finish();
    stopper.join();
  };
  // Whether stdout failed before every line was out.
  const auto output_lost = [&] {
    return !out || !output.read_error().empty() ||
           (stop.output_error() != 0 && !output.complete());
  };
  output.WriteTo(out);
  if (output_lost()) {
    // The results can go nowhere: stop the batch now, not at its end.
    output.Abandon();
    call->Cancel();
  }
  GatherResult result = call->TakeResult();
  if (!output_lost() && RejectedAsInput(result)) {
    // An input error like a malformed line: said once, no result lines.
    printer.Discard();
    err << "batchexec: the server rejected the batch: "
        << result.status.message() << "\n";
    return kExitUsage;
  }
  // A call that failed before the server accepted it (e.g. unreachable)
  // still prints a line per task.
  output.Open();
  output.WriteTo(out);
  out.flush();
  printer.Finish(result.progress, result.elapsed);
  if (output_lost()) {
    std::string why;
    if (!out) {
      why = StreamErrorText(out);
    } else if (!output.read_error().empty()) {
      why = output.read_error();
    } else {
      why = absl::StrCat(std::strerror(stop.output_error()),
                         " (stdout's reader has gone)");
    }
    err << "batchexec: writing the results to stdout: " << why
        << "; the batch was cancelled\n";
    return kExitFailed;
  }
  if (stop.signal() != 0) {
    err << "batchexec: " << StopReason(stop) << ": the batch was cancelled\n";
    return kExitSignalBase + stop.signal();
  }
  if (!result.status.ok()) {
    err << "batchexec: " << result.status << "\n";
    return kExitFailed;
  }
  return kExitOk;
}

int RunKinds(const CliCommandLine& command, std::ostream& out,
             std::ostream& err) {
  if (!command.inputs.empty()) {
    err << "batchexec: kinds takes no arguments\n";
    return kExitUsage;
  }
  absl::StatusOr<std::unique_ptr<Client>> client = MakeClient(command.flags);
  if (!client.ok()) {
    err << "batchexec: " << client.status().message() << "\n";
    return kExitUsage;
  }
  absl::Duration timeout = command.flags.timeout;
  if (timeout == absl::InfiniteDuration()) timeout = kKindsTimeout;
  absl::StatusOr<v1::ListTaskKindsResponse> kinds =
      (*client)->ListTaskKinds(timeout);
  if (!kinds.ok()) {
    err << "batchexec: " << command.flags.target << ": " << kinds.status()
        << "\n";
    return kExitFailed;
  }
  if (command.flags.json) {
    std::string json;
    (void)google::protobuf::util::MessageToJsonString(*kinds, &json);
    out << UnescapeAngleBrackets(json) << "\n";
    return kExitOk;
  }
  for (const v1::TaskKind& kind : kinds->kinds()) {
    out << kind.name() << "  " << kind.description() << "\n";
    for (const v1::ArgumentSpec& arg : kind.args()) {
      out << "    " << arg.name() << " (" << arg.type()
          << (arg.required() ? ", required" : "") << "): " << arg.description()
          << "\n";
    }
  }
  return kExitOk;
}

// `code`, unless what was printed to `out` did not all get out: then an
// error naming why.
int CheckedOutput(int code, std::ostream& out, std::ostream& err) {
  out.flush();
  if (out) return code;
  err << "batchexec: writing to stdout: " << StreamErrorText(out) << "\n";
  return code == kExitOk ? kExitFailed : code;
}

}  // namespace

int RunCli(const std::vector<std::string>& args, std::istream& in,
           std::ostream& out, std::ostream& err, const CliEnvironment& env) {
  absl::StatusOr<CliCommandLine> command = ParseCliArgs(args);
  if (!command.ok()) {
    err << "batchexec: " << command.status().message()
        << "\nRun 'batchexec help' for usage.\n";
    return kExitUsage;
  }
  for (const std::string& warning : command->warnings) {
    err << "batchexec: warning: " << warning << "\n";
  }
  if (command->command == "help") {
    out << Usage();
    return CheckedOutput(kExitOk, out, err);
  }
  if (command->command == "gather")
    return RunGather(*command, in, out, err, env);
  if (command->command == "kinds") {
    return CheckedOutput(RunKinds(*command, out, err), out, err);
  }
  err << (command->command.empty()
              ? std::string("batchexec: missing command\n")
              : absl::StrCat("batchexec: unknown command '", command->command,
                             "'\n"))
      << Usage();
  return kExitUsage;
}

}  // namespace batchexec
