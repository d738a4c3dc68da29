// Page faults on fresh memory cost 5-15 µs each on some VMs (the machine
// this project is built and benchmarked on among them), 20-60x a usual
// fault. A CLI run is a fresh process whose memory is all new, so glibc's
// malloc is tuned for it with GLIBC_TUNABLES, which glibc reads only when a
// process starts (hence the re-exec):
// - glibc.malloc.hugetlb=1 (glibc 2.35+): ask for transparent huge pages;
// - glibc.malloc.top_pad=64 MiB: grow each heap in big steps, so that its
//   new memory spans whole huge pages (in small steps it got few: the
//   parsing threads' heaps none);
// - glibc.malloc.mmap_threshold=32 MiB: big blocks (the request, the result
//   vector) come from those heaps too, not from mmaps of fresh pages.
// 100k echo tasks against a warm server: 18-19k faults and 0.74-0.86 s with
// hugetlb alone, 1.3-1.4k faults and 0.57-0.70 s with all three. The memory
// is kept until exit, which a short run does not mind.
#ifndef BATCHEXEC_COMMON_MALLOC_TUNABLES_H_
#define BATCHEXEC_COMMON_MALLOC_TUNABLES_H_

#include <optional>
#include <string>

namespace batchexec {

// The GLIBC_TUNABLES value to re-execute with, given the current one (null
// if unset): the tunables above that it does not name, appended. nullopt
// when it names them all (the user's own values are kept, `=0` included),
// so a re-executed process never loops.
std::optional<std::string> WithShortRunMallocTunables(const char* current);

// Re-executes this program (same pid, arguments and environment) once, with
// WithShortRunMallocTunables in GLIBC_TUNABLES. Returns only when no re-exec
// was needed or it failed (then the program runs as it is). Call first thing
// in main, before any thread starts.
void ReexecWithShortRunMalloc(char** argv);

}  // namespace batchexec

#endif  // BATCHEXEC_COMMON_MALLOC_TUNABLES_H_
