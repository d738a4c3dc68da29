// The `http` task kind (DESIGN §6): its argument schema and checks, and how
// an HTTP exchange becomes a task result. The requests themselves ride the
// shared HttpClient (http_client.h).
#include <curl/curl.h>

#include <algorithm>
#include <cmath>
#include <memory>
#include <mutex>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/mutex.h"
#include "server/core/limits.h"
#include "server/tasks/args.h"
#include "server/tasks/dns_resolver.h"
#include "server/tasks/http_client.h"
#include "server/tasks/kinds.h"

namespace batchexec {
namespace {

constexpr const char* kMethods[] = {"GET",   "HEAD",   "POST",   "PUT",
                                    "PATCH", "DELETE", "OPTIONS"};

bool IsKnownMethod(const std::string& method) {
  for (const char* m : kMethods) {
    if (method == m) return true;
  }
  return false;
}

// RFC 9110 token characters, what a header name is made of.
bool IsToken(absl::string_view s) {
  if (s.empty()) return false;
  for (char c : s) {
    if (absl::ascii_isalnum(c)) continue;
    if (absl::string_view("!#$%&'*+-.^_`|~").find(c) ==
        absl::string_view::npos) {
      return false;
    }
  }
  return true;
}

// Control characters other than tab would split or smuggle a header.
bool IsHeaderValue(absl::string_view s) {
  for (unsigned char c : s) {
    if ((c < 0x20 && c != '\t') || c == 0x7f) return false;
  }
  return true;
}

// Headers that frame the message or pick its connection: the transfer sets
// them. A caller's own would let it smuggle a second request onto a pooled
// connection other callers' tasks reuse.
constexpr absl::string_view kReservedHeaders[] = {
    "Content-Length", "Transfer-Encoding", "Connection", "Host"};

// The reserved header `name` stands for (in any case, with whitespace around
// it), or empty.
absl::string_view ReservedHeader(absl::string_view name) {
  name = absl::StripAsciiWhitespace(name);
  for (absl::string_view reserved : kReservedHeaders) {
    if (absl::EqualsIgnoreCase(name, reserved)) return reserved;
  }
  return {};
}

absl::Status Invalid(absl::string_view field, absl::string_view rule) {
  return absl::InvalidArgumentError(absl::StrCat("args.", field, " ", rule));
}

absl::Status ValidateUrl(const std::string& url) {
  if (url.size() > static_cast<size_t>(kMaxHttpUrlLength)) {
    return Invalid(
        "url", absl::StrCat("is longer than ", kMaxHttpUrlLength, " bytes"));
  }
  for (unsigned char c : url) {
    if (c <= 0x20 || c == 0x7f) {
      return Invalid("url", "must not contain spaces or control characters");
    }
  }
  CURLU* u = curl_url();
  if (u == nullptr) return absl::ResourceExhaustedError("curl_url failed");
  absl::Status status;
  char* scheme = nullptr;
  char* host = nullptr;
  if (CURLUcode rc = curl_url_set(u, CURLUPART_URL, url.c_str(), 0);
      rc != CURLUE_OK) {
    status = Invalid("url", absl::StrCat("is not a valid URL (",
                                         curl_url_strerror(rc), "): ", url));
  } else if (curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
             (absl::string_view(scheme) != "http" &&
              absl::string_view(scheme) != "https")) {
    status =
        Invalid("url", absl::StrCat("must be http:// or https://, got ", url));
  } else if (curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK ||
             host[0] == '\0') {
    status = Invalid("url", absl::StrCat("has no host: ", url));
  }
  curl_free(scheme);
  curl_free(host);
  curl_url_cleanup(u);
  return status;
}

// `url` without user and password, for messages.
std::string Redacted(const std::string& url) {
  CURLU* u = curl_url();
  char* clean = nullptr;
  std::string out = url;
  if (u != nullptr &&
      curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_USER, nullptr, 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_PASSWORD, nullptr, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_URL, &clean, 0) == CURLUE_OK) {
    out = clean;
  }
  curl_free(clean);
  curl_url_cleanup(u);
  return out;
}

bool IsInteger(double d) { return std::isfinite(d) && d == std::floor(d); }

absl::Status ValidateHttpArgs(const google::protobuf::Struct& args) {
  const auto& f = args.fields();
  if (absl::Status s = ValidateUrl(StringArg(args, "url")); !s.ok()) return s;
  const std::string method = StringArg(args, "method", "GET");
  if (!IsKnownMethod(method)) {
    return Invalid("method",
                   absl::StrCat("must be one of ", absl::StrJoin(kMethods, " "),
                                ", got \"", method, "\""));
  }
  if (auto it = f.find("headers"); it != f.end()) {
    const auto& headers = it->second.struct_value().fields();
    if (headers.size() > static_cast<size_t>(kMaxHttpHeaders)) {
      return Invalid("headers", absl::StrCat("has more than ", kMaxHttpHeaders,
                                             " entries"));
    }
    for (const auto& [name, value] : headers) {
      if (absl::string_view reserved = ReservedHeader(name);
          !reserved.empty()) {
        return Invalid(
            absl::StrCat("headers.", absl::CEscape(name)),
            absl::StrCat("is not allowed: ", reserved,
                         " is set by the server (with Content-Length, "
                         "Transfer-Encoding, Connection and Host, a request "
                         "could smuggle another onto a shared connection)"));
      }
      if (!IsToken(name)) {
        return Invalid("headers", absl::StrCat("name \"", absl::CEscape(name),
                                               "\" is not an HTTP token"));
      }
      if (value.kind_case() != google::protobuf::Value::kStringValue) {
        return Invalid(absl::StrCat("headers.", name), "must be a string");
      }
      if (!IsHeaderValue(value.string_value())) {
        return Invalid(absl::StrCat("headers.", name),
                       "must not contain CR, LF or other control characters");
      }
    }
  }
  if (!StringArg(args, "body").empty() &&
      (method == "GET" || method == "HEAD")) {
    return Invalid("body", absl::StrCat("cannot be sent with ", method));
  }
  const double timeout =
      NumberArg(args, "timeout", absl::ToDoubleSeconds(kDefaultHttpTimeout));
  if (!(timeout > 0 && timeout <= absl::ToDoubleSeconds(kMaxHttpTimeout))) {
    return Invalid(
        "timeout",
        absl::StrCat("must be in (0, ", absl::ToDoubleSeconds(kMaxHttpTimeout),
                     "] seconds, got ", timeout));
  }
  const double cap = NumberArg(args, "max_body_bytes",
                               static_cast<double>(kDefaultHttpMaxBodyBytes));
  if (!IsInteger(cap) || cap < 0 ||
      cap > static_cast<double>(kMaxHttpMaxBodyBytes)) {
    return Invalid("max_body_bytes",
                   absl::StrCat("must be an integer 0..", kMaxHttpMaxBodyBytes,
                                ", got ", cap));
  }
  if (auto it = f.find("expect_status"); it != f.end()) {
    const auto& codes = it->second.list_value().values();
    if (codes.empty()) {
      return Invalid("expect_status", "must list at least one status code");
    }
    for (const auto& code : codes) {
      const double c = code.number_value();
      if (code.kind_case() != google::protobuf::Value::kNumberValue ||
          !IsInteger(c) || c < 100 || c > 599) {
        return Invalid("expect_status",
                       "must hold integer HTTP status codes 100..599");
      }
    }
  }
  return absl::OkStatus();
}

// gRPC's HTTP-to-gRPC status mapping (doc/http-grpc-status-mapping.md).
absl::StatusCode CodeForHttpStatus(int status) {
  switch (status) {
    case 400:
      return absl::StatusCode::kInternal;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kUnimplemented;
    case 429:
    case 502:
    case 503:
    case 504:
      return absl::StatusCode::kUnavailable;
    default:
      return absl::StatusCode::kUnknown;
  }
}

// What a task asks for, read from validated args.
struct HttpTask {
  HttpRequest request;
  std::vector<int> expect_status;  // empty: any 2xx or 3xx
};

absl::StatusOr<HttpTask> ReadTask(const TaskContext& task) {
  const google::protobuf::Struct& args = task.args();
  HttpTask t;
  HttpRequest& r = t.request;
  r.url = StringArg(args, "url");
  r.method = StringArg(args, "method", "GET");
  r.body = StringArg(args, "body");
  if (!task.payload().empty()) {
    if (!r.body.empty()) {
      return absl::InvalidArgumentError(
          "http: set args.body or Task.payload as the body, not both");
    }
    if (r.method == "GET" || r.method == "HEAD") {
      return absl::InvalidArgumentError(
          absl::StrCat("http: Task.payload cannot be sent with ", r.method));
    }
    r.body = task.payload();
  }
  if (auto it = args.fields().find("headers"); it != args.fields().end()) {
    for (const auto& [name, value] : it->second.struct_value().fields()) {
      r.headers.emplace_back(name, value.string_value());
    }
  }
  r.timeout = absl::Seconds(
      NumberArg(args, "timeout", absl::ToDoubleSeconds(kDefaultHttpTimeout)));
  if (auto it = args.fields().find("follow_redirects");
      it != args.fields().end()) {
    r.follow_redirects = it->second.bool_value();
  }
  r.max_body_bytes = static_cast<int64_t>(NumberArg(
      args, "max_body_bytes", static_cast<double>(kDefaultHttpMaxBodyBytes)));
  if (auto it = args.fields().find("expect_status");
      it != args.fields().end()) {
    for (const auto& code : it->second.list_value().values()) {
      t.expect_status.push_back(static_cast<int>(code.number_value()));
    }
  }
  return t;
}

bool Expected(const std::vector<int>& expect, int status) {
  if (expect.empty()) return status >= 200 && status < 400;
  for (int code : expect) {
    if (code == status) return true;
  }
  return false;
}

absl::StatusOr<HandlerOutput> ToResult(const HttpTask& task,
                                       absl::StatusOr<HttpResponse> response) {
  if (!response.ok()) {
    const absl::Status& s = response.status();
    if (s.code() == absl::StatusCode::kDeadlineExceeded) {
      return absl::DeadlineExceededError(absl::StrCat(
          "http: no complete response within the timeout of ",
          absl::FormatDuration(task.request.timeout), " (", s.message(), ")"));
    }
    return absl::Status(s.code(), absl::StrCat("http: ", s.message()));
  }
  if (!Expected(task.expect_status, response->status)) {
    std::string expected = task.expect_status.empty()
                               ? std::string("any 2xx or 3xx")
                               : absl::StrJoin(task.expect_status, ", ");
    return absl::Status(
        CodeForHttpStatus(response->status),
        absl::StrCat("HTTP ", response->status, " from ", task.request.method,
                     " ", Redacted(response->url), " (expected ", expected,
                     ")"));
  }
  HandlerOutput out;
  auto& f = *out.output.mutable_struct_value()->mutable_fields();
  f["status"].set_number_value(response->status);
  f["latency_ms"].set_number_value(
      absl::ToDoubleMilliseconds(response->latency));
  f["body_bytes"].set_number_value(static_cast<double>(response->body.size()));
  f["truncated"].set_bool_value(response->truncated);
  out.payload = std::move(response->body);
  return out;
}

// The host and port a URL connects to first, when the host is a name (not
// a numeric address, which needs no lookup).
struct NamedTarget {
  std::string host;
  long port = 0;
};

std::optional<NamedTarget> NamedTargetOf(const std::string& url) {
  CURLU* u = curl_url();
  if (u == nullptr) return std::nullopt;
  std::optional<NamedTarget> out;
  char* host = nullptr;
  char* port = nullptr;
  if (curl_url_set(u, CURLUPART_URL, url.c_str(), 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK &&
      curl_url_get(u, CURLUPART_PORT, &port, CURLU_DEFAULT_PORT) == CURLUE_OK) {
    const absl::string_view h(host);
    NamedTarget t;
    // "[v6]" and dotted quads are numeric; "localhost" is a name.
    if (!h.empty() && h[0] != '[' &&
        (h == "localhost" || !IpAddress::Parse(h).ok()) &&
        absl::SimpleAtoi(port, &t.port)) {
      t.host = std::string(h);
      out = std::move(t);
    }
  }
  curl_free(host);
  curl_free(port);
  curl_url_cleanup(u);
  return out;
}

// curl's CURLOPT_RESOLVE entry pinning `target` to `addresses`; '+' lets it
// expire from curl's DNS cache (http_client.h).
std::string PinEntry(const NamedTarget& target,
                     const std::vector<IpAddress>& addresses) {
  std::vector<std::string> list;
  for (const IpAddress& ip : addresses) {
    list.push_back(ip.is_v4 ? ip.ToString()
                            : absl::StrCat("[", ip.ToString(), "]"));
  }
  return absl::StrCat("+", target.host, ":", target.port, ":",
                      absl::StrJoin(list, ","));
}

// One task's exchange: the URL's host looked up with the shared c-ares
// resolver (unless numeric) and pinned, so curl starts no resolver thread,
// then the transfer. Ends once, by its result or the task's cancellation.
class HttpExchange : public std::enable_shared_from_this<HttpExchange> {
 public:
  HttpExchange(std::shared_ptr<TaskContext> task, HttpClient& http,
               std::shared_ptr<DnsResolver> resolver, HttpTask t)
      : task_(std::move(task)),
        http_(http),
        resolver_(std::move(resolver)),
        t_(std::make_shared<const HttpTask>(std::move(t))),
        start_(absl::Now()) {}

  void Begin() {
    auto self = shared_from_this();
    task_->OnCancel([self] { self->Cancel(); });
    std::optional<NamedTarget> target =
        resolver_ ? NamedTargetOf(t_->request.url) : std::nullopt;
    if (!target) return Transfer(t_->request);
    // May answer at once (hosts file), before the lookup is stored.
    auto lookup = resolver_->Resolve(
        target->host, AddressFamily::kAny, t_->request.timeout,
        [self, target = *target](absl::StatusOr<std::vector<IpAddress>> found) {
          self->OnResolved(target, std::move(found));
        });
    MutexLock lock(&mu_);
    lookup_ = std::move(lookup);
    if (cancelled_) lookup_->Cancel();  // cancelled while it started
  }

 private:
  void OnResolved(const NamedTarget& target,
                  absl::StatusOr<std::vector<IpAddress>> found) {
    if (!found.ok()) {
      const absl::Status& s = found.status();
      // As curl reports a name it cannot resolve: UNAVAILABLE.
      return task_->Finish(ToResult(
          *t_,
          absl::Status(s.code() == absl::StatusCode::kDeadlineExceeded
                           ? s.code()
                           : absl::StatusCode::kUnavailable,
                       absl::StrCat("Could not resolve host: ", s.message()))));
    }
    HttpRequest request = t_->request;
    request.resolve = {PinEntry(target, *found)};
    // The lookup spent part of the exchange's time.
    request.timeout = std::max(absl::Milliseconds(1),
                               request.timeout - (absl::Now() - start_));
    Transfer(std::move(request));
  }

  // One socket per transfer, held until it ends: then its connection is
  // closed or joins curl's idle pool, which SocketReserve counts. The
  // request's timeout runs from the grant, not while waiting for a socket.
  void Transfer(HttpRequest request) {
    TaskContext::WithSocket(
        task_, [self = shared_from_this(), request = std::move(request)](
                   SocketBudget::Lease lease) mutable {
          self->Start(std::move(request), std::move(lease));
        });
  }

  void Start(HttpRequest request, SocketBudget::Lease lease) {
    // WithSocket replaced the task's cancel callback while it waited.
    task_->OnCancel([self = shared_from_this()] { self->Cancel(); });
    absl::Status failed;
    {
      MutexLock lock(&mu_);
      if (cancelled_) return;
      absl::StatusOr<HttpClient::TransferId> id =
          http_.Start(std::move(request),
                      [task = task_, t = t_, lease = std::move(lease)](
                          absl::StatusOr<HttpResponse> response) mutable {
                        lease.Release();  // the transfer is over
                        task->Finish(ToResult(*t, std::move(response)));
                      });
      if (id.ok()) {
        id_ = *id;
      } else {
        failed = id.status();
      }
    }
    if (!failed.ok()) task_->Finish(failed);
  }

  void Cancel() {
    std::shared_ptr<DnsResolver::Lookup> lookup;
    std::optional<HttpClient::TransferId> id;
    {
      MutexLock lock(&mu_);
      cancelled_ = true;
      lookup = lookup_;
      id = id_;
    }
    if (lookup) lookup->Cancel();
    if (id) http_.Cancel(*id);
  }

  const std::shared_ptr<TaskContext> task_;
  HttpClient& http_;  // lives with the registry, which outlives every task
  const std::shared_ptr<DnsResolver> resolver_;
  const std::shared_ptr<const HttpTask> t_;
  const absl::Time start_;
  Mutex mu_;
  bool cancelled_ ABSL_GUARDED_BY(mu_) = false;
  std::shared_ptr<DnsResolver::Lookup> lookup_ ABSL_GUARDED_BY(mu_);
  std::optional<HttpClient::TransferId> id_ ABSL_GUARDED_BY(mu_);
};

// The client is made on the first `http` task, so servers that never run
// one hold none of its threads.
class LazyHttpClient {
 public:
  LazyHttpClient(ProbeAllowlist allowlist, HttpClient::Options options)
      : allowlist_(std::move(allowlist)), options_(std::move(options)) {}

  absl::StatusOr<HttpClient*> Get() {
    std::call_once(
        once_, [this] { client_ = HttpClient::Create(allowlist_, options_); });
    if (!client_.ok()) return client_.status();
    return client_->get();
  }

 private:
  const ProbeAllowlist allowlist_;
  const HttpClient::Options options_;
  std::once_flag once_;
  absl::StatusOr<std::unique_ptr<HttpClient>> client_;
};

absl::StatusOr<TaskKind> HttpKind(const BuiltinKindsOptions& options) {
  TaskKind kind;
  kind.name = "http";
  kind.description = absl::StrCat(
      "HTTP(S) request on the server's event loop; returns {status, "
      "latency_ms, body_bytes, truncated} and the body (up to "
      "max_body_bytes) in the result's payload. An unexpected status ends "
      "the task with gRPC's mapping of it (400 INTERNAL, 401 "
      "UNAUTHENTICATED, 403 PERMISSION_DENIED, 404 UNIMPLEMENTED, "
      "429/502/503/504 UNAVAILABLE, else UNKNOWN); refused, reset or "
      "unresolvable: UNAVAILABLE; over timeout: DEADLINE_EXCEEDED. Every "
      "address connected to, redirects included, must be on the allowlist (",
      options.probe_allowlist.spec(),
      "), else PERMISSION_DENIED. TLS peers are verified "
      "against the system CA store; proxies are never used.");
  kind.args = {
      {"url", ArgType::kString, true,
       absl::StrCat("http:// or https:// URL (at most ", kMaxHttpUrlLength,
                    " bytes)")},
      {"method", ArgType::kString, false,
       absl::StrCat("one of ", absl::StrJoin(kMethods, " "), " (default GET)")},
      {"headers", ArgType::kObject, false,
       absl::StrCat("request headers, name -> string value (no CR/LF; at "
                    "most ",
                    kMaxHttpHeaders,
                    "; not Content-Length, Transfer-Encoding, Connection or "
                    "Host: the server sets those)")},
      {"body", ArgType::kString, false,
       "request body (not with GET or HEAD); Task.payload instead for bytes"},
      {"timeout", ArgType::kNumber, false,
       absl::StrCat("seconds for the whole exchange (default ",
                    absl::ToDoubleSeconds(kDefaultHttpTimeout), ", max ",
                    absl::ToDoubleSeconds(kMaxHttpTimeout),
                    "); over it: DEADLINE_EXCEEDED")},
      {"follow_redirects", ArgType::kBool, false,
       "follow 3xx Location headers, up to 10 hops, each checked against "
       "the allowlist (default false)"},
      {"max_body_bytes", ArgType::kNumber, false,
       absl::StrCat("most body bytes returned; past it the read stops and "
                    "truncated is true (default ",
                    kDefaultHttpMaxBodyBytes, ", max ", kMaxHttpMaxBodyBytes,
                    ")")},
      {"expect_status", ArgType::kList, false,
       "HTTP status codes that end the task OK (default any 2xx or 3xx)"},
  };
  kind.validate = ValidateHttpArgs;
  HttpClient::Options client_options;
  client_options.max_connections = options.max_open_sockets;
  auto client =
      std::make_shared<LazyHttpClient>(options.probe_allowlist, client_options);
  std::shared_ptr<DnsResolver> resolver = options.dns_resolver;
  kind.reads_task_only_at_start = true;  // args are copied out here
  kind.handler = [client, resolver](std::shared_ptr<TaskContext> task) {
    absl::StatusOr<HttpClient*> http = client->Get();
    if (!http.ok()) return task->Finish(http.status());
    absl::StatusOr<HttpTask> t = ReadTask(*task);
    if (!t.ok()) return task->Finish(t.status());
    std::make_shared<HttpExchange>(std::move(task), **http, resolver,
                                   *std::move(t))
        ->Begin();
  };
  return kind;
}

[[maybe_unused]] const bool kRegistered = AddBuiltinKind(&HttpKind);

}  // namespace

}  // namespace batchexec
