// Serves GET /metrics over HTTP with GNU libmicrohttpd (one polling thread
// of its own): the body is whatever `render` returns at each scrape.
// Connections are capped in all and per client address, and closed after
// kMetricsConnectionTimeout without a byte either way (limits.h), so idle or
// stalled clients keep a scrape waiting no longer than that. gRPC-free.
#ifndef BATCHEXEC_SERVER_RPC_METRICS_HTTP_H_
#define BATCHEXEC_SERVER_RPC_METRICS_HTTP_H_

#include <functional>
#include <memory>
#include <string>

#include "absl/status/statusor.h"

struct MHD_Daemon;

namespace batchexec {

class MetricsHttpServer {
 public:
  // Listens on `host` (a numeric address or a name; "" for every address)
  // and `port` (0 picks a free one). `render` runs on the server's thread,
  // once per scrape. UNAVAILABLE naming the address if it cannot listen.
  static absl::StatusOr<std::unique_ptr<MetricsHttpServer>> Start(
      const std::string& host, int port, std::function<std::string()> render);
  // Stops listening and waits for its thread.
  ~MetricsHttpServer();

  MetricsHttpServer(const MetricsHttpServer&) = delete;
  MetricsHttpServer& operator=(const MetricsHttpServer&) = delete;

  int port() const { return port_; }

 private:
  MetricsHttpServer() = default;

  std::function<std::string()> render_;
  MHD_Daemon* daemon_ = nullptr;
  int port_ = 0;

  friend struct MetricsHttpHandler;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_METRICS_HTTP_H_
