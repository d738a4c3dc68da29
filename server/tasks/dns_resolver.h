// Asynchronous name lookups with c-ares, so a lookup in flight holds no
// thread: c-ares's sockets are watched by an IoPoller and its retransmit
// timeouts (and each lookup's own deadline) ride the resolver's TimerQueue.
// Names are looked up in the hosts file first, then in DNS ("fb"), like
// getaddrinfo with "hosts: files dns".
//
// Lookups share a few c-ares channels, one per retransmit interval (50 ms
// doubling up to 12.8 s; a lookup rides the one nearest a quarter of its
// timeout), so descriptors stay constant however many lookups run: one UDP
// socket per name server per channel, opened while the channel has queries.
// A channel has at most kMaxDnsLookupsPerChannel lookups in c-ares; later
// lookups wait in FIFO order (their deadlines run while they wait).
//
// c-ares 1.18 can cancel only every query of a channel at once
// (ares_cancel), so a cancelled lookup is abandoned: its callback is
// dropped and its query left to c-ares's own tries, unless no other live
// lookup shares the channel, when the channel's queries are cancelled at
// once (closing its sockets).
#ifndef BATCHEXEC_SERVER_TASKS_DNS_RESOLVER_H_
#define BATCHEXEC_SERVER_TASKS_DNS_RESOLVER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/functional/any_invocable.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "server/core/timer_queue.h"
#include "server/tasks/io_poller.h"
#include "server/tasks/probe_allowlist.h"

namespace batchexec {

enum class AddressFamily { kAny, kIpv4, kIpv6 };

// RFC 1035: 253 characters in text form (255 octets on the wire), labels of
// 1..63.
inline constexpr size_t kMaxHostNameBytes = 253;
inline constexpr size_t kMaxLabelBytes = 63;

// OK for a host name (labels of letters, digits, '-' and '_', an optional
// final dot) or a numeric address; otherwise INVALID_ARGUMENT whose message
// goes after the field's name ("is empty", "has a label of 64 bytes ...").
absl::Status CheckHostName(absl::string_view name);

struct DnsResolverOptions {
  // Name servers as c-ares's ports CSV ("127.0.0.1:5353,[::1]:53"); empty =
  // the system's (/etc/resolv.conf).
  std::string servers;
};

class DnsResolver {
 public:
  // Gets the addresses (in the resolver's preferred order, no duplicates),
  // or NOT_FOUND (no such name, or no address of that family), UNAVAILABLE
  // (no resolver answered, or it failed), DEADLINE_EXCEEDED (past the
  // timeout).
  using Callback =
      absl::AnyInvocable<void(absl::StatusOr<std::vector<IpAddress>>)>;

  // A lookup in flight.
  class Lookup {
   public:
    virtual ~Lookup() = default;
    // If the lookup had not ended yet, its callback never runs (and is
    // destroyed here). Its query may go on in c-ares until its tries end
    // (see above). Thread-safe; idempotent.
    virtual void Cancel() = 0;
  };

  // INVALID_ARGUMENT if `options.servers` does not parse.
  static absl::StatusOr<std::unique_ptr<DnsResolver>> Create(
      DnsResolverOptions options);
  ~DnsResolver();

  // Starts looking `name` up. `done` runs exactly once unless cancelled: on
  // the resolver's poller or timer thread, or — for names answered from the
  // hosts file or numeric ones — on this thread before Resolve returns. It
  // must not block. The resolver must outlive the lookup's end; destroying
  // it drops lookups in flight without calling them back.
  std::shared_ptr<Lookup> Resolve(absl::string_view name, AddressFamily family,
                                  absl::Duration timeout, Callback done);

  const std::string& servers() const { return options_.servers; }

  // Lookups started and not yet ended for their callers (queued ones
  // included), and queries c-ares still holds (abandoned ones included).
  // For tests and stats.
  size_t active_lookups() const;
  size_t queries_in_flight() const;

 private:
  class Channel;
  friend class ChannelLookup;
  DnsResolver(DnsResolverOptions options, std::unique_ptr<IoPoller> poller,
              std::unique_ptr<TimerQueue> timers);

  const DnsResolverOptions options_;
  // Threads stopped by the destructor before the channels go.
  std::unique_ptr<IoPoller> poller_;
  std::unique_ptr<TimerQueue> timers_;
  std::vector<std::unique_ptr<Channel>> channels_;  // by retransmit interval
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_DNS_RESOLVER_H_
