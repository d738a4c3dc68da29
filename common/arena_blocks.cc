#include "common/arena_blocks.h"

#include <cstdlib>
#include <vector>

#include "common/mutex.h"

namespace batchexec {
namespace {

struct BlockCache {
  Mutex mu;
  std::vector<void*> blocks ABSL_GUARDED_BY(mu);  // each kArenaBlockBytes
};

BlockCache& Cache() {
  static BlockCache* cache = new BlockCache();  // never destroyed
  return *cache;
}

void* AllocateBlock(size_t size) {
  if (size == kArenaBlockBytes) {
    BlockCache& cache = Cache();
    MutexLock lock(&cache.mu);
    if (!cache.blocks.empty()) {
      void* block = cache.blocks.back();
      cache.blocks.pop_back();
      return block;
    }
  }
  return std::malloc(size);
}

void FreeBlock(void* block, size_t size) {
  if (size == kArenaBlockBytes) {
    BlockCache& cache = Cache();
    MutexLock lock(&cache.mu);
    if (cache.blocks.size() * kArenaBlockBytes < kArenaBlockCacheBytes) {
      cache.blocks.push_back(block);
      return;
    }
  }
  std::free(block);
}

}  // namespace

google::protobuf::ArenaOptions CachedArenaOptions() {
  google::protobuf::ArenaOptions options;
  options.start_block_size = 4 << 10;
  options.max_block_size = kArenaBlockBytes;
  options.block_alloc = &AllocateBlock;
  options.block_dealloc = &FreeBlock;
  return options;
}

size_t ReleaseCachedArenaBlocks() {
  std::vector<void*> blocks;
  {
    BlockCache& cache = Cache();
    MutexLock lock(&cache.mu);
    blocks.swap(cache.blocks);
  }
  for (void* block : blocks) std::free(block);
  return blocks.size() * kArenaBlockBytes;
}

}  // namespace batchexec
