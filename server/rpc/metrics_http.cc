#include "server/rpc/metrics_http.h"

#include <microhttpd.h>
#include <netdb.h>
#include <sys/socket.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/core/limits.h"
#include "server/core/metrics_exposition.h"

namespace batchexec {

struct MetricsHttpHandler {
  static MHD_Result Reply(MHD_Connection* connection, unsigned int code,
                          const std::string& body, const char* content_type) {
    MHD_Response* response = MHD_create_response_from_buffer(
        body.size(), const_cast<char*>(body.data()), MHD_RESPMEM_MUST_COPY);
    if (response == nullptr) return MHD_NO;
    MHD_add_response_header(response, MHD_HTTP_HEADER_CONTENT_TYPE,
                            content_type);
    if (code == MHD_HTTP_METHOD_NOT_ALLOWED) {
      MHD_add_response_header(response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    }
    const MHD_Result queued = MHD_queue_response(connection, code, response);
    MHD_destroy_response(response);
    return queued;
  }

  static MHD_Result Handle(void* cls, MHD_Connection* connection,
                           const char* url, const char* method,
                           const char* /*version*/, const char* /*upload_data*/,
                           size_t* upload_data_size, void** /*con_cls*/) {
    auto* self = static_cast<MetricsHttpServer*>(cls);
    // A body is no part of a scrape; it is discarded unread.
    *upload_data_size = 0;
    if (std::strcmp(url, "/metrics") != 0) {
      return Reply(connection, MHD_HTTP_NOT_FOUND, "not found: try /metrics\n",
                   "text/plain; charset=utf-8");
    }
    if (std::strcmp(method, MHD_HTTP_METHOD_GET) != 0 &&
        std::strcmp(method, MHD_HTTP_METHOD_HEAD) != 0) {
      return Reply(connection, MHD_HTTP_METHOD_NOT_ALLOWED,
                   "only GET and HEAD\n", "text/plain; charset=utf-8");
    }
    return Reply(connection, MHD_HTTP_OK, self->render_(),
                 kExpositionContentType);
  }
};

absl::StatusOr<std::unique_ptr<MetricsHttpServer>> MetricsHttpServer::Start(
    const std::string& host, int port, std::function<std::string()> render) {
  const std::string where = absl::StrCat(host, ":", port);
  std::string name = host;
  if (name.size() >= 2 && name.front() == '[' && name.back() == ']') {
    name = name.substr(1, name.size() - 2);
  }
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
  addrinfo* found = nullptr;
  const std::string service = absl::StrCat(port);
  if (int rc = getaddrinfo(name.empty() ? nullptr : name.c_str(),
                           service.c_str(), &hints, &found);
      rc != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "metrics: cannot resolve ", where, ": ", gai_strerror(rc)));
  }
  std::unique_ptr<MetricsHttpServer> server(new MetricsHttpServer());
  server->render_ = std::move(render);
  const bool v6 = found->ai_family == AF_INET6;
  errno = 0;
  server->daemon_ = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | (v6 ? MHD_USE_IPv6 : 0),
      static_cast<uint16_t>(port), nullptr, nullptr,
      &MetricsHttpHandler::Handle, server.get(), MHD_OPTION_SOCK_ADDR,
      found->ai_addr,
      // Scrapers are few: bound what a flood of connections can hold, and
      // for how long (limits.h says why these).
      MHD_OPTION_CONNECTION_LIMIT, kMetricsMaxConnections,
      MHD_OPTION_PER_IP_CONNECTION_LIMIT, kMetricsConnectionsPerAddress,
      MHD_OPTION_CONNECTION_TIMEOUT,
      static_cast<unsigned>(absl::ToInt64Seconds(kMetricsConnectionTimeout)),
      MHD_OPTION_END);
  const int error = errno;
  freeaddrinfo(found);
  if (server->daemon_ == nullptr) {
    return absl::UnavailableError(
        absl::StrCat("metrics: could not listen on ", where,
                     error != 0 ? absl::StrCat(": ", std::strerror(error)) : "",
                     " (--metrics_port, --metrics_host)"));
  }
  const MHD_DaemonInfo* info =
      MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info != nullptr && info->port != 0 ? info->port : port;
  return server;
}

MetricsHttpServer::~MetricsHttpServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

}  // namespace batchexec
