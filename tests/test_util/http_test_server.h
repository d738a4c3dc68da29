// A real HTTP/1.1 server on 127.0.0.1 (GNU libmicrohttpd, a thread per
// connection) for tests of HTTP clients. Endpoints:
//   /ok                      200 "hello\n"
//   /status/N                status N, body "status N\n"
//   /slow?ms=N               200, a '.' every 20 ms for N ms (streamed, so a
//                            client that goes away is seen at once)
//   /redirect?to=URL         302 to URL
//   /large?bytes=N           200, N bytes of 'x'
//   /flaky?key=K&fail=N      503 for the first N requests with key K, then 200
//   /echo                    200, "METHOD\nX-Test header\nrequest body"
//   /reset                   closes the connection without answering
//   anything else            404
#ifndef BATCHEXEC_TESTS_TEST_UTIL_HTTP_TEST_SERVER_H_
#define BATCHEXEC_TESTS_TEST_UTIL_HTTP_TEST_SERVER_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/mutex.h"

struct MHD_Daemon;

namespace batchexec {

class HttpTestServer {
 public:
  // Listens on 127.0.0.1 at a free port.
  static absl::StatusOr<std::unique_ptr<HttpTestServer>> Start();
  // The same over TLS with this certificate and key (PEM text).
  static absl::StatusOr<std::unique_ptr<HttpTestServer>> StartTls(
      std::string cert_pem, std::string key_pem);
  ~HttpTestServer();

  int port() const { return port_; }
  // "http://127.0.0.1:<port><path>" ("https://" over TLS).
  std::string Url(absl::string_view path) const;

  // Requests received for `path` (no query), whatever their end.
  int requests(absl::string_view path) const;
  // TCP connections accepted so far.
  int connections() const;
  // Requests being answered now.
  int in_flight() const;
  // Requests whose client went away before the response was complete.
  int aborted() const;
  // Waits until at least `n` requests were aborted; false on timeout.
  bool WaitAborted(int n, absl::Duration timeout) const;
  // Waits until no request is being answered; false on timeout.
  bool WaitIdle(absl::Duration timeout) const;

  // libmicrohttpd's callbacks (public for them only).
  struct Handler;

 private:
  HttpTestServer() = default;

  static absl::StatusOr<std::unique_ptr<HttpTestServer>> Start(
      std::unique_ptr<HttpTestServer> server);

  std::string cert_pem_;  // empty: plain HTTP; libmicrohttpd reads both
  std::string key_pem_;   // for as long as the daemon runs
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
  mutable Mutex mu_;
  absl::flat_hash_map<std::string, int> requests_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, int> flaky_seen_ ABSL_GUARDED_BY(mu_);
  int connections_ ABSL_GUARDED_BY(mu_) = 0;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;
  int aborted_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace batchexec

#endif  // BATCHEXEC_TESTS_TEST_UTIL_HTTP_TEST_SERVER_H_
