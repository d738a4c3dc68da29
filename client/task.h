// Builders for the tasks of a batch: a registered kind, its arguments and
// the optional id, timeout and payload.
//
//   std::vector<batchexec::Task> tasks = {
//       batchexec::Task::Sleep(absl::Seconds(2)).WithId("a"),
//       batchexec::Task::Echo({{"x", 1}, {"name", "b"}}),
//       batchexec::Task::Of("primes", {{"n", 100000}}).WithTimeout(
//           absl::Seconds(5)),
//   };
//
// A Task is a value (it wraps a v1::Task); building one does no I/O and
// checks nothing: the server validates kinds and arguments before it runs
// a batch, and rejects the whole batch naming the bad task's index.
#ifndef BATCHEXEC_CLIENT_TASK_H_
#define BATCHEXEC_CLIENT_TASK_H_

#include <initializer_list>
#include <string>
#include <type_traits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "client/retry_policy.h"
#include "google/protobuf/struct.pb.h"

namespace batchexec {

// One argument value: a number, string, bool, nested object or any JSON
// value. Implicit, so that argument lists read like JSON.
class ArgValue {
 public:
  template <typename T, std::enable_if_t<std::is_arithmetic_v<T> &&
                                             !std::is_same_v<T, bool>,
                                         int> = 0>
  ArgValue(T number) {  // NOLINT: implicit by design
    value_.set_number_value(static_cast<double>(number));
  }
  ArgValue(bool b) { value_.set_bool_value(b); }           // NOLINT
  ArgValue(const char* s) { value_.set_string_value(s); }  // NOLINT
  ArgValue(absl::string_view s) {                          // NOLINT
    value_.set_string_value(std::string(s));
  }
  ArgValue(const std::string& s) { value_.set_string_value(s); }  // NOLINT
  ArgValue(google::protobuf::Struct object) {                     // NOLINT
    *value_.mutable_struct_value() = std::move(object);
  }
  ArgValue(google::protobuf::Value value)  // NOLINT
      : value_(std::move(value)) {}

  const google::protobuf::Value& value() const& { return value_; }
  google::protobuf::Value&& value() && { return std::move(value_); }

 private:
  google::protobuf::Value value_;
};

// Key/value arguments, e.g. {{"seconds", 1.5}} or {{"host", "127.0.0.1"},
// {"port", 8080}}.
using ArgList = std::initializer_list<std::pair<absl::string_view, ArgValue>>;

// Builds a google::protobuf::Struct from key/values (e.g. for nested args).
google::protobuf::Struct MakeArgs(ArgList args);

class Task {
 public:
  Task() = default;
  // Wraps a wire task as is (e.g. one read from JSON).
  explicit Task(v1::Task proto) : proto_(std::move(proto)) {}

  // Any registered kind with its arguments.
  static Task Of(absl::string_view kind, google::protobuf::Struct args = {});
  static Task Of(absl::string_view kind, ArgList args);

  // Built-in kinds (server/tasks/kinds.h).
  // sleep: waits `duration` on the server without holding a thread.
  static Task Sleep(absl::Duration duration);
  // echo: its output is its arguments.
  static Task Echo(google::protobuf::Struct args);
  static Task Echo(ArgList args);
  // fail: ends with status `code` (1..16) and `message`.
  static Task Fail(absl::StatusCode code, absl::string_view message);
  // tcp_probe: connects to host:port (numeric address or "localhost"),
  // waiting up to `timeout`; the server allows loopback targets only unless
  // configured otherwise.
  static Task TcpProbe(absl::string_view host, int port,
                       absl::Duration timeout = absl::Seconds(1));
  // http: a request to `url` (http or https); `more` adds the other args,
  // e.g. {{"method", "HEAD"}, {"timeout", 2}}. The body comes back in
  // TaskResult.payload; statuses map to gRPC codes (DESIGN.md section 6).
  static Task Http(absl::string_view url, ArgList more = {});
  // grpc_health: grpc.health.v1.Health/Check on `target` ("host:port"),
  // e.g. {{"service", "orders"}, {"tls", true}} in `more`.
  static Task GrpcHealth(absl::string_view target, ArgList more = {});
  // dns: the addresses of `name` (/etc/hosts first), e.g.
  // {{"family", "ipv4"}} in `more`.
  static Task Dns(absl::string_view name, ArgList more = {});

  // Caller label echoed back in the result.
  Task& WithId(absl::string_view id) &;
  Task WithId(absl::string_view id) &&;
  // This task's own time limit; overrides GatherOptions::task_timeout.
  Task& WithTimeout(absl::Duration timeout) &;
  Task WithTimeout(absl::Duration timeout) &&;
  // Binary input for kinds that take one.
  Task& WithPayload(std::string bytes) &;
  Task WithPayload(std::string bytes) &&;
  // How the server retries this task when it fails; overrides
  // GatherOptions::retry.
  Task& WithRetry(const RetryPolicy& retry) &;
  Task WithRetry(const RetryPolicy& retry) &&;

  const std::string& kind() const { return proto_.kind(); }
  const std::string& id() const { return proto_.id(); }
  const v1::Task& proto() const { return proto_; }
  v1::Task* mutable_proto() { return &proto_; }

 private:
  v1::Task proto_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_CLIENT_TASK_H_
