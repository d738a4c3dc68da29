// batchexec/v1/batch.proto as a serialized FileDescriptorSet that keeps the
// proto's comments (SourceCodeInfo), for server reflection.
#ifndef BATCHEXEC_PROTO_BATCH_DESCRIPTOR_SET_H_
#define BATCHEXEC_PROTO_BATCH_DESCRIPTOR_SET_H_

#include <cstddef>

namespace batchexec {

extern const unsigned char kBatchDescriptorSet[];
extern const size_t kBatchDescriptorSetSize;

}  // namespace batchexec

#endif  // BATCHEXEC_PROTO_BATCH_DESCRIPTOR_SET_H_
