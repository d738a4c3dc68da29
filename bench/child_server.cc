#include "bench/child_server.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace batchexec::bench {
namespace {

bool Executable(const std::string& path) {
  return access(path.c_str(), X_OK) == 0;
}

constexpr char kListening[] = "batchexec server listening on ";

}  // namespace

std::string FindServerBinary() {
  for (const char* path :
       {"server/batchexec_server", "batchexec/server/batchexec_server"}) {
    if (Executable(path)) return path;
  }
  if (const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY")) {
    std::string path = absl::StrCat(ws, "/bazel-bin/server/batchexec_server");
    if (Executable(path)) return path;
  }
  return "";
}

absl::StatusOr<std::unique_ptr<ChildServer>> ChildServer::Start(
    const std::vector<std::string>& args) {
  const std::string binary = FindServerBinary();
  if (binary.empty()) {
    return absl::NotFoundError("server/batchexec_server not in runfiles");
  }
  std::vector<std::string> argv = {binary,
                                   "--host=127.0.0.1",
                                   "--port=0",
                                   "--access_log=none",
                                   "--drain_delay=0",
                                   "--shutdown_grace=0s"};
  argv.insert(argv.end(), args.begin(), args.end());
  std::vector<char*> c_argv;
  for (std::string& a : argv) c_argv.push_back(a.data());
  c_argv.push_back(nullptr);

  int out[2];
  if (pipe2(out, O_CLOEXEC) != 0) return absl::InternalError("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) return absl::InternalError("fork failed");
  if (pid == 0) {
    dup2(out[1], STDOUT_FILENO);
    execv(c_argv[0], c_argv.data());
    _exit(127);
  }
  close(out[1]);
  auto child = std::unique_ptr<ChildServer>(new ChildServer());
  child->pid_ = pid;

  // The first line names the port (main.cc prints it once serving).
  std::string seen;
  const absl::Time deadline = absl::Now() + absl::Seconds(30);
  while (seen.find('\n') == std::string::npos) {
    const absl::Duration left = deadline - absl::Now();
    pollfd p{out[0], POLLIN, 0};
    if (left <= absl::ZeroDuration() ||
        poll(&p, 1, static_cast<int>(absl::ToInt64Milliseconds(left))) <= 0) {
      close(out[0]);
      return absl::DeadlineExceededError("no 'listening on' line in 30 s");
    }
    char buffer[512];
    const ssize_t n = read(out[0], buffer, sizeof buffer);
    if (n <= 0) {
      close(out[0]);
      return absl::InternalError(
          absl::StrCat("the server exited before listening: ", seen));
    }
    seen.append(buffer, n);
  }
  // Later lines (the metrics address) stay unread in the pipe, which is
  // kept open until the child ends so that no write of it gets SIGPIPE.
  child->stdout_ = out[0];
  const size_t at = seen.find(kListening);
  const size_t colon = seen.rfind(':', seen.find('\n'));
  int port = 0;
  if (at == std::string::npos || colon == std::string::npos ||
      !absl::SimpleAtoi(absl::string_view(seen).substr(
                            colon + 1, seen.find('\n') - colon - 1),
                        &port)) {
    return absl::InternalError(absl::StrCat("unexpected first line: ", seen));
  }
  child->target_ = absl::StrCat("127.0.0.1:", port);
  return child;
}

ChildServer::~ChildServer() {
  if (pid_ <= 0) return;
  kill(pid_, SIGTERM);
  int status;
  waitpid(pid_, &status, 0);
  if (stdout_ >= 0) close(stdout_);
}

int64_t ChildServer::StatusBytes(const std::string& field) const {
  std::ifstream status(absl::StrCat("/proc/", pid_, "/status"));
  std::string line;
  const std::string prefix = field + ":";
  while (std::getline(status, line)) {
    if (line.compare(0, prefix.size(), prefix) == 0) {
      return std::strtoll(line.c_str() + prefix.size(), nullptr, 10) * 1024;
    }
  }
  return -1;
}

bool ChildServer::ResetPeakRss() const {
  std::ofstream clear_refs(absl::StrCat("/proc/", pid_, "/clear_refs"));
  clear_refs << "5";  // "reset the peak resident set size", Linux >= 4.0
  clear_refs.flush();
  return clear_refs.good();
}

absl::StatusOr<double> ScrapeMetric(int port, const std::string& name) {
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError("socket failed");
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return absl::UnavailableError(absl::StrCat("connect to :", port));
  }
  const std::string request =
      "GET /metrics HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n";
  if (write(fd, request.data(), request.size()) !=
      static_cast<ssize_t>(request.size())) {
    close(fd);
    return absl::InternalError("write failed");
  }
  std::string response;
  char buffer[1 << 14];
  ssize_t n;
  while ((n = read(fd, buffer, sizeof buffer)) > 0) response.append(buffer, n);
  close(fd);
  const std::string key = absl::StrCat("\n", name, " ");
  const size_t at = response.find(key);
  if (at == std::string::npos) {
    return absl::NotFoundError(absl::StrCat(name, " not in /metrics"));
  }
  return std::strtod(response.c_str() + at + key.size(), nullptr);
}

int FreeLoopbackPort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof addr;
  const bool ok =
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  close(fd);
  return ok ? ntohs(addr.sin_port) : 0;
}

}  // namespace batchexec::bench
