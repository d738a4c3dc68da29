#include "server/tasks/dns_resolver.h"

#include <ares.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/mutex.h"
#include "server/core/limits.h"

namespace batchexec {
namespace {

using Clock = std::chrono::steady_clock;

// c-ares retransmits a query after a try's timeout, doubling it each round.
// A lookup rides the channel whose first try's timeout T is the largest
// 50 ms * 2^k at most a quarter of its timeout (so T > timeout/8): two
// retransmits come before its deadline (at T and 3T), and four tries last
// 15T, past the deadline, so an unanswered lookup ends DEADLINE_EXCEEDED by
// its own deadline, not by c-ares giving up first.
constexpr int kTries = 4;
constexpr absl::Duration kMinTryTimeout = absl::Milliseconds(50);
constexpr int kChannels = 9;  // 50 ms .. 12.8 s: timeouts up to 60 s
// Asked of each c-ares socket (capped by net.core.rmem_max): room for a
// channel's burst of answers (kMaxDnsLookupsPerChannel).
constexpr int kReceiveBufferBytes = 1 << 20;

int ChannelFor(absl::Duration timeout) {
  int k = 0;
  while (k + 1 < kChannels && kMinTryTimeout * (1 << (k + 1)) <= timeout / 4) {
    ++k;
  }
  return k;
}

void InitAresOnce() {
  static std::once_flag once;
  std::call_once(once, [] { ares_library_init(ARES_LIB_INIT_ALL); });
}

absl::Status AresError(int status, absl::string_view name) {
  const std::string what =
      absl::StrCat("'", name, "': ", ares_strerror(status));
  switch (status) {
    case ARES_ENOTFOUND:
    case ARES_ENODATA:
    case ARES_ENONAME:
      return absl::NotFoundError(what);
    case ARES_EBADNAME:
    case ARES_EBADFAMILY:
      return absl::InvalidArgumentError(what);
    case ARES_ECANCELLED:
    case ARES_EDESTRUCTION:
      return absl::CancelledError(what);
    case ARES_ENOMEM:
      return absl::ResourceExhaustedError(what);
    // ETIMEOUT: every try of every server went unanswered before the
    // lookup's own deadline, which happens when queries are refused (one
    // query's ICMP error can fail another's send, leaving the first to time
    // out): the resolver is unreachable, not slow.
    default:  // ECONNREFUSED, ETIMEOUT, ESERVFAIL, EREFUSED, EFORMERR, ...
      return absl::UnavailableError(what);
  }
}

std::vector<IpAddress> Addresses(const ares_addrinfo* info) {
  std::vector<IpAddress> out;
  for (const ares_addrinfo_node* n = info ? info->nodes : nullptr; n;
       n = n->ai_next) {
    IpAddress ip;
    if (n->ai_family == AF_INET) {
      const auto* a = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
      ip.is_v4 = true;
      ip.bytes[10] = ip.bytes[11] = 0xff;
      std::memcpy(&ip.bytes[12], &a->sin_addr, 4);
    } else if (n->ai_family == AF_INET6) {
      const auto* a = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
      std::memcpy(ip.bytes.data(), &a->sin6_addr, 16);
    } else {
      continue;
    }
    // One node per socket type may repeat an address.
    if (std::none_of(out.begin(), out.end(), [&](const IpAddress& seen) {
          return seen.bytes == ip.bytes && seen.is_v4 == ip.is_v4;
        })) {
      out.push_back(ip);
    }
  }
  return out;
}

}  // namespace

// One c-ares channel and the lookups riding it. Every c-ares call happens
// under mu_, and c-ares calls back (OnSocketState, OnAddrInfo) only from
// inside those calls, so the callbacks run under mu_ too. Users' callbacks
// run after mu_ is released.
class DnsResolver::Channel {
 public:
  using Result = absl::StatusOr<std::vector<IpAddress>>;

  Channel(absl::Duration try_timeout, IoPoller& poller, TimerQueue& timers)
      : try_timeout_(try_timeout), poller_(poller), timers_(timers) {}

  ~Channel() {
    MutexLock lock(&mu_);
    closing_ = true;
    // Ends every query (OnAddrInfo, whose deliveries are dropped).
    if (channel_ != nullptr) ares_destroy(channel_);
    channel_ = nullptr;
  }

  absl::Status Init(const std::string& servers) {
    ares_options options{};
    const int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS |
                     ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES | ARES_OPT_SOCK_RCVBUF;
    options.sock_state_cb = &Channel::OnSocketState;
    options.sock_state_cb_data = this;
    char lookups[] = "fb";  // hosts file, then DNS
    options.lookups = lookups;
    options.timeout = static_cast<int>(absl::ToInt64Milliseconds(try_timeout_));
    options.tries = kTries;
    options.socket_receive_buffer_size = kReceiveBufferBytes;
    MutexLock lock(&mu_);
    int rc = ares_init_options(&channel_, &options, mask);
    if (rc != ARES_SUCCESS) {
      channel_ = nullptr;
    } else if (!servers.empty()) {
      rc = ares_set_servers_ports_csv(channel_, servers.c_str());
    }
    if (rc != ARES_SUCCESS) {
      return absl::UnavailableError(
          absl::StrCat("resolver setup: ", ares_strerror(rc)));
    }
    return absl::OkStatus();
  }

  // Before the resolver's threads stop: their callbacks find this and
  // return.
  void Close() {
    MutexLock lock(&mu_);
    closing_ = true;
  }

  uint64_t Start(std::string name, int family, absl::Duration timeout,
                 Callback done) {
    std::vector<Delivery> ready;
    uint64_t id;
    {
      MutexLock lock(&mu_);
      id = next_id_++;
      auto owned = std::make_unique<Pending>();
      Pending& p = *owned;
      p.channel = this;
      p.id = id;
      p.name = std::move(name);
      p.family = family;
      p.timeout = timeout;
      p.deadline = Clock::now() + absl::ToChronoNanoseconds(timeout);
      p.done = std::move(done);
      lookups_.emplace(id, std::move(owned));
      ++active_;
      p.deadline_timer =
          timers_.ScheduleAfter(timeout, [this, id] { OnDeadline(id); });
      waiting_.push_back(id);
      PumpLocked();
      SettleLocked();
      ready.swap(ready_);
    }
    for (Delivery& d : ready) d();
    return id;
  }

  void Cancel(uint64_t id) {
    std::vector<Delivery> ready;
    Callback dropped;
    {
      MutexLock lock(&mu_);
      auto it = lookups_.find(id);
      if (it == lookups_.end() || it->second->ended) return;
      dropped = std::move(it->second->done);
      EndLocked(*it->second);
      PumpLocked();
      SettleLocked();
      ready.swap(ready_);
    }
    for (Delivery& d : ready) d();
  }

  size_t active() const {
    MutexLock lock(&mu_);
    return active_;
  }
  size_t in_flight() const {
    MutexLock lock(&mu_);
    return in_flight_;
  }

 private:
  // The user's callback bound to the result, run once mu_ is released.
  using Delivery = absl::AnyInvocable<void()>;

  // A lookup from Start until it has ended for its caller and c-ares holds
  // no query of it. c-ares's callback argument, so its address is stable.
  struct Pending {
    Channel* channel = nullptr;
    uint64_t id = 0;
    std::string name;
    int family = AF_UNSPEC;
    absl::Duration timeout;
    Clock::time_point deadline;
    Callback done;           // empty once delivered or cancelled
    bool ended = false;      // delivered, cancelled or past its deadline
    bool in_flight = false;  // c-ares holds its query
    TimerQueue::TimerId deadline_timer = 0;
  };

  // A socket c-ares asked to have watched.
  struct Socket {
    bool read = false;
    bool write = false;
    bool armed = false;  // a watch is registered
    IoPoller::WatchId watch = 0;
    uint64_t arm_seq = 0;  // tells a stale readiness callback apart
  };

  static void OnSocketState(void* data, ares_socket_t fd, int readable,
                            int writable) {
    auto* self = static_cast<Channel*>(data);
    self->mu_.AssertHeld();
    self->SocketStateLocked(fd, readable != 0, writable != 0);
  }

  static void OnAddrInfo(void* arg, int status, int /*timeouts*/,
                         ares_addrinfo* info) {
    auto* p = static_cast<Pending*>(arg);
    Channel* self = p->channel;
    self->mu_.AssertHeld();
    self->QueryEndedLocked(*p, status, info);
    if (info != nullptr) ares_freeaddrinfo(info);
  }

  void QueryEndedLocked(Pending& p, int status, const ares_addrinfo* info)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const uint64_t id = p.id;
    p.in_flight = false;
    --in_flight_;
    if (!p.ended) {
      --live_;
      Result result;
      if (status == ARES_SUCCESS) {
        std::vector<IpAddress> addresses = Addresses(info);
        result = addresses.empty() ? Result(absl::NotFoundError(absl::StrCat(
                                         "'", p.name, "': no addresses")))
                                   : Result(std::move(addresses));
      } else if (status == ARES_ETIMEOUT && Clock::now() >= p.deadline) {
        result = DeadlineError(p);
      } else {
        result = AresError(status, p.name);
      }
      DeliverLocked(p, std::move(result));  // frees `p`
    }
    lookups_.erase(id);  // frees `p` if abandoned
  }

  // Ends `p` for its caller with `result` (dropped while closing).
  void DeliverLocked(Pending& p, Result result)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Callback done = std::move(p.done);
    EndLocked(p);
    if (done && !closing_) {
      ready_.push_back(
          [done = std::move(done), result = std::move(result)]() mutable {
            done(std::move(result));
          });
    }
  }

  // Marks `p` ended for its caller, freeing it unless c-ares holds its
  // query. Such a query is abandoned; once every query there is, they are
  // all cancelled, which closes the channel's sockets.
  void EndLocked(Pending& p) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    p.ended = true;
    --active_;
    // (Closing, the timer thread is gone with its timers.)
    if (p.deadline_timer != 0 && !closing_) timers_.Cancel(p.deadline_timer);
    p.deadline_timer = 0;
    if (p.in_flight) {
      if (--live_ == 0 && channel_ != nullptr && !closing_) {
        ares_cancel(channel_);  // OnAddrInfo erases each
      }
    } else {
      lookups_.erase(p.id);  // still waiting: c-ares never saw it
    }
  }

  // Hands waiting lookups to c-ares while there is room.
  void PumpLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    while (!waiting_.empty() && in_flight_ < kMaxDnsLookupsPerChannel &&
           !closing_) {
      const uint64_t id = waiting_.front();
      waiting_.pop_front();
      auto it = lookups_.find(id);
      if (it == lookups_.end()) continue;  // ended while waiting
      Pending& p = *it->second;
      if (channel_ == nullptr) {
        DeliverLocked(p, absl::UnavailableError("resolver setup failed"));
        continue;
      }
      p.in_flight = true;
      ++in_flight_;
      ++live_;
      ares_addrinfo_hints hints{};
      hints.ai_family = p.family;
      // May call OnAddrInfo at once (hosts file, bad name), erasing `p`.
      ares_getaddrinfo(channel_, p.name.c_str(), /*service=*/nullptr, &hints,
                       &Channel::OnAddrInfo, &p);
    }
  }

  void SocketStateLocked(int fd, bool read, bool write)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (closing_) return;  // the poller may be gone
    auto it = sockets_.find(fd);
    if (!read && !write) {  // c-ares is about to close it
      if (it == sockets_.end()) return;
      if (it->second.armed) poller_.Unwatch(it->second.watch, fd);
      sockets_.erase(it);
      return;
    }
    Socket& s = sockets_[fd];
    if (s.armed && (s.read != read || s.write != write)) {
      poller_.Unwatch(s.watch, fd);
      s.armed = false;
    }
    s.read = read;
    s.write = write;
  }

  // After each c-ares call: watches what c-ares wants watched and arms its
  // next timeout. A socket that cannot be watched leaves its queries to end
  // by c-ares's timeouts.
  void SettleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (closing_) return;
    for (auto& [fd, s] : sockets_) {
      if (s.armed) continue;
      const uint32_t events = (s.read ? EPOLLIN : 0) | (s.write ? EPOLLOUT : 0);
      const uint64_t seq = ++arm_seq_;
      auto watch = poller_.WatchOnce(
          fd, events,
          [this, fd = fd, seq](uint32_t ev) { OnReady(fd, seq, ev); });
      if (!watch.ok()) continue;
      s.armed = true;
      s.watch = *watch;
      s.arm_seq = seq;
    }
    ArmTimerLocked();
  }

  // One timer at c-ares's next timeout, none while it holds no query.
  void ArmTimerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    timeval tv{};
    timeval* next =
        channel_ == nullptr ? nullptr : ares_timeout(channel_, nullptr, &tv);
    if (next == nullptr) {
      if (timer_ != 0) timers_.Cancel(timer_);
      timer_ = 0;
      return;
    }
    const Clock::time_point when =
        Clock::now() +
        absl::ToChronoNanoseconds(absl::DurationFromTimeval(*next));
    // An earlier timer still pending does no harm: firing, it re-arms.
    if (timer_ != 0 && timer_when_ <= when) return;
    if (timer_ != 0) timers_.Cancel(timer_);
    const uint64_t seq = ++timer_seq_;
    timer_when_ = when;
    timer_ = timers_.ScheduleAfter(absl::FromChrono(when - Clock::now()),
                                   [this, seq] { OnTimer(seq); });
  }

  void OnReady(int fd, uint64_t seq, uint32_t events) {
    std::vector<Delivery> ready;
    {
      MutexLock lock(&mu_);
      if (closing_) return;
      auto it = sockets_.find(fd);
      if (it == sockets_.end() || !it->second.armed ||
          it->second.arm_seq != seq) {
        return;  // unwatched or closed meanwhile
      }
      // The poller dropped the watch; remove the fd from epoll so that it
      // can be added again.
      poller_.Unwatch(it->second.watch, fd);
      it->second.armed = false;
      // Errors and hang-ups are read, so that c-ares sees them.
      const bool readable = events & (EPOLLIN | EPOLLERR | EPOLLHUP);
      const bool writable = events & EPOLLOUT;
      ares_process_fd(channel_, readable ? fd : ARES_SOCKET_BAD,
                      writable ? fd : ARES_SOCKET_BAD);
      PumpLocked();
      SettleLocked();
      ready.swap(ready_);
    }
    for (Delivery& d : ready) d();
  }

  void OnTimer(uint64_t seq) {
    std::vector<Delivery> ready;
    {
      MutexLock lock(&mu_);
      if (closing_ || seq != timer_seq_) return;
      timer_ = 0;
      ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      PumpLocked();
      SettleLocked();
      ready.swap(ready_);
    }
    for (Delivery& d : ready) d();
  }

  void OnDeadline(uint64_t id) {
    std::vector<Delivery> ready;
    {
      MutexLock lock(&mu_);
      if (closing_) return;
      auto it = lookups_.find(id);
      if (it == lookups_.end() || it->second->ended) return;
      Pending& p = *it->second;
      p.deadline_timer = 0;  // running now
      DeliverLocked(p, DeadlineError(p));
      PumpLocked();
      SettleLocked();
      ready.swap(ready_);
    }
    for (Delivery& d : ready) d();
  }

  static absl::Status DeadlineError(const Pending& p) {
    return absl::DeadlineExceededError(absl::StrCat(
        "'", p.name, "': no answer within ", absl::FormatDuration(p.timeout)));
  }

  const absl::Duration try_timeout_;
  IoPoller& poller_;
  TimerQueue& timers_;
  mutable Mutex mu_;
  ares_channel channel_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::flat_hash_map<uint64_t, std::unique_ptr<Pending>> lookups_
      ABSL_GUARDED_BY(mu_);
  std::deque<uint64_t> waiting_ ABSL_GUARDED_BY(mu_);  // FIFO, by id
  size_t active_ ABSL_GUARDED_BY(mu_) = 0;             // not yet ended
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;             // queries c-ares holds
  int live_ ABSL_GUARDED_BY(mu_) = 0;  // ... of lookups not ended
  std::vector<Delivery> ready_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int, Socket> sockets_ ABSL_GUARDED_BY(mu_);
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  TimerQueue::TimerId timer_ ABSL_GUARDED_BY(mu_) = 0;
  Clock::time_point timer_when_ ABSL_GUARDED_BY(mu_);
  uint64_t timer_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t arm_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

namespace {}  // namespace

absl::Status CheckHostName(absl::string_view name) {
  if (name.empty()) return absl::InvalidArgumentError("must not be empty");
  if (IpAddress::Parse(name).ok()) return absl::OkStatus();  // numeric
  absl::string_view host = name;
  if (host.back() == '.') host.remove_suffix(1);  // fully qualified
  if (host.size() > kMaxHostNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("is ", name.size(), " bytes; at most ", kMaxHostNameBytes,
                     " are allowed"));
  }
  for (absl::string_view label : absl::StrSplit(host, '.')) {
    if (label.empty() || label.size() > kMaxLabelBytes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", absl::CHexEscape(name), "' has a label of ", label.size(),
          " bytes; each must have 1..", kMaxLabelBytes));
    }
    for (char c : label) {
      // Underscores appear in real records (_service._tcp); anything else
      // outside letters, digits and '-' is no host name.
      if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '-' &&
          c != '_') {
        return absl::InvalidArgumentError(absl::StrCat(
            "'", absl::CHexEscape(name),
            "' may hold only letters, digits, '-', '_' and dots, or be a "
            "numeric address"));
      }
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::unique_ptr<DnsResolver>> DnsResolver::Create(
    DnsResolverOptions options) {
  InitAresOnce();
  if (!options.servers.empty()) {
    // Parsed once here, so a bad list is a startup error, not every
    // lookup's.
    ares_channel probe;
    ares_options none{};
    if (int rc = ares_init_options(&probe, &none, 0); rc != ARES_SUCCESS) {
      return absl::UnavailableError(
          absl::StrCat("c-ares: ", ares_strerror(rc)));
    }
    const int rc = ares_set_servers_ports_csv(probe, options.servers.c_str());
    ares_destroy(probe);
    if (rc != ARES_SUCCESS) {
      return absl::InvalidArgumentError(absl::StrCat(
          "dns servers '", options.servers, "': ", ares_strerror(rc),
          " (expected e.g. 127.0.0.1:53,[::1]:5353)"));
    }
  }
  auto poller = IoPoller::Create();
  if (!poller.ok()) return poller.status();
  auto resolver = std::unique_ptr<DnsResolver>(new DnsResolver(
      std::move(options), *std::move(poller), std::make_unique<TimerQueue>()));
  for (int k = 0; k < kChannels; ++k) {
    resolver->channels_.push_back(std::make_unique<Channel>(
        kMinTryTimeout * (1 << k), *resolver->poller_, *resolver->timers_));
    if (absl::Status s =
            resolver->channels_.back()->Init(resolver->options_.servers);
        !s.ok()) {
      return s;
    }
  }
  return resolver;
}

DnsResolver::DnsResolver(DnsResolverOptions options,
                         std::unique_ptr<IoPoller> poller,
                         std::unique_ptr<TimerQueue> timers)
    : options_(std::move(options)),
      poller_(std::move(poller)),
      timers_(std::move(timers)) {}

DnsResolver::~DnsResolver() {
  // The threads' callbacks point at the channels: stop them first.
  for (auto& channel : channels_) channel->Close();
  timers_.reset();
  poller_.reset();
  channels_.clear();
}

size_t DnsResolver::active_lookups() const {
  size_t n = 0;
  for (const auto& channel : channels_) n += channel->active();
  return n;
}

size_t DnsResolver::queries_in_flight() const {
  size_t n = 0;
  for (const auto& channel : channels_) n += channel->in_flight();
  return n;
}

namespace {

// A lookup that ended before it began.
class EndedLookup : public DnsResolver::Lookup {
 public:
  void Cancel() override {}
};

}  // namespace

class ChannelLookup : public DnsResolver::Lookup {
 public:
  ChannelLookup(DnsResolver::Channel& channel, uint64_t id)
      : channel_(channel), id_(id) {}
  void Cancel() override { channel_.Cancel(id_); }

 private:
  DnsResolver::Channel& channel_;
  const uint64_t id_;
};

std::shared_ptr<DnsResolver::Lookup> DnsResolver::Resolve(
    absl::string_view name, AddressFamily family, absl::Duration timeout,
    Callback done) {
  // c-ares 1.18 sends numeric names to the name servers as queries; answer
  // them here. ("localhost" stays a name: the hosts file says what it is.)
  if (auto ip = IpAddress::Parse(name); ip.ok() && name != "localhost") {
    if ((family == AddressFamily::kIpv4 && !ip->is_v4) ||
        (family == AddressFamily::kIpv6 && ip->is_v4)) {
      done(absl::NotFoundError(
          absl::StrCat("'", name, "' is an ", ip->is_v4 ? "IPv4" : "IPv6",
                       " address, not of the family asked for")));
    } else {
      done(std::vector<IpAddress>{*ip});
    }
    return std::make_shared<EndedLookup>();
  }
  Channel& channel = *channels_[ChannelFor(timeout)];
  const uint64_t id =
      channel.Start(std::string(name),
                    family == AddressFamily::kIpv4   ? AF_INET
                    : family == AddressFamily::kIpv6 ? AF_INET6
                                                     : AF_UNSPEC,
                    timeout, std::move(done));
  return std::make_shared<ChannelLookup>(channel, id);
}

}  // namespace batchexec
