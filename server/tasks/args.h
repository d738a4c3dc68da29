// Reading typed values out of a task's args Struct. The registry has already
// checked types against the kind's schema, so these only apply defaults.
#ifndef BATCHEXEC_SERVER_TASKS_ARGS_H_
#define BATCHEXEC_SERVER_TASKS_ARGS_H_

#include <string>

#include "absl/strings/string_view.h"
#include "google/protobuf/struct.pb.h"

namespace batchexec {

inline double NumberArg(const google::protobuf::Struct& args,
                        const std::string& name, double fallback) {
  auto it = args.fields().find(name);
  return it == args.fields().end() ? fallback : it->second.number_value();
}

inline std::string StringArg(const google::protobuf::Struct& args,
                             const std::string& name,
                             absl::string_view fallback = "") {
  auto it = args.fields().find(name);
  return it == args.fields().end() ? std::string(fallback)
                                   : it->second.string_value();
}

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_ARGS_H_
