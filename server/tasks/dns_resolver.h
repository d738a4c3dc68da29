// Asynchronous name lookups with c-ares, so a lookup in flight holds no
// thread: c-ares's sockets are watched by an IoPoller and its retransmit
// timeouts (and the lookup's own deadline) ride the server's TimerQueue.
// Names are looked up in the hosts file first, then in DNS ("fb"), like
// getaddrinfo with "hosts: files dns".
//
// Each lookup has its own c-ares channel: c-ares 1.18 can cancel only every
// query of a channel at once (ares_cancel), and one task's cancellation must
// not end its neighbours' lookups. Destroying the channel stops the query,
// closes its sockets and frees everything at once.
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
    // Stops the query at once (its sockets closed, its timer dropped). If
    // the lookup had not ended yet, the callback never runs. Thread-safe;
    // idempotent.
    virtual void Cancel() = 0;
  };

  // INVALID_ARGUMENT if `options.servers` does not parse.
  static absl::StatusOr<std::unique_ptr<DnsResolver>> Create(
      DnsResolverOptions options);
  ~DnsResolver();

  // Starts looking `name` up. `done` runs exactly once unless cancelled: on
  // the poller thread, the timer thread, or — for names answered from the
  // hosts file or numeric ones — on this thread before Resolve returns. It
  // must not block. The resolver must outlive the lookup's end.
  std::shared_ptr<Lookup> Resolve(absl::string_view name, AddressFamily family,
                                  absl::Duration timeout, TimerQueue& timers,
                                  Callback done);

  const std::string& servers() const { return options_.servers; }

 private:
  DnsResolver(DnsResolverOptions options, std::unique_ptr<IoPoller> poller);

  const DnsResolverOptions options_;
  const std::unique_ptr<IoPoller> poller_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_DNS_RESOLVER_H_
