#include "server/tasks/dns_resolver.h"

#include <ares.h>
#include <netinet/in.h>
#include <sys/epoll.h>
#include <sys/socket.h>

#include <algorithm>
#include <chrono>
#include <cstring>
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

namespace batchexec {
namespace {

using Clock = std::chrono::steady_clock;

// c-ares retransmits a query after a try's timeout, doubling it each round.
// Tries of timeout/4 give two retransmits before the lookup's own deadline
// (at 1/4 and 3/4 of it): a lost UDP packet costs a retry, not the task.
constexpr int kTries = 3;
constexpr absl::Duration kMinTryTimeout = absl::Milliseconds(50);

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

// One lookup on its own channel. Every c-ares call happens under mu_, and
// c-ares calls back (OnSocketState, OnAddrInfo) only from inside those
// calls, so the callbacks run under mu_ too. The user's callback runs after
// mu_ is released.
class AresLookup : public DnsResolver::Lookup,
                   public std::enable_shared_from_this<AresLookup> {
 public:
  AresLookup(std::string name, IoPoller& poller, TimerQueue& timers,
             absl::Duration timeout, DnsResolver::Callback done)
      : name_(std::move(name)),
        poller_(poller),
        timers_(timers),
        timeout_(timeout),
        deadline_(Clock::now() + absl::ToChronoNanoseconds(timeout)),
        done_(std::move(done)) {}

  ~AresLookup() override {
    // Start failed before the channel was made, or every path closed it.
    MutexLock lock(&mu_);
    if (channel_ != nullptr) ares_destroy(channel_);
  }

  void Start(const std::string& servers, int family) {
    ares_options options{};
    int mask = ARES_OPT_SOCK_STATE_CB | ARES_OPT_LOOKUPS | ARES_OPT_TIMEOUTMS |
               ARES_OPT_TRIES;
    options.sock_state_cb = &AresLookup::OnSocketState;
    options.sock_state_cb_data = this;
    char lookups[] = "fb";  // hosts file, then DNS
    options.lookups = lookups;
    options.timeout = static_cast<int>(
        absl::ToInt64Milliseconds(std::max(kMinTryTimeout, timeout_ / 4)));
    options.tries = kTries;
    Delivery delivery;
    {
      MutexLock lock(&mu_);
      int rc = ares_init_options(&channel_, &options, mask);
      if (rc != ARES_SUCCESS) channel_ = nullptr;
      if (rc == ARES_SUCCESS && !servers.empty()) {
        rc = ares_set_servers_ports_csv(channel_, servers.c_str());
      }
      if (rc != ARES_SUCCESS) {
        result_ = absl::UnavailableError(
            absl::StrCat("resolver setup: ", ares_strerror(rc)));
      } else {
        ares_addrinfo_hints hints{};
        hints.ai_family = family;
        ares_getaddrinfo(channel_, name_.c_str(), /*service=*/nullptr, &hints,
                         &AresLookup::OnAddrInfo, this);
      }
      delivery = SettleLocked();
    }
    if (delivery) delivery();
  }

  void Cancel() override {
    MutexLock lock(&mu_);
    if (closed_) return;
    done_ = nullptr;
    if (!result_) result_ = absl::CancelledError("lookup cancelled");
    CloseLocked();
  }

 private:
  using Result = absl::StatusOr<std::vector<IpAddress>>;
  // The user's callback bound to the result, run once mu_ is released.
  using Delivery = absl::AnyInvocable<void()>;

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
    auto* self = static_cast<AresLookup*>(data);
    self->mu_.AssertHeld();
    self->SocketStateLocked(fd, readable != 0, writable != 0);
  }

  static void OnAddrInfo(void* arg, int status, int /*timeouts*/,
                         ares_addrinfo* info) {
    auto* self = static_cast<AresLookup*>(arg);
    self->mu_.AssertHeld();
    if (!self->result_) {
      if (status == ARES_SUCCESS) {
        std::vector<IpAddress> addresses = Addresses(info);
        self->result_ = addresses.empty()
                            ? Result(absl::NotFoundError(absl::StrCat(
                                  "'", self->name_, "': no addresses")))
                            : Result(std::move(addresses));
      } else if (status == ARES_ETIMEOUT && Clock::now() >= self->deadline_) {
        self->result_ = self->DeadlineError();
      } else {
        self->result_ = AresError(status, self->name_);
      }
    }
    if (info != nullptr) ares_freeaddrinfo(info);
  }

  void SocketStateLocked(int fd, bool read, bool write)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
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

  // After each c-ares call: closes the lookup if it has its result, else
  // watches what c-ares wants watched and arms the next timeout. Returns
  // what to run once mu_ is released (nothing if the lookup goes on).
  Delivery SettleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (closed_) return nullptr;
    if (result_) return CloseAndDeliverLocked();
    for (auto& [fd, s] : sockets_) {
      if (s.armed) continue;
      const uint32_t events = (s.read ? EPOLLIN : 0) | (s.write ? EPOLLOUT : 0);
      const uint64_t seq = ++arm_seq_;
      auto watch = poller_.WatchOnce(
          fd, events, [self = shared_from_this(), fd = fd, seq](uint32_t ev) {
            self->OnReady(fd, seq, ev);
          });
      if (!watch.ok()) {
        result_ = absl::UnavailableError(absl::StrCat(
            "'", name_, "': watching a socket: ", watch.status().message()));
        return CloseAndDeliverLocked();
      }
      s.armed = true;
      s.watch = *watch;
      s.arm_seq = seq;
    }
    ArmTimerLocked();
    return nullptr;
  }

  Delivery CloseAndDeliverLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    CloseLocked();
    if (!done_) return nullptr;
    return [done = std::move(done_), result = *std::move(result_)]() mutable {
      done(std::move(result));
    };
  }

  // One timer at the earlier of c-ares's next timeout and the deadline.
  void ArmTimerLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    Clock::time_point when = deadline_;
    timeval max{}, tv{};
    const absl::Duration left = absl::FromChrono(deadline_ - Clock::now());
    max = absl::ToTimeval(std::max(absl::ZeroDuration(), left));
    if (timeval* next = ares_timeout(channel_, &max, &tv); next != nullptr) {
      when =
          std::min(when, Clock::now() + absl::ToChronoNanoseconds(
                                            absl::DurationFromTimeval(*next)));
    }
    // An earlier timer still pending does no harm: firing, it re-arms.
    if (timer_ != 0 && timer_when_ <= when) return;
    if (timer_ != 0) timers_.Cancel(timer_);
    const uint64_t seq = ++timer_seq_;
    timer_when_ = when;
    timer_ = timers_.ScheduleAfter(
        absl::FromChrono(when - Clock::now()),
        [self = shared_from_this(), seq] { self->OnTimer(seq); });
  }

  void OnReady(int fd, uint64_t seq, uint32_t events) {
    Delivery delivery;
    {
      MutexLock lock(&mu_);
      if (closed_) return;
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
      delivery = SettleLocked();
    }
    if (delivery) delivery();
  }

  void OnTimer(uint64_t seq) {
    Delivery delivery;
    {
      MutexLock lock(&mu_);
      if (closed_ || seq != timer_seq_) return;
      timer_ = 0;
      if (Clock::now() >= deadline_) {
        result_ = DeadlineError();
      } else {
        ares_process_fd(channel_, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      }
      delivery = SettleLocked();
    }
    if (delivery) delivery();
  }

  // Stops everything: c-ares closes its sockets (telling OnSocketState,
  // which unwatches them) and ends the query (OnAddrInfo, ignored: the
  // result is set by then).
  absl::Status DeadlineError() const {
    return absl::DeadlineExceededError(absl::StrCat(
        "'", name_, "': no answer within ", absl::FormatDuration(timeout_)));
  }

  void CloseLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    closed_ = true;
    if (timer_ != 0) timers_.Cancel(timer_);
    timer_ = 0;
    if (channel_ != nullptr) ares_destroy(channel_);
    channel_ = nullptr;
    for (auto& [fd, s] : sockets_) {
      if (s.armed) poller_.Unwatch(s.watch, fd);
    }
    sockets_.clear();
  }

  const std::string name_;
  IoPoller& poller_;
  TimerQueue& timers_;
  const absl::Duration timeout_;
  const Clock::time_point deadline_;
  Mutex mu_;
  DnsResolver::Callback done_ ABSL_GUARDED_BY(mu_);
  ares_channel channel_ ABSL_GUARDED_BY(mu_) = nullptr;
  absl::flat_hash_map<int, Socket> sockets_ ABSL_GUARDED_BY(mu_);
  std::optional<Result> result_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  TimerQueue::TimerId timer_ ABSL_GUARDED_BY(mu_) = 0;
  Clock::time_point timer_when_ ABSL_GUARDED_BY(mu_);
  uint64_t timer_seq_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t arm_seq_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace

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
  return std::unique_ptr<DnsResolver>(
      new DnsResolver(std::move(options), *std::move(poller)));
}

DnsResolver::DnsResolver(DnsResolverOptions options,
                         std::unique_ptr<IoPoller> poller)
    : options_(std::move(options)), poller_(std::move(poller)) {}

DnsResolver::~DnsResolver() = default;

namespace {

// A lookup that ended before it began.
class EndedLookup : public DnsResolver::Lookup {
 public:
  void Cancel() override {}
};

}  // namespace

std::shared_ptr<DnsResolver::Lookup> DnsResolver::Resolve(
    absl::string_view name, AddressFamily family, absl::Duration timeout,
    TimerQueue& timers, Callback done) {
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
  auto lookup = std::make_shared<AresLookup>(std::string(name), *poller_,
                                             timers, timeout, std::move(done));
  lookup->Start(options_.servers, family == AddressFamily::kIpv4   ? AF_INET
                                  : family == AddressFamily::kIpv6 ? AF_INET6
                                                                   : AF_UNSPEC);
  return lookup;
}

}  // namespace batchexec
