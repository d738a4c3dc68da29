// Equal field by field, a NaN equal to itself: how the fuzz targets compare
// two parses of one input (a NaN argument parses to NaN both times).
#ifndef BATCHEXEC_TESTS_FUZZ_SAME_MESSAGE_H_
#define BATCHEXEC_TESTS_FUZZ_SAME_MESSAGE_H_

#include "google/protobuf/message.h"
#include "google/protobuf/util/field_comparator.h"
#include "google/protobuf/util/message_differencer.h"

namespace batchexec {

inline bool SameMessage(const google::protobuf::Message& a,
                        const google::protobuf::Message& b) {
  google::protobuf::util::DefaultFieldComparator fields;
  fields.set_treat_nan_as_equal(true);
  google::protobuf::util::MessageDifferencer differ;
  differ.set_field_comparator(&fields);
  return differ.Compare(a, b);
}

}  // namespace batchexec

#endif  // BATCHEXEC_TESTS_FUZZ_SAME_MESSAGE_H_
