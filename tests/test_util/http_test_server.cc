#include "tests/test_util/http_test_server.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>

#include <cstdlib>
#include <cstring>
#include <thread>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace batchexec {
namespace {

// What one request has gathered across libmicrohttpd's calls.
struct Request {
  std::string body;
};

struct SlowStream {
  absl::Time end;
};

int64_t IntArg(MHD_Connection* c, const char* name, int64_t fallback) {
  const char* v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
  return v == nullptr ? fallback : std::strtoll(v, nullptr, 10);
}

std::string StringArg(MHD_Connection* c, const char* name) {
  const char* v = MHD_lookup_connection_value(c, MHD_GET_ARGUMENT_KIND, name);
  return v == nullptr ? "" : v;
}

MHD_Result Reply(MHD_Connection* c, unsigned int code, const std::string& body,
                 const char* location = nullptr) {
  MHD_Response* r = MHD_create_response_from_buffer(
      body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
  if (r == nullptr) return MHD_NO;
  if (location != nullptr) {
    MHD_add_response_header(r, MHD_HTTP_HEADER_LOCATION, location);
  }
  const MHD_Result queued = MHD_queue_response(c, code, r);
  MHD_destroy_response(r);
  return queued;
}

// One byte every 20 ms until the end: a client gone is seen at the next
// write.
ssize_t ReadSlow(void* cls, uint64_t pos, char* buf, size_t) {
  auto* s = static_cast<SlowStream*>(cls);
  if (pos > 0) {
    absl::Duration left = s->end - absl::Now();
    absl::SleepFor(std::min(left, absl::Milliseconds(20)));
  }
  if (absl::Now() >= s->end) return MHD_CONTENT_READER_END_OF_STREAM;
  buf[0] = '.';
  return 1;
}

void FreeSlow(void* cls) { delete static_cast<SlowStream*>(cls); }

}  // namespace

struct HttpTestServer::Handler {
  static MHD_Result Handle(void* cls, MHD_Connection* c, const char* url,
                           const char* method, const char*,
                           const char* upload_data, size_t* upload_data_size,
                           void** con_cls) {
    auto* self = static_cast<HttpTestServer*>(cls);
    if (*con_cls == nullptr) {  // headers are in; the body may follow
      *con_cls = new Request;
      MutexLock lock(&self->mu_);
      ++self->requests_[url];
      ++self->in_flight_;
      return MHD_YES;
    }
    auto* request = static_cast<Request*>(*con_cls);
    if (*upload_data_size > 0) {
      request->body.append(upload_data, *upload_data_size);
      *upload_data_size = 0;
      return MHD_YES;
    }
    const absl::string_view path = url;
    if (path == "/ok") return Reply(c, 200, "hello\n");
    if (absl::StartsWith(path, "/status/")) {
      const int code = std::atoi(url + std::strlen("/status/"));
      return Reply(c, code, absl::StrCat("status ", code, "\n"));
    }
    if (path == "/slow") {
      auto* stream = new SlowStream{absl::Now() +
                                    absl::Milliseconds(IntArg(c, "ms", 1000))};
      MHD_Response* r = MHD_create_response_from_callback(
          MHD_SIZE_UNKNOWN, 1, &ReadSlow, stream, &FreeSlow);
      const MHD_Result queued = MHD_queue_response(c, 200, r);
      MHD_destroy_response(r);
      return queued;
    }
    if (path == "/redirect") {
      const std::string to = StringArg(c, "to");
      return Reply(c, 302, "moved\n", to.c_str());
    }
    if (path == "/large") {
      return Reply(c, 200, std::string(IntArg(c, "bytes", 0), 'x'));
    }
    if (path == "/flaky") {
      int seen;
      {
        MutexLock lock(&self->mu_);
        seen = ++self->flaky_seen_[StringArg(c, "key")];
      }
      return seen <= IntArg(c, "fail", 0) ? Reply(c, 503, "try again\n")
                                          : Reply(c, 200, "recovered\n");
    }
    if (path == "/echo") {
      const char* h = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Test");
      return Reply(c, 200,
                   absl::StrCat(method, "\n", h == nullptr ? "" : h, "\n",
                                request->body));
    }
    if (path == "/reset") return MHD_NO;
    return Reply(c, 404, "not found\n");
  }

  static void Connection(void* cls, MHD_Connection*, void**,
                         MHD_ConnectionNotificationCode code) {
    auto* self = static_cast<HttpTestServer*>(cls);
    if (code != MHD_CONNECTION_NOTIFY_STARTED) return;
    MutexLock lock(&self->mu_);
    ++self->connections_;
  }

  static void Completed(void* cls, MHD_Connection*, void** con_cls,
                        MHD_RequestTerminationCode toe) {
    auto* self = static_cast<HttpTestServer*>(cls);
    if (*con_cls == nullptr) return;
    delete static_cast<Request*>(*con_cls);
    *con_cls = nullptr;
    MutexLock lock(&self->mu_);
    --self->in_flight_;
    if (toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) ++self->aborted_;
  }
};

absl::StatusOr<std::unique_ptr<HttpTestServer>> HttpTestServer::Start() {
  return Start(std::unique_ptr<HttpTestServer>(new HttpTestServer()));
}

absl::StatusOr<std::unique_ptr<HttpTestServer>> HttpTestServer::StartTls(
    std::string cert_pem, std::string key_pem) {
  std::unique_ptr<HttpTestServer> server(new HttpTestServer());
  server->cert_pem_ = std::move(cert_pem);
  server->key_pem_ = std::move(key_pem);
  return Start(std::move(server));
}

absl::StatusOr<std::unique_ptr<HttpTestServer>> HttpTestServer::Start(
    std::unique_ptr<HttpTestServer> server) {
  const bool tls = !server->cert_pem_.empty();
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  server->daemon_ = MHD_start_daemon(
      MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD |
          MHD_USE_POLL | (tls ? MHD_USE_TLS : 0),
      0, nullptr, nullptr, &Handler::Handle, server.get(), MHD_OPTION_SOCK_ADDR,
      reinterpret_cast<sockaddr*>(&addr), MHD_OPTION_CONNECTION_LIMIT, 4000u,
      MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u, MHD_OPTION_NOTIFY_COMPLETED,
      &Handler::Completed, server.get(), MHD_OPTION_NOTIFY_CONNECTION,
      &Handler::Connection, server.get(),
      // Last, so that plain HTTP ends the list here instead.
      tls ? MHD_OPTION_HTTPS_MEM_CERT : MHD_OPTION_END,
      server->cert_pem_.c_str(), MHD_OPTION_HTTPS_MEM_KEY,
      server->key_pem_.c_str(), MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return absl::UnavailableError("http test server: MHD_start_daemon failed");
  }
  const MHD_DaemonInfo* info =
      MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info != nullptr ? info->port : 0;
  return server;
}

HttpTestServer::~HttpTestServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

std::string HttpTestServer::Url(absl::string_view path) const {
  return absl::StrCat(cert_pem_.empty() ? "http" : "https",
                      "://127.0.0.1:", port_, path);
}

int HttpTestServer::requests(absl::string_view path) const {
  MutexLock lock(&mu_);
  auto it = requests_.find(path);
  return it == requests_.end() ? 0 : it->second;
}

int HttpTestServer::connections() const {
  MutexLock lock(&mu_);
  return connections_;
}

int HttpTestServer::in_flight() const {
  MutexLock lock(&mu_);
  return in_flight_;
}

int HttpTestServer::aborted() const {
  MutexLock lock(&mu_);
  return aborted_;
}

bool HttpTestServer::WaitAborted(int n, absl::Duration timeout) const {
  MutexLock lock(&mu_);
  auto enough = [this, n]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return aborted_ >= n;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&enough), timeout);
}

bool HttpTestServer::WaitIdle(absl::Duration timeout) const {
  MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return in_flight_ == 0;
  };
  return mu_.AwaitWithTimeout(absl::Condition(&idle), timeout);
}

}  // namespace batchexec
