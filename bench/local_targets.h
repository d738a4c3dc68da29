// Local targets for the network-kind scenarios, written in C++ so that the
// target is not the bottleneck of what is measured: an HTTP server that
// answers every request with 200 "ok", and a TCP acceptor that accepts and
// closes. Both listen on 127.0.0.1 at a free port.
#ifndef BATCHEXEC_BENCH_LOCAL_TARGETS_H_
#define BATCHEXEC_BENCH_LOCAL_TARGETS_H_

#include <atomic>
#include <memory>
#include <string>
#include <thread>

#include "absl/status/statusor.h"

struct MHD_Daemon;

namespace batchexec::bench {

// GNU libmicrohttpd on its own epoll threads; keep-alive on, so clients
// that reuse connections (libcurl, aiohttp) do.
class HttpOkServer {
 public:
  static absl::StatusOr<std::unique_ptr<HttpOkServer>> Start();
  ~HttpOkServer();

  int port() const { return port_; }
  // "http://127.0.0.1:<port>/ok".
  std::string url() const;

 private:
  HttpOkServer() = default;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;
};

// accept() then close() on one thread, with a deep backlog.
class TcpAcceptor {
 public:
  static absl::StatusOr<std::unique_ptr<TcpAcceptor>> Start();
  ~TcpAcceptor();

  int port() const { return port_; }

 private:
  TcpAcceptor() = default;
  void Loop();

  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace batchexec::bench

#endif  // BATCHEXEC_BENCH_LOCAL_TARGETS_H_
