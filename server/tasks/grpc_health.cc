#include "server/tasks/grpc_health.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/tasks/args.h"
#include "server/tasks/grpc_health_schema.h"
#include "server/tasks/host_port.h"
#include "src/proto/grpc/health/v1/health.grpc.pb.h"

namespace batchexec {
namespace {

using grpc::health::v1::Health;
using grpc::health::v1::HealthCheckRequest;
using grpc::health::v1::HealthCheckResponse;

// Health checks want fresh answers: retry a refused connection soon rather
// than report a stale failure for gRPC's default second or more. (Not
// GRPC_ARG_MIN_RECONNECT_BACKOFF_MS: that is also the connect timeout.)
constexpr int kReconnectBackoffMs = 100;
constexpr int kMaxReconnectBackoffMs = 1000;

struct Shared {
  ProbeAllowlist allowlist;
  std::shared_ptr<DnsResolver> resolver;
  GrpcChannelCache channels;
  Shared(ProbeAllowlist a, std::shared_ptr<DnsResolver> r, size_t max)
      : allowlist(std::move(a)), resolver(std::move(r)), channels(max) {}
};

// One check: resolve (unless numeric), check the addresses against the
// allowlist, then one Check call on a cached channel pinned to them. Ends
// once, by its result or by the task's cancellation.
class HealthCheck : public std::enable_shared_from_this<HealthCheck> {
 public:
  HealthCheck(std::shared_ptr<TaskContext> task, std::shared_ptr<Shared> shared,
              HostPort target, std::string service, bool tls,
              absl::Duration timeout)
      : task_(std::move(task)),
        shared_(std::move(shared)),
        target_(std::move(target)),
        tls_(tls),
        timeout_(timeout),
        start_(absl::Now()) {
    request_.set_service(std::move(service));
  }

  void Begin() {
    auto self = shared_from_this();
    task_->OnCancel([self] { self->Cancel(); });
    if (auto ip = IpAddress::Parse(target_.host);
        ip.ok() && target_.host != "localhost") {
      return OnResolved(std::vector<IpAddress>{*ip});
    }
    auto lookup = shared_->resolver->Resolve(
        target_.host, AddressFamily::kAny, timeout_,
        [self](absl::StatusOr<std::vector<IpAddress>> found) {
          self->OnResolved(std::move(found));
        });
    MutexLock lock(&mu_);
    lookup_ = std::move(lookup);
    if (cancelled_) lookup_->Cancel();  // cancelled while it started
  }

 private:
  void Cancel() {
    std::shared_ptr<DnsResolver::Lookup> lookup;
    bool calling;
    {
      MutexLock lock(&mu_);
      cancelled_ = true;
      lookup = lookup_;
      calling = calling_;
    }
    if (lookup) lookup->Cancel();
    // Outside mu_: gRPC may run the call's callback on this thread. Before
    // the call starts, TryCancel makes gRPC cancel it as it starts.
    if (calling) context_.TryCancel();
  }

  void OnResolved(absl::StatusOr<std::vector<IpAddress>> found) {
    const std::string target = target_.ToString();
    if (!found.ok()) {
      const absl::StatusCode code =
          found.status().code() == absl::StatusCode::kDeadlineExceeded
              ? absl::StatusCode::kDeadlineExceeded
              : absl::StatusCode::kUnavailable;
      return task_->Finish(
          absl::Status(code, absl::StrCat("grpc_health: resolving ", target,
                                          ": ", found.status().message())));
    }
    // Only allowed addresses, of the first one's family (one channel URI
    // holds one family).
    std::vector<std::string> allowed, refused;
    bool v4 = false;
    for (const IpAddress& ip : *found) {
      if (!shared_->allowlist.Allows(ip, target_.port)) {
        refused.push_back(ip.ToString());
        continue;
      }
      if (allowed.empty()) v4 = ip.is_v4;
      if (ip.is_v4 != v4) continue;
      allowed.push_back(
          ip.is_v4 ? absl::StrCat(ip.ToString(), ":", target_.port)
                   : absl::StrCat("[", ip.ToString(), "]:", target_.port));
    }
    if (allowed.empty()) {
      return task_->Finish(absl::PermissionDeniedError(absl::StrCat(
          "grpc_health: ", target, " (", absl::StrJoin(refused, ", "),
          ") is not on the probe allowlist (", shared_->allowlist.spec(),
          ")")));
    }
    const std::string uri =
        absl::StrCat(v4 ? "ipv4:" : "ipv6:", absl::StrJoin(allowed, ","));
    channel_ = shared_->channels.Get(
        absl::StrCat(uri, tls_ ? " tls " : " plain ", target),
        [&] { return NewChannel(uri, target); });
    stub_ = Health::NewStub(channel_);
    context_.set_deadline(absl::ToChronoTime(start_ + timeout_));
    {
      MutexLock lock(&mu_);
      if (cancelled_) return;
      calling_ = true;
    }
    auto self = shared_from_this();
    stub_->async()->Check(
        &context_, &request_, &response_,
        [self](grpc::Status status) { self->OnDone(std::move(status)); });
  }

  std::shared_ptr<grpc::Channel> NewChannel(const std::string& uri,
                                            const std::string& target) const {
    grpc::ChannelArguments args;
    // The name the caller gave, for :authority and TLS verification, while
    // the connection goes to the checked addresses.
    args.SetString(GRPC_ARG_DEFAULT_AUTHORITY, target);
    if (tls_) args.SetSslTargetNameOverride(target_.host);
    // A proxy from the environment would move the connection off the
    // checked addresses.
    args.SetInt(GRPC_ARG_ENABLE_HTTP_PROXY, 0);
    args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, kReconnectBackoffMs);
    args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, kMaxReconnectBackoffMs);
    auto credentials = tls_
                           ? grpc::SslCredentials(grpc::SslCredentialsOptions())
                           : grpc::InsecureChannelCredentials();
    return grpc::CreateCustomChannel(uri, credentials, args);
  }

  void OnDone(grpc::Status status) {
    const std::string what =
        absl::StrCat("grpc_health: ", target_.ToString(), " service '",
                     request_.service(), "'");
    if (!status.ok()) {
      return task_->Finish(
          absl::Status(static_cast<absl::StatusCode>(status.error_code()),
                       absl::StrCat(what, ": ", status.error_message())));
    }
    const std::string name =
        HealthCheckResponse::ServingStatus_Name(response_.status());
    if (response_.status() != HealthCheckResponse::SERVING) {
      return task_->Finish(
          absl::UnavailableError(absl::StrCat(what, " is ", name)));
    }
    HandlerOutput out;
    auto& f = *out.output.mutable_struct_value()->mutable_fields();
    f["status"].set_string_value(name);
    f["latency_ms"].set_number_value(
        absl::ToDoubleMilliseconds(absl::Now() - start_));
    task_->Finish(std::move(out));
  }

  const std::shared_ptr<TaskContext> task_;
  const std::shared_ptr<Shared> shared_;
  const HostPort target_;
  const bool tls_;
  const absl::Duration timeout_;
  const absl::Time start_;
  HealthCheckRequest request_;
  HealthCheckResponse response_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<Health::Stub> stub_;
  grpc::ClientContext context_;
  Mutex mu_;
  std::shared_ptr<DnsResolver::Lookup> lookup_ ABSL_GUARDED_BY(mu_);
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  bool calling_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

TaskKind GrpcHealthKind(GrpcHealthOptions options) {
  auto shared = std::make_shared<Shared>(std::move(options.allowlist),
                                         std::move(options.resolver),
                                         options.max_cached_channels);
  TaskKind kind = GrpcHealthSchema(shared->allowlist.spec());
  kind.reads_task_only_at_start = true;  // args are copied out here
  kind.handler = [shared](std::shared_ptr<TaskContext> task) {
    const auto& args = task->args();
    HostPort target = *ParseHostPort(StringArg(args, "target"));
    auto tls = args.fields().find("tls");
    auto check = std::make_shared<HealthCheck>(
        task, shared, std::move(target), StringArg(args, "service"),
        tls != args.fields().end() && tls->second.bool_value(),
        absl::Seconds(
            NumberArg(args, "timeout", kDefaultHealthTimeoutSeconds)));
    check->Begin();
  };
  return kind;
}

}  // namespace batchexec
