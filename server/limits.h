// Limits and defaults of the batchexec server, in one place. Flags in
// main.cc override the ones marked "flag"; error messages quote them.
#ifndef BATCHEXEC_SERVER_LIMITS_H_
#define BATCHEXEC_SERVER_LIMITS_H_

#include <cstdint>

#include "absl/time/time.h"

namespace batchexec {

// Most tasks in one batch (flag --max_batch_size).
inline constexpr int64_t kDefaultMaxBatchSize = 1'000'000;

// Per-batch concurrency when a request leaves max_concurrency at 0, and the
// cap on what a request may ask for (flag --max_task_concurrency).
inline constexpr int64_t kDefaultMaxTaskConcurrency = 1'000'000;

// Tasks running at once across every batch (flag --max_inflight_tasks).
inline constexpr int64_t kDefaultMaxInflightTasks = 1'000'000;

// Tasks of all open batches (a batch counts whole until it ends); a batch
// that would go past it is rejected with RESOURCE_EXHAUSTED (flag
// --max_queued_tasks).
inline constexpr int64_t kDefaultMaxQueuedTasks = 4'000'000;

// Batches open at once; more get RESOURCE_EXHAUSTED (flag --max_open_batches).
inline constexpr int64_t kDefaultMaxOpenBatches = 1024;

// Threads for CPU-bound kinds (flag --cpu_workers); 0 means one per core.
inline constexpr int kDefaultCpuWorkers = 0;

// Time running batches get to finish on SIGTERM before they are cancelled
// (flag --shutdown_grace).
inline constexpr absl::Duration kDefaultShutdownGrace = absl::Seconds(10);

// Largest request the server accepts (flag --max_receive_message_bytes):
// room for a 1M-task batch of small tasks.
inline constexpr int kDefaultMaxReceiveMessageBytes = 256 << 20;

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

// Results an Execute stream may hold unsent for a slow reader; past it the
// batch stops starting tasks until the reader catches up (back-pressure), so
// a stalled reader costs bounded memory.
inline constexpr int64_t kMaxUnsentResults = 8192;

// Event coalescing on Execute streams: results and progress wait up to
// kFlushInterval to share a message, unless kMinChunkResults are ready or the
// batch is done. Keeps a 100k-task stream to ~1 message per 1000 results.
inline constexpr absl::Duration kFlushInterval = absl::Milliseconds(5);
inline constexpr int64_t kMinChunkResults = 1000;

// Largest serialized ResultChunk; well under gRPC's default 4 MiB limit.
inline constexpr int64_t kMaxChunkBytes = 1 << 20;

// Tasks one thread starts in a row before it hands the rest of the work to
// the worker pool, so no gRPC or timer thread is held for long.
inline constexpr int kInlineStartBudget = 4096;

// Longest sleep the `sleep` kind accepts.
inline constexpr absl::Duration kMaxSleep = absl::Hours(24);

// Largest `n` the CPU-bound `primes` kind accepts.
inline constexpr int64_t kMaxPrimesLimit = 100'000'000;

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_LIMITS_H_
