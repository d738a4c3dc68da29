// Reads this process's memory use from /proc, for leak and growth checks.
#ifndef BATCHEXEC_TESTS_TEST_UTIL_PROCESS_MEMORY_H_
#define BATCHEXEC_TESTS_TEST_UTIL_PROCESS_MEMORY_H_

#include <malloc.h>

#include <cstdint>
#include <fstream>
#include <string>

namespace batchexec::testing {

// A field of /proc/self/status in bytes ("VmRSS", "VmHWM"); -1 if absent.
inline int64_t ProcStatusBytes(const std::string& field) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      return std::stoll(line.substr(field.size() + 1)) * 1024;  // kB
    }
  }
  return -1;
}

// Resident memory after giving freed heap pages back to the OS, so what is
// left is what is still in use.
inline int64_t TrimmedRss() {
  malloc_trim(0);
  return ProcStatusBytes("VmRSS");
}

}  // namespace batchexec::testing

#endif  // BATCHEXEC_TESTS_TEST_UTIL_PROCESS_MEMORY_H_
