#include "common/arena_blocks.h"

#include "google/protobuf/arena.h"
#include "google/protobuf/struct.pb.h"
#include "gtest/gtest.h"

namespace batchexec {
namespace {

// Fills an arena with `bytes` of messages, so it grows to its largest
// blocks, then frees it.
void FillAndDrop(size_t bytes) {
  google::protobuf::Arena arena(CachedArenaOptions());
  while (arena.SpaceUsed() < bytes) {
    google::protobuf::Arena::CreateMessage<google::protobuf::Value>(&arena)
        ->set_number_value(1);
  }
}

TEST(ArenaBlocks, KeepsLargeBlocksUpToTheLimitAndReleasesThem) {
  ReleaseCachedArenaBlocks();
  FillAndDrop(8 << 20);
  const size_t cached = ReleaseCachedArenaBlocks();
  EXPECT_GE(cached, 4 * kArenaBlockBytes);  // most of 8 MiB came back
  EXPECT_EQ(ReleaseCachedArenaBlocks(), 0u);

  FillAndDrop(2 * kArenaBlockCacheBytes);  // more than the cache holds
  EXPECT_EQ(ReleaseCachedArenaBlocks(), kArenaBlockCacheBytes);
}

TEST(ArenaBlocks, ReusedBlocksServeTheNextArena) {
  ReleaseCachedArenaBlocks();
  FillAndDrop(8 << 20);
  FillAndDrop(8 << 20);  // takes the cached blocks, gives them back
  EXPECT_LE(ReleaseCachedArenaBlocks(), size_t{9} << 20);
}

}  // namespace
}  // namespace batchexec
