// Page faults on fresh memory cost ~10 µs each on some VMs (the machine this
// project is built and benchmarked on among them), 40x a usual fault. A CLI
// run is a fresh process whose memory is all fresh: 100k tasks took 36k
// faults and 0.75-0.87 s. Transparent huge pages cut the faults, and
// glibc's malloc asks for them with the tunable glibc.malloc.hugetlb=1
// (glibc 2.35+), which it reads only when a process starts: with it, 13-14k
// faults and 0.46-0.63 s. (The server gains nothing measurable from it: its
// threads allocate from per-thread heaps that grow in small steps.)
#ifndef BATCHEXEC_COMMON_HUGE_PAGE_MALLOC_H_
#define BATCHEXEC_COMMON_HUGE_PAGE_MALLOC_H_

#include <optional>
#include <string>

namespace batchexec {

// The GLIBC_TUNABLES value to re-execute with, given the current one (null
// if unset): the tunable added. nullopt when it needs no re-exec: the value
// already names glibc.malloc.hugetlb (the user's choice; =0 turns it off).
std::optional<std::string> TunablesWithHugePages(const char* current);

// Re-executes this program (same pid, arguments and environment) once, with
// TunablesWithHugePages set in GLIBC_TUNABLES. Returns only when no re-exec
// was needed or it failed (then the program runs as it is). Call first thing
// in main, before any thread starts.
void ReexecWithHugePageMalloc(char** argv);

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_HUGE_PAGE_MALLOC_H_
