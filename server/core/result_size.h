// The largest result a task may produce: one that fits in an Execute message
// under gRPC's default 4 MiB receive limit (kMaxStreamedResultBytes). A
// larger result fails its task alone, before the failure policy sees it.
#ifndef BATCHEXEC_SERVER_CORE_RESULT_SIZE_H_
#define BATCHEXEC_SERVER_CORE_RESULT_SIZE_H_

#include "batchexec/v1/batch.pb.h"

namespace batchexec {

// If `result` serializes to more than kMaxStreamedResultBytes, turns it into
// RESOURCE_EXHAUSTED naming its size and the limit, keeping what identifies
// it (index, id, timings), and returns true.
bool FailIfTooLarge(v1::TaskResult* result);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_RESULT_SIZE_H_
