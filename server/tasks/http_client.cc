#include "server/tasks/http_client.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <mutex>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace batchexec {
namespace {

// Hops a redirected request may take when follow_redirects is on.
constexpr long kMaxRedirects = 10;

void InitCurlOnce() {
  // curl_global_init is not thread-safe in every libcurl; once per process.
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

// The address curl is about to connect to, for the allowlist.
bool ToIpAddress(const curl_sockaddr& address, IpAddress& ip, int& port) {
  if (address.family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&address.addr);
    ip.is_v4 = true;
    ip.bytes = {};
    ip.bytes[10] = ip.bytes[11] = 0xff;  // IPv4-mapped form
    std::memcpy(&ip.bytes[12], &a->sin_addr, 4);
    port = ntohs(a->sin_port);
    return true;
  }
  if (address.family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&address.addr);
    ip.is_v4 = false;
    std::memcpy(ip.bytes.data(), &a->sin6_addr, 16);
    port = ntohs(a->sin6_port);
    return true;
  }
  return false;
}

absl::Status CurlError(CURLcode code, const char* detail) {
  std::string message = curl_easy_strerror(code);
  if (detail[0] != '\0') absl::StrAppend(&message, ": ", detail);
  switch (code) {
    case CURLE_OPERATION_TIMEDOUT:
      return absl::DeadlineExceededError(message);
    case CURLE_COULDNT_RESOLVE_HOST:
    case CURLE_COULDNT_CONNECT:
    case CURLE_SEND_ERROR:
    case CURLE_RECV_ERROR:
    case CURLE_GOT_NOTHING:
    case CURLE_PARTIAL_FILE:
    case CURLE_SSL_CONNECT_ERROR:
    case CURLE_PEER_FAILED_VERIFICATION:
    case CURLE_HTTP2:
    case CURLE_HTTP2_STREAM:
      return absl::UnavailableError(message);
    case CURLE_UNSUPPORTED_PROTOCOL:
      return absl::PermissionDeniedError(message);
    default:
      return absl::UnknownError(message);
  }
}

}  // namespace

// One request: its easy handle and what curl's callbacks fill in. Touched
// only with the client's mu_ held, or by the one thread that took it out of
// the client's map.
struct HttpClient::Transfer {
  ~Transfer() {
    curl_easy_cleanup(easy);
    curl_slist_free_all(headers);
    curl_slist_free_all(resolve);
  }

  static size_t OnBody(char* data, size_t size, size_t n, void* self) {
    auto* t = static_cast<Transfer*>(self);
    const size_t len = size * n;
    const size_t room = t->max_body_bytes - t->response.body.size();
    if (len <= room) {
      t->response.body.append(data, len);
      return len;
    }
    // Stop reading at the cap rather than download what is thrown away.
    t->response.body.append(data, room);
    t->response.truncated = true;
    return 0;  // ends the transfer with CURLE_WRITE_ERROR
  }

  static curl_socket_t OnOpenSocket(void* self, curlsocktype,
                                    curl_sockaddr* address) {
    auto* t = static_cast<Transfer*>(self);
    IpAddress ip;
    int port = 0;
    if (!ToIpAddress(*address, ip, port)) {
      t->denied = "address family other than IPv4/IPv6";
      return CURL_SOCKET_BAD;
    }
    if (!t->allowlist->Allows(ip, port)) {
      t->denied = absl::StrCat(
          ip.is_v4 ? ip.ToString() : absl::StrCat("[", ip.ToString(), "]"), ":",
          port, " is not on the probe allowlist (", t->allowlist->spec(), ")");
      return CURL_SOCKET_BAD;
    }
    return socket(address->family, address->socktype | SOCK_CLOEXEC,
                  address->protocol);
  }

  TransferId id = 0;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  curl_slist* resolve = nullptr;  // pinned addresses (HttpRequest::resolve)
  std::string body;               // curl reads POSTFIELDS from here, not a copy
  size_t max_body_bytes = 0;
  const ProbeAllowlist* allowlist = nullptr;
  HttpResponse response;
  std::string denied;  // why a connect was refused, if one was
  char error[CURL_ERROR_SIZE] = {};
  absl::Time start;
  Callback done;
};

absl::StatusOr<std::unique_ptr<HttpClient>> HttpClient::Create(
    ProbeAllowlist allowlist, Options options) {
  InitCurlOnce();
  auto poller = IoPoller::Create();
  if (!poller.ok()) return poller.status();
  CURLM* multi = curl_multi_init();
  if (multi == nullptr) return absl::InternalError("curl_multi_init failed");
  auto client = std::unique_ptr<HttpClient>(new HttpClient(
      std::move(allowlist), std::move(options), *std::move(poller), multi));
  curl_multi_setopt(multi, CURLMOPT_SOCKETFUNCTION, &SocketCallback);
  curl_multi_setopt(multi, CURLMOPT_SOCKETDATA, client.get());
  curl_multi_setopt(multi, CURLMOPT_TIMERFUNCTION, &TimerCallback);
  curl_multi_setopt(multi, CURLMOPT_TIMERDATA, client.get());
  return client;
}

HttpClient::HttpClient(ProbeAllowlist allowlist, Options options,
                       std::unique_ptr<IoPoller> poller, CURLM* multi)
    : allowlist_(std::move(allowlist)),
      options_(std::move(options)),
      poller_(std::move(poller)),
      timers_(std::make_unique<TimerQueue>()),
      multi_(multi) {}

HttpClient::~HttpClient() {
  // Stop the threads first: their callbacks point at this object. Both
  // they and what curl calls back below find `closing_` and do nothing.
  {
    MutexLock lock(&mu_);
    closing_ = true;
  }
  timers_.reset();
  poller_.reset();
  absl::flat_hash_map<TransferId, std::unique_ptr<Transfer>> dropped;
  {
    MutexLock lock(&mu_);
    for (auto& [id, t] : transfers_) curl_multi_remove_handle(multi_, t->easy);
    dropped = std::move(transfers_);
    curl_multi_cleanup(multi_);
  }
}

absl::StatusOr<HttpClient::TransferId> HttpClient::Start(HttpRequest request,
                                                         Callback done) {
  auto t = std::make_unique<Transfer>();
  t->easy = curl_easy_init();
  if (t->easy == nullptr) return absl::InternalError("curl_easy_init failed");
  t->body = std::move(request.body);
  t->max_body_bytes = static_cast<size_t>(request.max_body_bytes);
  t->allowlist = &allowlist_;
  t->done = std::move(done);
  CURL* e = t->easy;

  CURLcode rc = CURLE_OK;
  auto set = [&rc](CURLcode r) {
    if (rc == CURLE_OK) rc = r;
  };
  set(curl_easy_setopt(e, CURLOPT_URL, request.url.c_str()));
  set(curl_easy_setopt(e, CURLOPT_PRIVATE, t.get()));
  set(curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L));
  set(curl_easy_setopt(e, CURLOPT_ERRORBUFFER, t->error));
  set(curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https"));
  set(curl_easy_setopt(e, CURLOPT_REDIR_PROTOCOLS_STR, "http,https"));
  // No proxy, even one named by http_proxy: the allowlist must see the
  // real peer, not a proxy that would reach anything for us.
  set(curl_easy_setopt(e, CURLOPT_PROXY, ""));
  set(curl_easy_setopt(e, CURLOPT_SSL_VERIFYPEER, 1L));
  set(curl_easy_setopt(e, CURLOPT_SSL_VERIFYHOST, 2L));
  if (!options_.ca_file.empty()) {
    set(curl_easy_setopt(e, CURLOPT_CAINFO, options_.ca_file.c_str()));
  }
  set(curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION,
                       request.follow_redirects ? 1L : 0L));
  set(curl_easy_setopt(e, CURLOPT_MAXREDIRS, kMaxRedirects));
  set(curl_easy_setopt(e, CURLOPT_TIMEOUT_MS,
                       static_cast<long>(std::max<int64_t>(
                           1, absl::ToInt64Milliseconds(request.timeout)))));
  set(curl_easy_setopt(e, CURLOPT_USERAGENT, "batchexec-http/1"));
  set(curl_easy_setopt(e, CURLOPT_OPENSOCKETFUNCTION, &Transfer::OnOpenSocket));
  set(curl_easy_setopt(e, CURLOPT_OPENSOCKETDATA, t.get()));
  set(curl_easy_setopt(e, CURLOPT_WRITEFUNCTION, &Transfer::OnBody));
  set(curl_easy_setopt(e, CURLOPT_WRITEDATA, t.get()));

  const std::string& method = request.method;
  const bool sends_body =
      method == "POST" || method == "PUT" || method == "PATCH" ||
      ((method == "DELETE" || method == "OPTIONS") && !t->body.empty());
  if (method == "HEAD") {
    set(curl_easy_setopt(e, CURLOPT_NOBODY, 1L));
  } else if (method != "GET") {
    set(curl_easy_setopt(e, CURLOPT_CUSTOMREQUEST, method.c_str()));
  }
  if (sends_body) {
    set(curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE,
                         static_cast<curl_off_t>(t->body.size())));
    set(curl_easy_setopt(e, CURLOPT_POSTFIELDS, t->body.data()));
  }
  bool has_expect = false;
  for (const auto& [name, value] : request.headers) {
    has_expect |= absl::EqualsIgnoreCase(name, "Expect");
    // "Name;" is curl's spelling of a header sent with an empty value.
    std::string line = value.empty() ? absl::StrCat(name, ";")
                                     : absl::StrCat(name, ": ", value);
    t->headers = curl_slist_append(t->headers, line.c_str());
  }
  // No "Expect: 100-continue" wait (a second lost per large body).
  if (!has_expect) t->headers = curl_slist_append(t->headers, "Expect:");
  set(curl_easy_setopt(e, CURLOPT_HTTPHEADER, t->headers));
  if (!request.resolve.empty()) {
    for (const std::string& entry : request.resolve) {
      t->resolve = curl_slist_append(t->resolve, entry.c_str());
    }
    set(curl_easy_setopt(e, CURLOPT_RESOLVE, t->resolve));
  }
  if (rc != CURLE_OK) {
    return absl::InvalidArgumentError(
        absl::StrCat("curl refused an option: ", curl_easy_strerror(rc)));
  }

  t->start = absl::Now();
  MutexLock lock(&mu_);
  if (closing_) return absl::UnavailableError("http client shutting down");
  // Adding only asks curl's timer for a kick (TimerCallback): the request
  // starts on the timer thread, never on the caller's.
  if (CURLMcode m = curl_multi_add_handle(multi_, e); m != CURLM_OK) {
    return absl::InternalError(
        absl::StrCat("curl_multi_add_handle: ", curl_multi_strerror(m)));
  }
  const TransferId id = next_id_++;
  t->id = id;
  transfers_.emplace(id, std::move(t));
  return id;
}

bool HttpClient::Cancel(TransferId id) {
  std::unique_ptr<Transfer> t;
  {
    MutexLock lock(&mu_);
    auto it = transfers_.find(id);
    if (it == transfers_.end()) return false;
    t = std::move(it->second);
    transfers_.erase(it);
    // Unwatches and closes the connection (a request cut short cannot be
    // reused), so the peer sees it go at once.
    curl_multi_remove_handle(multi_, t->easy);
  }
  return true;  // `t` (and the callback it holds) goes without a lock held
}

size_t HttpClient::active() const {
  MutexLock lock(&mu_);
  return transfers_.size();
}

int HttpClient::SocketCallback(CURL*, curl_socket_t fd, int what, void* client,
                               void*) {
  auto* self = static_cast<HttpClient*>(client);
  self->mu_.AssertHeld();
  if (self->closing_) return 0;  // the poller is gone; curl closes the fd
  auto it = self->sockets_.find(fd);
  if (what == CURL_POLL_REMOVE) {
    if (it != self->sockets_.end()) {
      // Out of epoll even if its watch fired (a fired one-shot watch stays
      // in epoll, disabled): curl may keep the fd for a later request.
      self->poller_->Unwatch(it->second.watch, fd);
      self->sockets_.erase(it);
    }
    return 0;
  }
  Socket& socket = it != self->sockets_.end() ? it->second : self->sockets_[fd];
  socket.events = ((what & CURL_POLL_IN) ? EPOLLIN : 0) |
                  ((what & CURL_POLL_OUT) ? EPOLLOUT : 0);
  self->WatchLocked(fd, socket);
  return 0;
}

void HttpClient::WatchLocked(int fd, Socket& socket) {
  // IoPoller watches are one-shot: drop the old registration (it may have
  // fired and stay disabled in epoll) and add one with the current events.
  // Level-triggered, so readiness that came meanwhile is reported again.
  poller_->Unwatch(socket.watch, fd);
  socket.watch = 0;
  const uint64_t generation = next_generation_++;
  socket.generation = generation;
  auto watch = poller_->WatchOnce(fd, socket.events,
                                  [this, fd, generation](uint32_t events) {
                                    OnSocketReady(fd, generation, events);
                                  });
  // On failure (out of memory in the kernel) the request ends by its timeout.
  if (watch.ok()) socket.watch = *watch;
}

int HttpClient::TimerCallback(CURLM*, long timeout_ms, void* client) {
  auto* self = static_cast<HttpClient*>(client);
  self->mu_.AssertHeld();
  if (self->closing_) return 0;
  if (self->timer_ != 0) self->timers_->Cancel(self->timer_);
  self->timer_ = 0;
  if (timeout_ms >= 0) {
    // curl may not be re-entered from here; the timer thread calls it.
    self->timer_ = self->timers_->ScheduleAfter(absl::Milliseconds(timeout_ms),
                                                [self] { self->OnTimer(); });
  }
  return 0;
}

void HttpClient::OnSocketReady(int fd, uint64_t generation, uint32_t events) {
  Finished finished;
  {
    MutexLock lock(&mu_);
    if (closing_) return;
    auto it = sockets_.find(fd);
    // Re-registered or removed since this watch was armed: the current
    // registration (if any) reports what is still ready.
    if (it == sockets_.end() || it->second.generation != generation) return;
    poller_->Unwatch(it->second.watch, fd);  // fired: take it out of epoll
    it->second.watch = 0;
    int flags = 0;
    if (events & (EPOLLIN | EPOLLHUP)) flags |= CURL_CSELECT_IN;
    if (events & EPOLLOUT) flags |= CURL_CSELECT_OUT;
    if (events & EPOLLERR) flags |= CURL_CSELECT_ERR;
    int running = 0;
    curl_multi_socket_action(multi_, fd, flags, &running);
    // Watch again unless curl changed (and so re-armed) or removed it.
    it = sockets_.find(fd);
    if (it != sockets_.end() && it->second.watch == 0) {
      WatchLocked(fd, it->second);
    }
    TakeFinishedLocked(finished);
  }
  Complete(std::move(finished));
}

void HttpClient::OnTimer() {
  Finished finished;
  {
    MutexLock lock(&mu_);
    if (closing_) return;
    timer_ = 0;  // a newer one set meanwhile just gets a spurious kick
    int running = 0;
    curl_multi_socket_action(multi_, CURL_SOCKET_TIMEOUT, 0, &running);
    TakeFinishedLocked(finished);
  }
  Complete(std::move(finished));
}

void HttpClient::TakeFinishedLocked(Finished& finished) {
  int left = 0;
  while (CURLMsg* msg = curl_multi_info_read(multi_, &left)) {
    if (msg->msg != CURLMSG_DONE) continue;
    Transfer* raw = nullptr;
    curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &raw);
    const int result = msg->data.result;  // read before msg goes stale
    curl_multi_remove_handle(multi_, raw->easy);
    auto it = transfers_.find(raw->id);
    finished.emplace_back(std::move(it->second), result);
    transfers_.erase(it);
  }
}

void HttpClient::Complete(Finished finished) {
  for (auto& [t, result] : finished) {
    const auto code = static_cast<CURLcode>(result);
    long status = 0;
    curl_easy_getinfo(t->easy, CURLINFO_RESPONSE_CODE, &status);
    t->response.status = static_cast<int>(status);
    char* url = nullptr;
    curl_easy_getinfo(t->easy, CURLINFO_EFFECTIVE_URL, &url);
    if (url != nullptr) t->response.url = url;
    t->response.latency = absl::Now() - t->start;
    if (code == CURLE_OK ||
        (code == CURLE_WRITE_ERROR && t->response.truncated)) {
      t->done(std::move(t->response));
    } else if (code == CURLE_COULDNT_CONNECT && !t->denied.empty()) {
      t->done(absl::PermissionDeniedError(t->denied));
    } else {
      t->done(CurlError(code, t->error));
    }
  }
}

}  // namespace batchexec
