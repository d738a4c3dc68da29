// batchexec_server: runs batches of tasks concurrently over gRPC.
//   batchexec_server --port=50051
// SIGTERM/SIGINT: health goes NOT_SERVING and new batches are refused for
// --drain_delay while connections are still accepted, then running batches
// get --shutdown_grace to finish before they are cancelled.
// SIGHUP re-reads --auth_tokens_file (revoking or adding callers).
#include <signal.h>

#include <cstdio>
#include <string>
#include <utility>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/fd_limit.h"
#include "common/file_util.h"
#include "server/core/access_log.h"
#include "server/core/limits.h"
#include "server/rpc/builtin_server.h"
#include "server/rpc/tokens_file.h"
#include "server/tasks/dns_allowlist.h"
#include "server/tasks/dns_resolver.h"
#include "server/tasks/kinds.h"

ABSL_FLAG(std::string, host, "127.0.0.1",
          "Address to listen on; 0.0.0.0 or [::] for every interface.");
ABSL_FLAG(int, port, 50051, "Port to listen on; 0 picks a free one.");
ABSL_FLAG(bool, reuse_port, false,
          "Share --port with other processes listening on it (SO_REUSEPORT: "
          "the kernel splits connections between them). Without it a busy "
          "port stops the server with 'address already in use'.");
ABSL_FLAG(int64_t, max_task_concurrency, batchexec::kDefaultMaxTaskConcurrency,
          "Per-batch concurrency when a request asks for 0, and the cap on "
          "what it may ask for.");
ABSL_FLAG(int64_t, max_inflight_tasks, batchexec::kDefaultMaxInflightTasks,
          "Tasks running at once across every batch (fairly shared).");
ABSL_FLAG(int64_t, max_queued_tasks, batchexec::kDefaultMaxQueuedTasks,
          "Tasks of open batches, across callers; more is RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_open_batches, batchexec::kDefaultMaxOpenBatches,
          "Batches open at once; more is RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_open_batches_per_caller,
          batchexec::kDefaultMaxOpenBatchesPerCaller,
          "Batches one caller may have open at once; more is "
          "RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_queued_tasks_per_caller,
          batchexec::kDefaultMaxQueuedTasksPerCaller,
          "Tasks of one caller's open batches; more is RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_request_memory, batchexec::kDefaultMaxRequestMemory,
          "Bytes parsed requests and the results held for them may take in "
          "all: each request reserves 2 x its wire size + 512 bytes per task "
          "before it is parsed, results beyond 512 bytes are charged until "
          "sent; more is RESOURCE_EXHAUSTED.");
ABSL_FLAG(int64_t, max_request_memory_per_caller,
          batchexec::kDefaultMaxRequestMemoryPerCaller,
          "Bytes of --max_request_memory one caller may hold (its requests "
          "and results); 0 = half of it. More is RESOURCE_EXHAUSTED naming "
          "the caller's share.");
ABSL_FLAG(int64_t, max_batch_size, batchexec::kDefaultMaxBatchSize,
          "Most tasks in one request; more is INVALID_ARGUMENT.");
ABSL_FLAG(int64_t, max_open_sockets, batchexec::kDefaultMaxOpenSockets,
          "Sockets tcp_probe, http and grpc_health tasks may hold at once; a "
          "task that finds none free waits for one (fairly between callers, "
          "under its timeout). 0 = the descriptor limit (soft RLIMIT_NOFILE, "
          "raised to the hard one at start) less a reserve for gRPC's "
          "connections, files and idle pools: max(128, limit/4). At most the "
          "limit less 128.");
ABSL_FLAG(int, cpu_workers, batchexec::kDefaultCpuWorkers,
          "Threads for CPU-bound kinds (primes); 0 = one per core.");
ABSL_FLAG(int64_t, max_attempts, batchexec::kDefaultMaxAttempts,
          "Cap on a retry policy's max_attempts (first attempt included); "
          "larger requests are lowered to it and Accepted.note says so.");
ABSL_FLAG(std::string, probe_allowlist, "",
          "What tcp_probe, http and grpc_health may reach (checked on the "
          "addresses they connect to, after resolution and on every redirect "
          "hop): comma-separated CIDRs (any port) or "
          "addr:port ([v6]:port). Empty: 127.0.0.0/8,::1/128 when --host is "
          "a loopback address; nothing when the server listens beyond "
          "loopback, so remote callers cannot probe this host's loopback "
          "services unless they are listed.");
ABSL_FLAG(std::string, dns_servers, "",
          "Name servers the dns kind asks, e.g. 127.0.0.1:5353,[::1]:53; "
          "empty = the system's (/etc/resolv.conf). The hosts file is "
          "always read first.");
ABSL_FLAG(std::string, dns_allowlist, "",
          "Names the dns kind may look up: comma-separated suffixes, "
          "e.g. example.com,.svc.cluster.local (a leading dot: only names "
          "under it). Others end PERMISSION_DENIED. Empty = any name.");
ABSL_FLAG(absl::Duration, shutdown_grace, batchexec::kDefaultShutdownGrace,
          "On SIGTERM/SIGINT, how long running batches may finish before "
          "they are cancelled.");
ABSL_FLAG(absl::Duration, drain_delay, absl::Seconds(5),
          "On SIGTERM/SIGINT, how long health reports NOT_SERVING (and new "
          "batches get UNAVAILABLE) while connections are still accepted, so "
          "load balancers and probes see the drain, before --shutdown_grace "
          "starts. 0 = stop listening at once. A second signal skips the "
          "rest of it.");
ABSL_FLAG(int, metrics_port, 0,
          "Serve GET /metrics (Prometheus text format) on this port; 0 = "
          "off.");
ABSL_FLAG(std::string, metrics_host, "",
          "Address for --metrics_port; empty = the same as --host.");
ABSL_FLAG(std::string, access_log, "stderr",
          "One line per batch when its call ends (id, caller, peer, tasks, "
          "policy, outcome, failed, wall time, bytes): stderr, none, or a "
          "file to append to. Never task arguments, payloads or tokens.");
ABSL_FLAG(std::string, access_log_format, "plain",
          "plain (key=value) or json (one object a line).");
ABSL_FLAG(bool, reflection, true,
          "Serve gRPC server reflection (grpcurl list/describe). With "
          "--auth_token_file or --auth_tokens_file it needs the token too "
          "(grpcurl -H 'authorization: Bearer <token>').");
// File flags: a relative path under `bazel run` is taken from the folder
// the command was typed in (BUILD_WORKING_DIRECTORY).
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate chain; enables TLS.");
ABSL_FLAG(std::string, tls_key, "", "PEM private key of --tls_cert.");
ABSL_FLAG(std::string, tls_client_ca, "",
          "PEM CA bundle; clients must present a certificate it signed "
          "(mutual TLS).");
ABSL_FLAG(std::string, auth_token_file, "",
          "File holding a bearer token every BatchExecutor and reflection "
          "call must send as 'authorization: Bearer <token>'. Health "
          "checking stays open.");
ABSL_FLAG(std::string, auth_tokens_file, "",
          "File of named callers, one 'NAME TOKEN [weight=N]' a line ('#' "
          "comments); a call must send one of the tokens as 'authorization: "
          "Bearer <token>' and is the caller NAME. Re-read on SIGHUP. Not "
          "with --auth_token_file.");
ABSL_FLAG(int, max_receive_message_bytes,
          batchexec::kDefaultMaxReceiveMessageBytes,
          "Largest request accepted, in bytes.");
ABSL_FLAG(int, max_concurrent_streams, batchexec::kDefaultMaxConcurrentStreams,
          "Concurrent calls per client connection.");
ABSL_FLAG(absl::Duration, keepalive_time, batchexec::kKeepaliveTime,
          "Ping idle client connections this often.");
ABSL_FLAG(absl::Duration, keepalive_timeout, batchexec::kKeepaliveTimeout,
          "Drop a connection whose ping is unanswered this long.");
ABSL_FLAG(absl::Duration, min_client_ping_interval,
          batchexec::kMinClientPingInterval,
          "Clients pinging more often are disconnected (too_many_pings).");

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "Runs batches of tasks concurrently over gRPC (batchexec.v1).");
  absl::ParseCommandLine(argc, argv);
  // Debian builds Abseil without NDEBUG, which leaves Mutex deadlock
  // detection on: every lock then searches a process-wide graph that grows
  // with the live mutexes (profiled at 20-40% of CPU under load). Tests keep
  // it on.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  // Block the stop signals in every thread (gRPC's inherit the mask) and
  // take them synchronously below.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  sigaddset(&stop_signals, SIGHUP);  // reloads --auth_tokens_file
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  // Before anything opens a descriptor: the budget below is derived from
  // the raised limit.
  auto fd_limit = batchexec::RaiseFdLimit();
  if (!fd_limit.ok()) {
    std::fprintf(stderr, "batchexec server: %s\n",
                 std::string(fd_limit.status().message()).c_str());
    return 1;
  }
  const int64_t max_open_sockets = absl::GetFlag(FLAGS_max_open_sockets);
  // A budget past what the limit holds would bring back the EMFILE failures
  // (and a listener that stops accepting) it exists to prevent, so it is a
  // usage error rather than clamped: the operator raises the hard limit or
  // the flag, and knows which budget the server runs with.
  const int64_t most_sockets = fd_limit->soft - batchexec::kMinSocketReserve;
  // 0 is always valid: the derived budget fits any limit (at least 1).
  if (max_open_sockets < 0 ||
      (max_open_sockets > 0 && max_open_sockets > most_sockets)) {
    std::fprintf(stderr,
                 "--max_open_sockets must be 0 (derived) or 1..%lld: the "
                 "descriptor limit (RLIMIT_NOFILE) is %lld, less a reserve "
                 "of %lld for gRPC's connections and files (got %lld)\n",
                 static_cast<long long>(most_sockets),
                 static_cast<long long>(fd_limit->soft),
                 static_cast<long long>(batchexec::kMinSocketReserve),
                 static_cast<long long>(max_open_sockets));
    return 2;
  }
  const int64_t sockets =
      max_open_sockets > 0 ? max_open_sockets
                           : batchexec::DerivedMaxOpenSockets(fd_limit->soft);
  std::fprintf(stderr,
               "batchexec server: descriptor limit (RLIMIT_NOFILE) soft %lld "
               "(was %lld), hard %lld; --max_open_sockets %lld\n",
               static_cast<long long>(fd_limit->soft),
               static_cast<long long>(fd_limit->soft_before),
               static_cast<long long>(fd_limit->hard),
               static_cast<long long>(sockets));

  std::string host = absl::GetFlag(FLAGS_host);
  batchexec::BuiltinKindsOptions kinds;
  kinds.max_open_sockets = sockets;
  if (std::string spec = absl::GetFlag(FLAGS_probe_allowlist); spec.empty()) {
    kinds.probe_allowlist = batchexec::ProbeAllowlist::DefaultFor(host);
  } else {
    auto allowlist = batchexec::ProbeAllowlist::Parse(spec);
    if (!allowlist.ok()) {
      std::fprintf(stderr, "--probe_allowlist: %s\n",
                   std::string(allowlist.status().message()).c_str());
      return 2;
    }
    for (const std::string& warning : allowlist->Warnings()) {
      std::fprintf(stderr, "--probe_allowlist: warning: %s\n", warning.c_str());
    }
    kinds.probe_allowlist = *allowlist;
  }
  kinds.dns_servers = absl::GetFlag(FLAGS_dns_servers);
  if (!kinds.dns_servers.empty()) {
    // A usage error naming the flag, before anything starts.
    if (auto r = batchexec::DnsResolver::Create({kinds.dns_servers}); !r.ok()) {
      std::fprintf(stderr, "--dns_servers: %s\n",
                   std::string(r.status().message()).c_str());
      return 2;
    }
  }
  if (auto names =
          batchexec::DnsAllowlist::Parse(absl::GetFlag(FLAGS_dns_allowlist));
      !names.ok()) {
    std::fprintf(stderr, "--dns_allowlist: %s\n",
                 std::string(names.status().message()).c_str());
    return 2;
  } else {
    kinds.dns_allowlist = *std::move(names);
  }
  if (int port = absl::GetFlag(FLAGS_port); port < 0 || port > 65535) {
    std::fprintf(stderr, "--port must be 0..65535 (got %d)\n", port);
    return 2;
  }
  if (absl::Duration grace = absl::GetFlag(FLAGS_shutdown_grace);
      grace < absl::ZeroDuration()) {
    std::fprintf(stderr, "--shutdown_grace must be 0 or more (got %s)\n",
                 absl::FormatDuration(grace).c_str());
    return 2;
  }
  const absl::Duration drain_delay = absl::GetFlag(FLAGS_drain_delay);
  if (drain_delay < absl::ZeroDuration() ||
      drain_delay == absl::InfiniteDuration()) {
    std::fprintf(stderr, "--drain_delay must be 0 or more (got %s)\n",
                 absl::FormatDuration(drain_delay).c_str());
    return 2;
  }
  auto access_log_format =
      batchexec::AccessLog::ParseFormat(absl::GetFlag(FLAGS_access_log_format));
  if (!access_log_format.ok()) {
    std::fprintf(stderr, "--access_log_format %s\n",
                 std::string(access_log_format.status().message()).c_str());
    return 2;
  }

  // TLS flags are checked here, as usage errors naming the flags, before
  // anything starts.
  const std::string tls_cert =
      batchexec::ResolveUserPath(absl::GetFlag(FLAGS_tls_cert));
  const std::string tls_key =
      batchexec::ResolveUserPath(absl::GetFlag(FLAGS_tls_key));
  const std::string tls_client_ca =
      batchexec::ResolveUserPath(absl::GetFlag(FLAGS_tls_client_ca));
  if (tls_cert.empty() != tls_key.empty()) {
    std::fprintf(stderr, "--tls_cert and --tls_key go together\n");
    return 2;
  }
  if (!tls_client_ca.empty() && tls_cert.empty()) {
    std::fprintf(stderr, "--tls_client_ca needs --tls_cert and --tls_key\n");
    return 2;
  }
  for (const auto& [flag, path] :
       {std::pair{"tls_cert", &tls_cert}, std::pair{"tls_key", &tls_key},
        std::pair{"tls_client_ca", &tls_client_ca}}) {
    if (path->empty()) continue;
    if (auto pem = batchexec::ReadFile(*path); !pem.ok()) {
      std::fprintf(stderr, "--%s: %s\n", flag,
                   std::string(pem.status().message()).c_str());
      return 2;
    }
  }

  batchexec::ServerOptions options;
  options.address = absl::StrCat(host, ":", absl::GetFlag(FLAGS_port));
  options.reuse_port = absl::GetFlag(FLAGS_reuse_port);
  options.enable_reflection = absl::GetFlag(FLAGS_reflection);
  options.executor.max_task_concurrency =
      absl::GetFlag(FLAGS_max_task_concurrency);
  options.executor.max_inflight_tasks = absl::GetFlag(FLAGS_max_inflight_tasks);
  options.executor.max_queued_tasks = absl::GetFlag(FLAGS_max_queued_tasks);
  options.executor.max_open_batches = absl::GetFlag(FLAGS_max_open_batches);
  options.executor.max_open_batches_per_caller =
      absl::GetFlag(FLAGS_max_open_batches_per_caller);
  options.executor.max_queued_tasks_per_caller =
      absl::GetFlag(FLAGS_max_queued_tasks_per_caller);
  options.executor.max_batch_size = absl::GetFlag(FLAGS_max_batch_size);
  options.executor.max_request_memory = absl::GetFlag(FLAGS_max_request_memory);
  options.executor.max_request_memory_per_caller =
      absl::GetFlag(FLAGS_max_request_memory_per_caller);
  options.executor.cpu_workers = absl::GetFlag(FLAGS_cpu_workers);
  options.executor.max_open_sockets = sockets;
  options.executor.max_attempts = absl::GetFlag(FLAGS_max_attempts);
  options.tls_cert_file = tls_cert;
  options.tls_key_file = tls_key;
  options.tls_client_ca_file = tls_client_ca;
  options.max_receive_message_bytes =
      absl::GetFlag(FLAGS_max_receive_message_bytes);
  options.max_concurrent_streams = absl::GetFlag(FLAGS_max_concurrent_streams);
  options.keepalive_time = absl::GetFlag(FLAGS_keepalive_time);
  options.metrics_port = absl::GetFlag(FLAGS_metrics_port);
  options.metrics_host = absl::GetFlag(FLAGS_metrics_host);
  options.access_log = absl::GetFlag(FLAGS_access_log);
  if (options.access_log != "stderr" && options.access_log != "none") {
    options.access_log = batchexec::ResolveUserPath(options.access_log);
  }
  options.access_log_format = *access_log_format;
  options.keepalive_timeout = absl::GetFlag(FLAGS_keepalive_timeout);
  options.min_client_ping_interval =
      absl::GetFlag(FLAGS_min_client_ping_interval);
  if (std::string path = absl::GetFlag(FLAGS_auth_token_file); !path.empty()) {
    auto token = batchexec::ReadTokenFile(batchexec::ResolveUserPath(path));
    if (!token.ok()) {
      std::fprintf(stderr, "--auth_token_file: %s\n",
                   std::string(token.status().message()).c_str());
      return 2;
    }
    options.auth_token = *token;
  }
  const std::string tokens_path =
      batchexec::ResolveUserPath(absl::GetFlag(FLAGS_auth_tokens_file));
  if (!tokens_path.empty()) {
    // One unnamed token beside named ones would be a caller without a name;
    // put it in the file under one instead.
    if (!options.auth_token.empty()) {
      std::fprintf(stderr,
                   "--auth_tokens_file and --auth_token_file exclude each "
                   "other: give the single token a name in the tokens file\n");
      return 2;
    }
    auto tokens = batchexec::ReadTokensFile(tokens_path);
    if (!tokens.ok()) {
      std::fprintf(stderr, "--auth_tokens_file: %s\n",
                   std::string(tokens.status().message()).c_str());
      return 2;
    }
    options.auth_tokens = *std::move(tokens);
  }
  // Limits that cannot work (e.g. --max_inflight_tasks=0 hangs every batch)
  // are usage errors; the option names match the flags.
  if (absl::Status valid = options.Validate(); !valid.ok()) {
    std::fprintf(stderr, "--%s\n", std::string(valid.message()).c_str());
    return 2;
  }

  auto server = batchexec::StartBuiltinServer(options, kinds);
  if (!server.ok()) {
    std::fprintf(stderr, "%s\n", server.status().ToString().c_str());
    return 1;
  }
  std::printf("batchexec server listening on %s:%d\n", host.c_str(),
              (*server)->port());
  if ((*server)->metrics_port() != 0) {
    // After the first line, which scripts and tests read for the port.
    std::printf("batchexec server metrics on http://%s:%d/metrics\n",
                options.metrics_host.empty() ? host.c_str()
                                             : options.metrics_host.c_str(),
                (*server)->metrics_port());
  }
  std::fflush(stdout);

  int sig = 0;
  while (sigwait(&stop_signals, &sig) == 0 && sig == SIGHUP) {
    // Revokes or adds callers without a restart; a bad file changes nothing.
    if (tokens_path.empty()) {
      std::fprintf(stderr,
                   "batchexec server: SIGHUP: no --auth_tokens_file to "
                   "reload\n");
      continue;
    }
    auto tokens = batchexec::ReadTokensFile(tokens_path);
    absl::Status reloaded =
        tokens.ok() ? (*server)->ReplaceAuthTokens(*std::move(tokens))
                    : tokens.status();
    if (reloaded.ok()) {
      std::fprintf(stderr, "batchexec server: SIGHUP: reloaded %s\n",
                   tokens_path.c_str());
    } else {
      std::fprintf(stderr,
                   "batchexec server: SIGHUP: %s; keeping the previous "
                   "tokens\n",
                   std::string(reloaded.message()).c_str());
    }
  }
  std::fprintf(
      stderr, "batchexec server: %s, draining (delay %s, grace %s)\n",
      sig == SIGTERM ? "SIGTERM" : "SIGINT",
      absl::FormatDuration(drain_delay).c_str(),
      absl::FormatDuration(absl::GetFlag(FLAGS_shutdown_grace)).c_str());
  if (drain_delay > absl::ZeroDuration()) {
    // Still listening: probes on new connections see NOT_SERVING and new
    // batches get UNAVAILABLE, so balancers move traffic away first.
    (*server)->StartDraining();
    const absl::Time until = absl::Now() + drain_delay;
    for (absl::Time now = absl::Now(); now < until; now = absl::Now()) {
      const timespec wait = absl::ToTimespec(until - now);
      const int got = sigtimedwait(&stop_signals, nullptr, &wait);
      if (got == SIGTERM || got == SIGINT) break;  // asked twice: go on
    }
  }
  (*server)->Shutdown(absl::GetFlag(FLAGS_shutdown_grace));
  std::fprintf(stderr, "batchexec server: stopped\n");
  return 0;
}
