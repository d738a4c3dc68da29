// Limits and defaults of the batchexec server, in one place. Flags in
// main.cc override the ones marked "flag"; error messages quote them.
#ifndef BATCHEXEC_SERVER_CORE_LIMITS_H_
#define BATCHEXEC_SERVER_CORE_LIMITS_H_

#include <cstdint>

#include "absl/time/time.h"

namespace batchexec {

// Most tasks in one batch (flag --max_batch_size).
inline constexpr int64_t kDefaultMaxBatchSize = 1'000'000;

// Per-batch concurrency when a request leaves max_concurrency at 0, and the
// cap on what a request may ask for (flag --max_task_concurrency).
inline constexpr int64_t kDefaultMaxTaskConcurrency = 1'000'000;

// Tasks running at once across every batch (flag --max_inflight_tasks).
// As many as may be queued: by default every admitted task can run, so no
// batch, however big, holds every slot while a small one waits. Lower it to
// bound running work; then batches share the slots round-robin.
inline constexpr int64_t kDefaultMaxInflightTasks = 4'000'000;

// Tasks of all open batches (a batch counts whole until it ends); a batch
// that would go past it is rejected with RESOURCE_EXHAUSTED (flag
// --max_queued_tasks).
inline constexpr int64_t kDefaultMaxQueuedTasks = 4'000'000;

// Bytes that parsed requests and the results held for them may take in all
// (flag --max_request_memory). A request counts as 2 x its wire size +
// kReservedBytesPerTask per task, reserved before it is parsed and released
// when its batch ends; a request that does not fit gets RESOURCE_EXHAUSTED.
// The per-task reserve covers a small result; what a result takes beyond it
// is charged while the server holds it (an Execute stream's unsent backlog,
// a Gather's kept results) and given back once it is sent or freed; a
// result that does not fit ends its task RESOURCE_EXHAUSTED instead.
inline constexpr int64_t kDefaultMaxRequestMemory = int64_t{4} << 30;
inline constexpr int64_t kReservedBytesPerTask = 512;

// What one caller (caller.h) may hold of --max_request_memory, requests and
// results alike (flag --max_request_memory_per_caller); 0 means half of
// --max_request_memory. Half: however much one caller sends or leaves
// unread, the others keep at least half of the budget, and two busy callers
// get half each. Over it a request, or a result, gets RESOURCE_EXHAUSTED
// naming the caller's share.
inline constexpr int64_t kDefaultMaxRequestMemoryPerCaller = 0;

// Results are charged to the budgets in steps of this many bytes (a sink
// keeps up to twice it spare), so most results touch no shared counter.
inline constexpr int64_t kResultChargeStep = 1 << 20;

// Batches open at once; more get RESOURCE_EXHAUSTED (flag --max_open_batches).
inline constexpr int64_t kDefaultMaxOpenBatches = 4096;

// What one caller (caller.h) may hold, so that no caller takes the whole
// server: open batches (flag --max_open_batches_per_caller) and tasks of its
// open batches (flag --max_queued_tasks_per_caller); more is
// RESOURCE_EXHAUSTED naming the caller's limit.
inline constexpr int64_t kDefaultMaxOpenBatchesPerCaller = 1024;
inline constexpr int64_t kDefaultMaxQueuedTasksPerCaller = 2'000'000;

// Threads for CPU-bound kinds (flag --cpu_workers); 0 means one per core.
inline constexpr int kDefaultCpuWorkers = 0;

// Time running batches get to finish on SIGTERM before they are cancelled
// (flag --shutdown_grace).
inline constexpr absl::Duration kDefaultShutdownGrace = absl::Seconds(10);

// Largest request the server accepts (flag --max_receive_message_bytes):
// room for a 1M-task batch of small tasks (~30 bytes each on the wire).
// gRPC buffers a request whole before the server sees it, so this is also
// what one unauthenticated stream can make the server hold.
inline constexpr int kDefaultMaxReceiveMessageBytes = 64 << 20;

// Concurrent calls on one client connection (flag --max_concurrent_streams).
inline constexpr int kDefaultMaxConcurrentStreams = 256;

// Keepalive defaults (flags --keepalive_time, --keepalive_timeout,
// --min_client_ping_interval): the server pings idle connections every
// kKeepaliveTime and drops those that do not answer within
// kKeepaliveTimeout, so dead clients release their batches; clients may not
// ping more often than kMinClientPingInterval.
inline constexpr absl::Duration kKeepaliveTime = absl::Seconds(60);
inline constexpr absl::Duration kKeepaliveTimeout = absl::Seconds(20);
inline constexpr absl::Duration kMinClientPingInterval = absl::Seconds(10);

// What an Execute stream may hold unsent for a slow reader: results, and
// their bytes (serialized, plus arena space they still pin). Past either the
// batch stops starting tasks until the reader catches up (back-pressure);
// tasks already running still add their results, so the backlog stays under
// these plus one result per task running at the pause.
inline constexpr int64_t kMaxUnsentResults = 8192;
inline constexpr int64_t kMaxUnsentBytes = 16 << 20;

// Event coalescing on Execute streams: results and progress wait up to
// kFlushInterval to share a message, unless kMinChunkResults are ready or the
// batch is done. A little over 1000: a fast 100k-task stream then takes at
// most one message per 1000 results with its accepted and summary events
// and a few chunks the interval sent early (at 1000 it took 101-102).
inline constexpr absl::Duration kFlushInterval = absl::Milliseconds(5);
inline constexpr int64_t kMinChunkResults = 1100;

// Results share a message up to this many bytes; a result that would take
// a chunk past it starts the next one, so one larger result goes alone.
inline constexpr int64_t kMaxChunkBytes = 1 << 20;

// Largest Execute message: gRPC's default receive limit, which clients keep
// unless they raise it.
inline constexpr int64_t kMaxExecuteEventBytes = 4 << 20;
// Largest serialized TaskResult an Execute message carries: the rest is room
// for the event's framing and progress. A larger one is replaced by a
// RESOURCE_EXHAUSTED result naming its size and this limit.
inline constexpr int64_t kMaxStreamedResultBytes = kMaxExecuteEventBytes - 64;

// Responses (a Gather's) and events (an Execute chunk's results) smaller than
// this are serialized on the thread that made them ready, often the timer
// thread every sleep and deadline waits on; larger ones on a CPU worker, in
// the turn of the call's caller. 64 KiB serializes in ~10 us.
inline constexpr int64_t kInlineSerializeBytes = 64 << 10;

// Tasks one thread starts in a row before it hands the rest of the work to
// the dispatcher thread, so no gRPC or timer thread is held for long.
inline constexpr int kInlineStartBudget = 4096;

// Retries (RetryPolicy): the cap on max_attempts, first attempt included
// (flag --max_attempts; gRPC's own cap is 5); the defaults of fields a
// policy leaves unset; and the largest values a policy may ask for.
inline constexpr int64_t kDefaultMaxAttempts = 5;
inline constexpr absl::Duration kDefaultInitialBackoff =
    absl::Milliseconds(100);
inline constexpr absl::Duration kDefaultMaxBackoff = absl::Seconds(10);
inline constexpr double kDefaultBackoffMultiplier = 2;
inline constexpr absl::Duration kMaxRetryBackoff = absl::Hours(24);
inline constexpr double kMaxBackoffMultiplier = 1000;

// Slowest start rate a batch may ask for (max_starts_per_second): one start
// per 1000 s. Slower would only stall a batch.
inline constexpr double kMinStartsPerSecond = 0.001;

// Longest sleep the `sleep` kind accepts.
inline constexpr absl::Duration kMaxSleep = absl::Hours(24);

// Largest `n` the CPU-bound `primes` kind accepts.
inline constexpr int64_t kMaxPrimesLimit = 100'000'000;

// The `http` kind: its default and longest `timeout`, its default and
// largest `max_body_bytes`, the longest `url` and the most `headers` a
// request may carry. A body is returned whole in TaskResult.payload, so the
// largest one must fit in one result (kMaxStreamedResultBytes) with room for
// the result's other fields (output, id, status): a larger cap would only
// let a task download a body its result cannot carry.
inline constexpr absl::Duration kDefaultHttpTimeout = absl::Seconds(10);
inline constexpr absl::Duration kMaxHttpTimeout = absl::Hours(1);
inline constexpr int64_t kDefaultHttpMaxBodyBytes = 64 << 10;
inline constexpr int64_t kMaxHttpMaxBodyBytes =
    kMaxStreamedResultBytes - (64 << 10);
inline constexpr int64_t kMaxHttpUrlLength = 8192;
inline constexpr int kMaxHttpHeaders = 100;

// Deepest nesting of a task's args and of a task's output, counting each
// JSON object or list as a level (args themselves are level 1). Protobuf
// spends up to 3 message levels per JSON level (Struct > map entry > Value)
// and default parsers (C++, Java, Python) refuse more than 100; echo's
// output of depth d sits under ExecuteEvent > ResultChunk > TaskResult >
// Value, so its deepest message is at 3d + 3 (GatherResponse: 3d + 2).
// 30 gives 93: 7 levels to spare. Requests nesting up to 33 still parse,
// so they get this limit's error rather than a parse failure.
inline constexpr int kMaxArgsDepth = 30;

// How old the heap figure of /metrics (batchexec_process_heap_bytes) may
// be: mallinfo2 locks every malloc arena while it walks them (124 ms with
// ~1M free chunks), so scrapes within this share one reading
// (heap_gauge.h). Prometheus scrapes every 15 s by default.
inline constexpr absl::Duration kHeapGaugeMaxAge = absl::Seconds(5);

// The /metrics HTTP server (metrics_http.h): connections at once, and from
// one client address, and how long a connection may sit without sending or
// reading a byte before it is closed. At the cap new connections wait in the
// kernel's accept queue, in order, so idle or stalled connections (a
// slowloris) delay a scrape by at most the timeout, and one address can hold
// only its share of the places. Scrapers are few and send at once.
inline constexpr unsigned kMetricsMaxConnections = 64;
inline constexpr unsigned kMetricsConnectionsPerAddress = 8;
inline constexpr absl::Duration kMetricsConnectionTimeout = absl::Seconds(5);

// Server reflection. Names a request may ask for (symbol, file name,
// extension's containing type): protobuf 3.21's lookup is quadratic in the
// name's length (80k characters took 2.5 s, on gRPC's thread and under the
// pool's mutex), and no real name comes near 1 KiB, so longer ones are
// refused INVALID_ARGUMENT before any lookup. A request message past
// kMaxReflectionRequestBytes is refused the same way, and a stream ends
// RESOURCE_EXHAUSTED after kMaxReflectionRequestsPerStream requests
// (grpcurl sends a few dozen per command): a stream cannot live forever.
inline constexpr int64_t kMaxReflectionNameLength = 1024;
inline constexpr int64_t kMaxReflectionRequestBytes = 4096;
inline constexpr int64_t kMaxReflectionRequestsPerStream = 1000;

// The `dns` kind's shared c-ares channels (dns_resolver.h): the most
// queries one channel hands c-ares at once; more lookups wait in FIFO
// order. Every answer lands on the channel's one UDP socket per name server,
// and a burst larger than its receive buffer (~200 KiB by default, a few
// hundred datagrams) is dropped and costs a retransmit: 256 lookups (512
// datagrams for A + AAAA, with the 1 MiB buffer asked for) stay inside it.
inline constexpr int kMaxDnsLookupsPerChannel = 256;

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_LIMITS_H_
