// This process's memory use, from /proc and malloc: the bench's
// memory-per-task figure and the tests' leak and growth checks (with the
// server in-process, the process's growth is the server's cost).
#ifndef BATCHEXEC_COMMON_PROCESS_MEMORY_H_
#define BATCHEXEC_COMMON_PROCESS_MEMORY_H_

#include <malloc.h>

#include <cstdint>
#include <cstdlib>
#include <fstream>
#include <string>

#include "common/arena_blocks.h"

namespace batchexec {

// Whether RSS follows the heap: AddressSanitizer keeps freed memory in
// quarantine, so under it RSS says little about leaks (LeakSanitizer checks
// those instead).
#if defined(__SANITIZE_ADDRESS__)
inline constexpr bool kRssTracksHeap = false;
#else
inline constexpr bool kRssTracksHeap = true;
#endif

// A "VmRSS"/"VmHWM"-style field of /proc/self/status, in bytes; -1 if absent.
inline int64_t ProcStatusBytes(const std::string& field) {
  std::ifstream status("/proc/self/status");
  std::string line;
  const std::string prefix = field + ":";
  while (std::getline(status, line)) {
    if (line.compare(0, prefix.size(), prefix) == 0) {
      return std::strtoll(line.c_str() + prefix.size(), nullptr, 10) * 1024;
    }
  }
  return -1;
}

// Bytes malloc has handed out and not yet got back, over every arena
// (large mmap'ed blocks included): the live heap, without the free memory
// and fragmentation that RSS also counts.
inline int64_t HeapInUseBytes() {
  const struct mallinfo2 info = mallinfo2();
  return static_cast<int64_t>(info.uordblks + info.hblkhd);
}

// Gives free heap back to the kernel and resets the peak (VmHWM) to the
// current RSS, so that a later peak measures only what comes after: earlier
// scenarios' freed memory would otherwise hide new allocations or inflate the
// peak. Returns false if the kernel refused the reset (then VmHWM still holds
// the older peak).
inline bool ResetPeakRss() {
  ReleaseCachedArenaBlocks();
  malloc_trim(0);
  std::ofstream clear_refs("/proc/self/clear_refs");
  clear_refs << "5";  // "reset the peak resident set size", Linux >= 4.0
  clear_refs.flush();
  return clear_refs.good();
}

// Resident memory after giving freed heap pages (and cached arena blocks)
// back to the OS, so what is left is what is still in use.
inline int64_t TrimmedRss() {
  ReleaseCachedArenaBlocks();
  malloc_trim(0);
  return ProcStatusBytes("VmRSS");
}

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_PROCESS_MEMORY_H_
