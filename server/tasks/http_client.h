// HTTP(S) requests on one shared libcurl multi handle, driven by an epoll
// IoPoller (socket readiness) and a TimerQueue (curl's timeouts) through
// curl_multi_socket_action: no thread per request, and connections are
// reused across requests. Used by the `http` task kind.
//
// Safety: every address curl is about to connect to (each redirect hop, each
// address a name resolves to) is checked against a ProbeAllowlist; proxies
// from the environment are ignored, so the check sees the real peer. Only
// http and https are spoken, on redirects too. TLS peers are verified
// against the system CA store.
//
// Name resolution: libcurl on Debian 12 resolves with a thread per lookup.
// The `http` kind resolves a request's host with the shared c-ares resolver
// first and pins the answer (HttpRequest::resolve), so the first hop starts
// no thread. Redirects to another host:port are left to curl's resolver (a
// thread for that hop): following a redirect is opt-in, at most 10 hops, and
// resolving each hop here would mean following Location headers by hand.
// Pins are added with '+', so they expire from curl's DNS cache like its
// own answers rather than staying for the multi handle's life.
//
// Threads: Start and Cancel may be called from any thread and never block on
// the network. `done` runs on the poller or timer thread, with no lock held.
#ifndef BATCHEXEC_SERVER_TASKS_HTTP_CLIENT_H_
#define BATCHEXEC_SERVER_TASKS_HTTP_CLIENT_H_

#include <curl/curl.h>

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"
#include "server/core/timer_queue.h"
#include "server/tasks/io_poller.h"
#include "server/tasks/probe_allowlist.h"

namespace batchexec {

struct HttpRequest {
  std::string url;             // http:// or https://
  std::string method = "GET";  // GET HEAD POST PUT PATCH DELETE OPTIONS
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent for every method but GET and HEAD
  absl::Duration timeout = absl::Seconds(10);  // the whole exchange
  bool follow_redirects = false;
  int64_t max_body_bytes = 65536;  // more is dropped and `truncated` set
  // CURLOPT_RESOLVE entries, "+host:port:addr[,addr...]" (IPv6 in
  // brackets): addresses resolved beforehand (the `http` kind asks the
  // server's c-ares DnsResolver), so curl never starts its resolver for that
  // host:port. Connects are still checked against the allowlist.
  std::vector<std::string> resolve;
};

struct HttpResponse {
  int status = 0;          // of the last response (after redirects)
  std::string url;         // of the last response (after redirects)
  std::string body;        // at most max_body_bytes
  bool truncated = false;  // the body went on past max_body_bytes
  absl::Duration latency;  // from Start to the end of the exchange
};

class HttpClient {
 public:
  using TransferId = uint64_t;
  // The response whatever its status, or why there is none:
  // PERMISSION_DENIED (address off the allowlist, scheme other than
  // http/https on a redirect), DEADLINE_EXCEEDED (over request.timeout),
  // UNAVAILABLE (refused, reset, unresolvable, TLS failure), UNKNOWN (other
  // curl errors). Messages start with curl's reason.
  using Callback = absl::AnyInvocable<void(absl::StatusOr<HttpResponse>)>;

  struct Options {
    // PEM file of the CAs TLS peers are verified against; empty: the system
    // store. For tests (the `http` kind always uses the system store).
    std::string ca_file;
  };

  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(
      ProbeAllowlist allowlist, Options options);
  static absl::StatusOr<std::unique_ptr<HttpClient>> Create(
      ProbeAllowlist allowlist) {
    return Create(std::move(allowlist), Options());
  }
  // Drops requests in flight without calling their callbacks. Must not run
  // on the poller or timer thread (it joins them).
  ~HttpClient();

  HttpClient(const HttpClient&) = delete;
  HttpClient& operator=(const HttpClient&) = delete;

  // Starts `request`; `done` runs once when it ends, unless Cancel comes
  // first. The request must have been validated (see the `http` kind); an
  // error here means curl refused an option, and `done` will not run.
  absl::StatusOr<TransferId> Start(HttpRequest request, Callback done);
  // Takes the request out of the multi handle at once (its connection is
  // closed) and drops `done` without calling it. False if it had ended.
  bool Cancel(TransferId id);

  // Requests in flight (for tests).
  size_t active() const;

 private:
  struct Transfer;
  struct Socket {
    uint32_t events = 0;          // EPOLLIN/EPOLLOUT curl wants
    IoPoller::WatchId watch = 0;  // 0 while not watched
    uint64_t generation = 0;      // tells a stale poller callback
  };
  using Finished = std::vector<std::pair<std::unique_ptr<Transfer>, int>>;

  HttpClient(ProbeAllowlist allowlist, Options options,
             std::unique_ptr<IoPoller> poller, CURLM* multi);

  // curl's callbacks; they run inside curl_multi_* calls, with mu_ held.
  static int SocketCallback(CURL* easy, curl_socket_t fd, int what,
                            void* client, void* socketp);
  static int TimerCallback(CURLM* multi, long timeout_ms, void* client);
  void WatchLocked(int fd, Socket& socket) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // The poller and timer threads' entry points.
  void OnSocketReady(int fd, uint64_t generation, uint32_t events);
  void OnTimer();
  // Collects the transfers curl reports done, out of the multi handle.
  void TakeFinishedLocked(Finished& finished)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Calls back, with no lock held (a callback may start or cancel others).
  void Complete(Finished finished);

  const ProbeAllowlist allowlist_;
  const Options options_;
  // Threads first stopped by the destructor, before the multi handle goes.
  std::unique_ptr<IoPoller> poller_;
  std::unique_ptr<TimerQueue> timers_;

  // curl multi handles are not thread-safe: every call on it holds mu_.
  mutable Mutex mu_;
  CURLM* const multi_ ABSL_PT_GUARDED_BY(mu_);
  absl::flat_hash_map<TransferId, std::unique_ptr<Transfer>> transfers_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int, Socket> sockets_ ABSL_GUARDED_BY(mu_);
  TransferId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_generation_ ABSL_GUARDED_BY(mu_) = 1;
  TimerQueue::TimerId timer_ ABSL_GUARDED_BY(mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;  // threads are gone
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_HTTP_CLIENT_H_
