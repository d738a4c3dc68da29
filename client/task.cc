#include "client/task.h"

#include <utility>

#include "common/proto_time.h"

namespace batchexec {

google::protobuf::Struct MakeArgs(ArgList args) {
  google::protobuf::Struct out;
  auto& fields = *out.mutable_fields();
  for (const auto& [key, value] : args) {
    fields[std::string(key)] = value.value();
  }
  return out;
}

Task Task::Of(absl::string_view kind, google::protobuf::Struct args) {
  Task task;
  task.proto_.set_kind(std::string(kind));
  *task.proto_.mutable_args() = std::move(args);
  return task;
}

Task Task::Of(absl::string_view kind, ArgList args) {
  return Of(kind, MakeArgs(args));
}

Task Task::Sleep(absl::Duration duration) {
  return Of("sleep", {{"seconds", absl::ToDoubleSeconds(duration)}});
}

Task Task::Echo(google::protobuf::Struct args) {
  return Of("echo", std::move(args));
}

Task Task::Echo(ArgList args) { return Of("echo", MakeArgs(args)); }

Task Task::Fail(absl::StatusCode code, absl::string_view message) {
  return Of("fail", {{"code", static_cast<int>(code)}, {"message", message}});
}

Task Task::TcpProbe(absl::string_view host, int port, absl::Duration timeout) {
  return Of("tcp_probe", {{"host", host},
                          {"port", port},
                          {"timeout", absl::ToDoubleSeconds(timeout)}});
}

namespace {
// `kind` with its one required argument plus the caller's others.
Task WithMainArg(absl::string_view kind, absl::string_view field,
                 absl::string_view value, ArgList more) {
  google::protobuf::Struct args = MakeArgs(more);
  (*args.mutable_fields())[std::string(field)].set_string_value(
      std::string(value));
  return Task::Of(kind, std::move(args));
}
}  // namespace

Task Task::Http(absl::string_view url, ArgList more) {
  return WithMainArg("http", "url", url, more);
}

Task Task::GrpcHealth(absl::string_view target, ArgList more) {
  return WithMainArg("grpc_health", "target", target, more);
}

Task Task::Dns(absl::string_view name, ArgList more) {
  return WithMainArg("dns", "name", name, more);
}

Task& Task::WithId(absl::string_view id) & {
  proto_.set_id(std::string(id));
  return *this;
}
Task Task::WithId(absl::string_view id) && { return std::move(WithId(id)); }

Task& Task::WithTimeout(absl::Duration timeout) & {
  *proto_.mutable_timeout() = ToProtoDuration(timeout);
  return *this;
}
Task Task::WithTimeout(absl::Duration timeout) && {
  return std::move(WithTimeout(timeout));
}

Task& Task::WithRetry(const RetryPolicy& retry) & {
  *proto_.mutable_retry_policy() = retry.ToProto();
  return *this;
}
Task Task::WithRetry(const RetryPolicy& retry) && {
  return std::move(WithRetry(retry));
}

Task& Task::WithPayload(std::string bytes) & {
  proto_.set_payload(std::move(bytes));
  return *this;
}
Task Task::WithPayload(std::string bytes) && {
  return std::move(WithPayload(std::move(bytes)));
}

}  // namespace batchexec
