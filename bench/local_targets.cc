#include "bench/local_targets.h"

#include <arpa/inet.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "absl/strings/str_cat.h"

namespace batchexec::bench {
namespace {

constexpr char kBody[] = "ok";

MHD_Result AnswerOk(void* /*cls*/, MHD_Connection* connection,
                    const char* /*url*/, const char* /*method*/,
                    const char* /*version*/, const char* /*upload_data*/,
                    size_t* upload_data_size, void** /*state*/) {
  // GET has no body; a client sending one is drained and answered anyway.
  *upload_data_size = 0;
  MHD_Response* response = MHD_create_response_from_buffer(
      sizeof(kBody) - 1, const_cast<char*>(kBody), MHD_RESPMEM_PERSISTENT);
  const MHD_Result result =
      MHD_queue_response(connection, MHD_HTTP_OK, response);
  MHD_destroy_response(response);
  return result;
}

sockaddr_in Loopback() {
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  addr.sin_port = 0;
  return addr;
}

}  // namespace

absl::StatusOr<std::unique_ptr<HttpOkServer>> HttpOkServer::Start() {
  std::unique_ptr<HttpOkServer> server(new HttpOkServer());
  sockaddr_in addr = Loopback();
  // Two epoll threads: the box has two cores, shared with the bench's server
  // and clients.
  server->daemon_ = MHD_start_daemon(
      MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL, 0, nullptr, nullptr,
      &AnswerOk, nullptr, MHD_OPTION_SOCK_ADDR,
      reinterpret_cast<sockaddr*>(&addr), MHD_OPTION_THREAD_POOL_SIZE, 2u,
      MHD_OPTION_CONNECTION_LIMIT, 4000u, MHD_OPTION_LISTEN_BACKLOG_SIZE, 1024u,
      MHD_OPTION_END);
  if (server->daemon_ == nullptr) {
    return absl::UnavailableError("bench http server: MHD_start_daemon failed");
  }
  const MHD_DaemonInfo* info =
      MHD_get_daemon_info(server->daemon_, MHD_DAEMON_INFO_BIND_PORT);
  server->port_ = info != nullptr ? info->port : 0;
  return server;
}

HttpOkServer::~HttpOkServer() {
  if (daemon_ != nullptr) MHD_stop_daemon(daemon_);
}

std::string HttpOkServer::url() const {
  return absl::StrCat("http://127.0.0.1:", port_, "/ok");
}

absl::StatusOr<std::unique_ptr<TcpAcceptor>> TcpAcceptor::Start() {
  std::unique_ptr<TcpAcceptor> acceptor(new TcpAcceptor());
  acceptor->fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (acceptor->fd_ < 0) return absl::ErrnoToStatus(errno, "socket");
  sockaddr_in addr = Loopback();
  socklen_t len = sizeof(addr);
  if (bind(acceptor->fd_, reinterpret_cast<sockaddr*>(&addr), len) != 0 ||
      listen(acceptor->fd_, 4096) != 0 ||
      getsockname(acceptor->fd_, reinterpret_cast<sockaddr*>(&addr), &len) !=
          0) {
    return absl::ErrnoToStatus(errno, "bench tcp acceptor");
  }
  acceptor->port_ = ntohs(addr.sin_port);
  acceptor->thread_ = std::thread([a = acceptor.get()] { a->Loop(); });
  return acceptor;
}

void TcpAcceptor::Loop() {
  while (!stop_.load(std::memory_order_relaxed)) {
    const int conn = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
    if (conn >= 0) {
      close(conn);
    } else if (errno != EINTR && errno != ECONNABORTED && errno != EMFILE &&
               errno != ENFILE) {
      return;  // shut down (EINVAL) or broken
    }
  }
}

TcpAcceptor::~TcpAcceptor() {
  stop_.store(true);
  // Wakes the blocked accept() with EINVAL.
  if (fd_ >= 0) shutdown(fd_, SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  if (fd_ >= 0) close(fd_);
}

}  // namespace batchexec::bench
