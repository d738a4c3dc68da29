// A bounded cache of the large blocks that per-call protobuf arenas are made
// of. A 100k-task batch's request and response fill about a hundred 1 MiB
// blocks; taking them fresh from the system on every call costs a page fault
// per 4 KiB touched, as much as a third of the request's parse time. Freed
// blocks of the largest size are kept (up to kArenaBlockCacheBytes) for the
// next call instead.
#ifndef BATCHEXEC_COMMON_ARENA_BLOCKS_H_
#define BATCHEXEC_COMMON_ARENA_BLOCKS_H_

#include <cstddef>

#include "google/protobuf/arena.h"

namespace batchexec {

// Arena blocks grow from 4 KiB up to this size; only these are cached.
inline constexpr size_t kArenaBlockBytes = 1 << 20;
// At most this much memory is kept cached.
inline constexpr size_t kArenaBlockCacheBytes = 64 << 20;

// Options for a call's arena: large blocks, through the cache. Thread-safe.
google::protobuf::ArenaOptions CachedArenaOptions();

// Frees every cached block (for memory measurements), and says how many
// bytes that was.
size_t ReleaseCachedArenaBlocks();

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_ARENA_BLOCKS_H_
