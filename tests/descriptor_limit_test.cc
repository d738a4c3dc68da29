// The server binary under a low descriptor limit (ulimit -Sn 1024 with a
// higher hard limit, and ulimit -n 1024): batches of 2000 connections to a
// loopback target that holds each one before answering all end OK (none
// fails for want of a descriptor) and a fresh connection is served during
// and after them. The target lives in this process, so its descriptors do
// not count against the server's.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <string>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "common/fd_limit.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/core/limits.h"
#include "tests/test_util/health_check.h"
#include "tests/test_util/server_process.h"

namespace batchexec {
namespace {

const char kServer[] = "server/batchexec_server";
constexpr int kTasks = 2000;

// Accepts every connection, holds it `hold`, then reads what came, answers
// HTTP 200 and closes.
class HoldingTarget {
 public:
  explicit HoldingTarget(absl::Duration hold) : hold_(hold) {
    listen_fd_ = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    bind(listen_fd_, reinterpret_cast<sockaddr*>(&a), sizeof a);
    listen(listen_fd_, 4096);
    socklen_t len = sizeof a;
    getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { Run(); });
  }
  ~HoldingTarget() {
    stop_ = true;
    thread_.join();
    for (auto& c : held_) close(c.fd);
    close(listen_fd_);
  }
  int port() const { return port_; }
  int accepted() const { return accepted_.load(); }
  int most_held() const { return most_held_.load(); }

 private:
  struct Held {
    int fd;
    absl::Time due;
  };

  void Run() {
    int ep = epoll_create1(EPOLL_CLOEXEC);
    epoll_event ev{};
    ev.events = EPOLLIN;
    epoll_ctl(ep, EPOLL_CTL_ADD, listen_fd_, &ev);
    static const char kAnswer[] =
        "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok";
    while (!stop_) {
      epoll_event got;
      epoll_wait(ep, &got, 1, 5);
      for (;;) {
        int fd =
            accept4(listen_fd_, nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) break;
        held_.push_back({fd, absl::Now() + hold_});
        accepted_.fetch_add(1);
      }
      most_held_ = std::max<int>(most_held_, static_cast<int>(held_.size()));
      const absl::Time now = absl::Now();
      while (!held_.empty() && held_.front().due <= now) {
        const int fd = held_.front().fd;
        held_.pop_front();
        char buf[4096];
        while (recv(fd, buf, sizeof buf, 0) > 0) {
        }
        (void)!send(fd, kAnswer, sizeof kAnswer - 1, MSG_NOSIGNAL);
        shutdown(fd, SHUT_WR);
        close(fd);
      }
    }
    close(ep);
  }

  const absl::Duration hold_;
  int listen_fd_ = -1;
  int port_ = 0;
  std::deque<Held> held_;  // the thread's; in due order (hold is constant)
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::atomic<int> most_held_{0};
  std::thread thread_;
};

v1::ExecuteRequest Batch(const std::string& kind, int port) {
  v1::ExecuteRequest r;
  for (int i = 0; i < kTasks; ++i) {
    v1::Task* t = r.add_tasks();
    t->set_kind(kind);
    t->mutable_timeout()->set_seconds(60);
    auto& f = *t->mutable_args()->mutable_fields();
    if (kind == "http") {
      f["url"].set_string_value(absl::StrCat("http://127.0.0.1:", port, "/"));
      f["timeout"].set_number_value(60);
    } else {
      f["host"].set_string_value("127.0.0.1");
      f["port"].set_number_value(port);
      f["timeout"].set_number_value(60);
    }
  }
  return r;
}

std::shared_ptr<grpc::Channel> FreshChannel(const std::string& target) {
  // A channel argument no other channel has, so gRPC opens a new
  // connection rather than sharing one.
  static std::atomic<int> n{0};
  grpc::ChannelArguments args;
  args.SetInt("batchexec.test.fresh", n.fetch_add(1));
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

struct Seen {
  uint64_t most_in_use = 0;
  uint64_t most_waiting = 0;
  uint64_t max_open_sockets = 0;
  int health_checks_during = 0;
};

// Runs one Gather of `kind` tasks against `target` and checks every task
// ended OK, watching the server's socket counts and its health meanwhile.
Seen RunBatch(const testing::ServerProcess& server, const std::string& kind,
              const HoldingTarget& target) {
  Seen seen;
  auto stub = v1::BatchExecutor::NewStub(FreshChannel(server.target()));
  v1::GatherResponse response;
  grpc::Status status;
  std::atomic<bool> done{false};
  std::thread caller([&] {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(90)));
    status = stub->Gather(&context, Batch(kind, target.port()), &response);
    done = true;
  });
  auto stats_stub = v1::BatchExecutor::NewStub(FreshChannel(server.target()));
  while (!done) {
    grpc::ClientContext context;
    context.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    v1::ServerStats stats;
    if (stats_stub->GetServerStats(&context, {}, &stats).ok()) {
      seen.most_in_use = std::max(seen.most_in_use, stats.sockets_in_use());
      seen.most_waiting = std::max(seen.most_waiting, stats.sockets_waiting());
      seen.max_open_sockets = stats.max_open_sockets();
      if (stats.open_batches() > 0) {
        // A new connection is accepted and served while the batch runs.
        EXPECT_EQ(
            testing::CheckHealth(FreshChannel(server.target())).value_or(-1),
            testing::kServing)
            << kind << ": health check on a new connection during the batch";
        ++seen.health_checks_during;
      }
    }
    absl::SleepFor(absl::Milliseconds(100));
  }
  caller.join();
  EXPECT_TRUE(status.ok()) << kind << ": " << status.error_message();
  int failed = 0;
  std::string first;
  for (const auto& r : response.results()) {
    if (r.status().code() == 0) {
      if (kind == "tcp_probe" &&
          !r.output().struct_value().fields().at("reachable").bool_value()) {
        ++failed;
        if (first.empty()) first = r.output().DebugString();
      }
      continue;
    }
    ++failed;
    // Fail-fast cancels the rest: name the failure that started it.
    if (first.empty() && r.status().code() != grpc::StatusCode::CANCELLED) {
      first = r.status().message();
    }
  }
  EXPECT_EQ(response.results_size(), kTasks) << kind;
  EXPECT_EQ(failed, 0) << kind << ": first failure: " << first;
  EXPECT_EQ(testing::CheckHealth(FreshChannel(server.target())).value_or(-1),
            testing::kServing)
      << kind << ": health check on a new connection after the batch";
  return seen;
}

class DescriptorLimitTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // This process holds the target's side of every connection.
    auto limit = RaiseFdLimit();
    ASSERT_TRUE(limit.ok());
    hard_ = limit->hard;
    if (limit->soft < 3 * kTasks) {
      GTEST_SKIP() << "the test needs " << 3 * kTasks
                   << " descriptors; its limit is " << limit->soft;
    }
  }
  int64_t hard_ = 0;
};

TEST_F(DescriptorLimitTest, ALowSoftLimitIsRaisedAndEveryTaskSucceeds) {
  if (hard_ <= 1024) GTEST_SKIP() << "hard limit " << hard_ << " <= 1024";
  HoldingTarget target(absl::Milliseconds(400));
  testing::ServerProcess server(
      "/bin/sh", {"-c", absl::StrCat("ulimit -Sn 1024 && exec ", kServer,
                                     " --port=0 --access_log=none")});
  ASSERT_NE(server.port(), 0);
  Seen http = RunBatch(server, "http", target);
  // Raised to the hard limit: the budget is derived from it, not from 1024.
  EXPECT_EQ(http.max_open_sockets,
            static_cast<uint64_t>(DerivedMaxOpenSockets(hard_)));
  RunBatch(server, "tcp_probe", target);
}

TEST_F(DescriptorLimitTest, AtAHardLimitOf1024TasksWaitForSocketsAndSucceed) {
  HoldingTarget target(absl::Milliseconds(400));
  testing::ServerProcess server(
      "/bin/sh", {"-c", absl::StrCat("ulimit -n 1024 && exec ", kServer,
                                     " --port=0 --access_log=none")});
  ASSERT_NE(server.port(), 0);
  Seen http = RunBatch(server, "http", target);
  EXPECT_EQ(http.max_open_sockets,
            static_cast<uint64_t>(DerivedMaxOpenSockets(1024)));
  EXPECT_LE(http.most_in_use, http.max_open_sockets);
  // 2000 held connections do not fit: tasks waited for sockets (and the
  // target never held more than the budget at once).
  EXPECT_GT(http.most_waiting, 0u);
  EXPECT_LE(target.most_held(),
            static_cast<int>(http.max_open_sockets + kMaxIdleHttpConnections));
  EXPECT_GT(http.health_checks_during, 0);
  Seen probe = RunBatch(server, "tcp_probe", target);
  EXPECT_LE(probe.most_in_use, probe.max_open_sockets);
}

}  // namespace
}  // namespace batchexec
