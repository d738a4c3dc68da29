// The largest result a task may produce: one that fits in an Execute message
// under gRPC's default 4 MiB receive limit (kMaxStreamedResultBytes). A
// larger result fails its task alone, before the failure policy sees it.
#ifndef BATCHEXEC_SERVER_CORE_RESULT_SIZE_H_
#define BATCHEXEC_SERVER_CORE_RESULT_SIZE_H_

#include "batchexec/v1/batch.pb.h"

namespace batchexec {

// A result's serialized size, measured once by the batch and handed to the
// sink with it: sizing a result walks all of its output.
struct ResultFit {
  size_t bytes = 0;    // as it goes out
  size_t dropped = 0;  // the size of an output that did not fit, else 0
};

// Sizes `result`, leaving it as it is (a failed result: the batch fits only
// outputs; a sink with a limit of its own fits the rest).
ResultFit SizeResult(const v1::TaskResult& result);

// Sizes `result`. If it serializes to more than kMaxStreamedResultBytes,
// turns it into RESOURCE_EXHAUSTED naming its size and the limit, keeping
// what identifies it (index, id, timings); `dropped` is then its old size.
ResultFit FitResult(v1::TaskResult* result);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_RESULT_SIZE_H_
