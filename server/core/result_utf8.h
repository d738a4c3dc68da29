// Text a client can parse: proto3 string fields must hold valid UTF-8, and a
// client's parser refuses a message with one that does not, so one task
// kind's bad string would fail its whole chunk of results. The batch checks
// every result's text before it goes out and replaces a bad one by a
// failure of that task alone.
#ifndef BATCHEXEC_SERVER_CORE_RESULT_UTF8_H_
#define BATCHEXEC_SERVER_CORE_RESULT_UTF8_H_

#include <string>

#include "batchexec/v1/batch.pb.h"

namespace batchexec {

// The first string field of `result` that is not valid UTF-8, named as a
// path ("id", "status.message", "output.a[2]", "output{key}" for a key), or
// "" if every one is valid.
std::string FirstInvalidUtf8(const v1::TaskResult& result);

// If `result` has a string that is not valid UTF-8, turns it into INTERNAL
// naming the field ("task result field output.a is not valid UTF-8 ...")
// and drops its output, payload and any bad id, keeping its index, timings
// and attempts; returns true. INTERNAL, not DATA_LOSS: the task kind broke
// the contract of its result (text fields are UTF-8, bytes go in the
// payload); nothing stored was corrupted.
bool ReplaceInvalidUtf8(v1::TaskResult* result);

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_RESULT_UTF8_H_
