#include "server/test_util/dns_responder.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace batchexec::testing {
namespace {

constexpr uint16_t kTypeA = 1;
constexpr uint16_t kTypeAaaa = 28;
constexpr uint8_t kRcodeServfail = 2;
constexpr uint8_t kRcodeNxdomain = 3;

void Put16(std::string& out, uint16_t v) {
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v & 0xff));
}

struct Question {
  std::string name;  // lower case, dotted, no final dot
  uint16_t type = 0;
  size_t end = 0;  // offset just past the question
};

// Reads the first question; false if the packet is not a query we can read.
bool ParseQuestion(const std::string& packet, Question* q) {
  if (packet.size() < 12) return false;
  size_t at = 12;
  while (at < packet.size()) {
    const uint8_t len = static_cast<uint8_t>(packet[at++]);
    if (len == 0) break;
    if (len > 63 || at + len > packet.size()) return false;
    if (!q->name.empty()) q->name.push_back('.');
    q->name += absl::AsciiStrToLower(packet.substr(at, len));
    at += len;
  }
  if (at + 4 > packet.size()) return false;
  q->type = static_cast<uint16_t>(static_cast<uint8_t>(packet[at]) << 8 |
                                  static_cast<uint8_t>(packet[at + 1]));
  q->end = at + 4;
  return true;
}

std::string Answer(const std::string& query, const Question& q,
                   const DnsZone& zone) {
  std::string out = query.substr(0, 2);  // id
  const uint8_t rd = static_cast<uint8_t>(query[2]) & 0x01;
  out.push_back(static_cast<char>(0x84 | rd));  // QR, AA, RD copied
  std::vector<std::string> rdata;
  uint8_t rcode = 0;
  auto it = zone.addresses.find(q.name);
  if (zone.servfail.count(q.name)) {
    rcode = kRcodeServfail;
  } else if (it == zone.addresses.end()) {
    rcode = kRcodeNxdomain;
  } else {
    for (const std::string& a : it->second) {
      in_addr v4;
      in6_addr v6;
      if (q.type == kTypeA && inet_pton(AF_INET, a.c_str(), &v4) == 1) {
        rdata.emplace_back(reinterpret_cast<const char*>(&v4), 4);
      } else if (q.type == kTypeAaaa &&
                 inet_pton(AF_INET6, a.c_str(), &v6) == 1) {
        rdata.emplace_back(reinterpret_cast<const char*>(&v6), 16);
      }
    }
  }
  out.push_back(static_cast<char>(0x80 | rcode));  // RA
  Put16(out, 1);                                   // one question
  Put16(out, static_cast<uint16_t>(rdata.size()));
  Put16(out, 0);
  Put16(out, 0);
  out += query.substr(12, q.end - 12);
  for (const std::string& r : rdata) {
    Put16(out, 0xc00c);  // the question's name
    Put16(out, q.type);
    Put16(out, 1);  // IN
    Put16(out, 0);
    Put16(out, 60);  // TTL
    Put16(out, static_cast<uint16_t>(r.size()));
    out += r;
  }
  return out;
}

}  // namespace

absl::StatusOr<std::unique_ptr<DnsResponder>> DnsResponder::Start(
    DnsZone zone) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return absl::InternalError(strerror(errno));
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof a;
  if (bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0 ||
      getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len) != 0) {
    const int err = errno;
    close(fd);
    return absl::InternalError(strerror(err));
  }
  return std::unique_ptr<DnsResponder>(
      new DnsResponder(std::move(zone), fd, ntohs(a.sin_port)));
}

DnsResponder::DnsResponder(DnsZone zone, int fd, int port)
    : zone_(std::move(zone)),
      fd_(fd),
      port_(port),
      thread_([this] { Run(); }) {}

DnsResponder::~DnsResponder() {
  stop_ = true;
  thread_.join();
  close(fd_);
}

std::string DnsResponder::address() const {
  return absl::StrCat("127.0.0.1:", port_);
}

int DnsResponder::queries_for(const std::string& name) const {
  MutexLock lock(&mu_);
  auto it = per_name_.find(name);
  return it == per_name_.end() ? 0 : it->second;
}

void DnsResponder::Run() {
  using Clock = std::chrono::steady_clock;
  struct Pending {
    Clock::time_point at;
    std::string packet;
    sockaddr_storage to;
    socklen_t to_len;
  };
  std::vector<Pending> pending;  // slow answers, sent when due
  while (!stop_) {
    const Clock::time_point now = Clock::now();
    for (auto it = pending.begin(); it != pending.end();) {
      if (it->at > now) {
        ++it;
        continue;
      }
      sendto(fd_, it->packet.data(), it->packet.size(), 0,
             reinterpret_cast<const sockaddr*>(&it->to), it->to_len);
      it = pending.erase(it);
    }
    pollfd p{fd_, POLLIN, 0};
    if (poll(&p, 1, pending.empty() ? 20 : 1) <= 0) continue;
    char buf[1500];
    sockaddr_storage from{};
    socklen_t from_len = sizeof from;
    const ssize_t n = recvfrom(fd_, buf, sizeof buf, 0,
                               reinterpret_cast<sockaddr*>(&from), &from_len);
    if (n <= 0) continue;
    const std::string query(buf, n);
    Question q;
    if (!ParseQuestion(query, &q)) continue;
    ++queries_;
    {
      MutexLock lock(&mu_);
      ++per_name_[q.name];
    }
    if (zone_.silent.count(q.name)) continue;
    std::string answer = Answer(query, q, zone_);
    if (zone_.slow.count(q.name)) {
      pending.push_back({Clock::now() + absl::ToChronoNanoseconds(zone_.delay),
                         std::move(answer), from, from_len});
      continue;
    }
    sendto(fd_, answer.data(), answer.size(), 0,
           reinterpret_cast<const sockaddr*>(&from), from_len);
  }
}

}  // namespace batchexec::testing
