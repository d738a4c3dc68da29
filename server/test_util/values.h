// Struct values for tests that build task args by hand.
#ifndef BATCHEXEC_SERVER_TEST_UTIL_VALUES_H_
#define BATCHEXEC_SERVER_TEST_UTIL_VALUES_H_

#include <string>

#include "google/protobuf/struct.pb.h"

namespace batchexec::testing {

inline google::protobuf::Value Num(double d) {
  google::protobuf::Value v;
  v.set_number_value(d);
  return v;
}

inline google::protobuf::Value Str(const std::string& s) {
  google::protobuf::Value v;
  v.set_string_value(s);
  return v;
}

inline google::protobuf::Value Bool(bool b) {
  google::protobuf::Value v;
  v.set_bool_value(b);
  return v;
}

}  // namespace batchexec::testing

#endif  // BATCHEXEC_SERVER_TEST_UTIL_VALUES_H_
