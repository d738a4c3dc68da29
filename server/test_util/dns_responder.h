// A tiny real DNS server for tests: UDP on 127.0.0.1, a fixed table of A
// and AAAA records, NXDOMAIN for every other name. Names can be made slow
// (answered after a delay) or silent (never answered), to test timeouts and
// cancellation; it counts the queries it receives, so a test can see a
// resolver stop asking.
#ifndef BATCHEXEC_SERVER_TEST_UTIL_DNS_RESPONDER_H_
#define BATCHEXEC_SERVER_TEST_UTIL_DNS_RESPONDER_H_

#include <atomic>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/mutex.h"

namespace batchexec::testing {

struct DnsZone {
  // Lower-case name (no final dot) -> numeric IPv4/IPv6 addresses.
  std::map<std::string, std::vector<std::string>> addresses;
  // Names answered only after `delay`.
  std::set<std::string> slow;
  absl::Duration delay = absl::Milliseconds(200);
  // Names never answered.
  std::set<std::string> silent;
  // Names answered SERVFAIL.
  std::set<std::string> servfail;
};

class DnsResponder {
 public:
  static absl::StatusOr<std::unique_ptr<DnsResponder>> Start(DnsZone zone);
  ~DnsResponder();

  int port() const { return port_; }
  // For DnsResolverOptions::servers / --dns_servers.
  std::string address() const;
  // Queries received so far (retransmissions included).
  int queries() const { return queries_.load(); }
  // Queries received for `name` so far.
  int queries_for(const std::string& name) const;

 private:
  DnsResponder(DnsZone zone, int fd, int port);
  void Run();

  const DnsZone zone_;
  const int fd_;
  const int port_;
  std::atomic<bool> stop_{false};
  std::atomic<int> queries_{0};
  mutable Mutex mu_;
  std::map<std::string, int> per_name_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace batchexec::testing

#endif  // BATCHEXEC_SERVER_TEST_UTIL_DNS_RESPONDER_H_
