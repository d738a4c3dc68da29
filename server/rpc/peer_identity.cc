#include "server/rpc/peer_identity.h"

#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstring>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/strip.h"

namespace batchexec {
namespace {

// The peer without its port: "scheme:address:port" -> "scheme:address".
std::string WithoutPort(absl::string_view peer) {
  const size_t colon = peer.rfind(':');
  if (colon != absl::string_view::npos && colon > peer.find(':')) {
    peer = peer.substr(0, colon);
  }
  return std::string(peer);
}

}  // namespace

std::string CallerNameOfPeer(absl::string_view peer) {
  absl::string_view rest = peer;
  if (!absl::ConsumePrefix(&rest, "ipv6:")) return WithoutPort(peer);
  // "[addr]:port", the brackets perhaps percent-encoded; a zone ("%25eth0"
  // or "%eth0") names an interface, not a different host.
  std::string text = absl::StrReplaceAll(
      rest, {{"%5B", "["}, {"%5b", "["}, {"%5D", "]"}, {"%5d", "]"}});
  absl::string_view host = text;
  if (!absl::ConsumePrefix(&host, "[")) return WithoutPort(peer);
  const size_t close = host.find(']');
  if (close == absl::string_view::npos) return WithoutPort(peer);
  host = host.substr(0, close);
  if (const size_t zone = host.find('%'); zone != absl::string_view::npos) {
    host = host.substr(0, zone);
  }
  in6_addr addr;
  if (inet_pton(AF_INET6, std::string(host).c_str(), &addr) != 1) {
    return WithoutPort(peer);
  }
  char out[INET6_ADDRSTRLEN];
  if (IN6_IS_ADDR_V4MAPPED(&addr)) {
    in_addr v4;
    std::memcpy(&v4, &addr.s6_addr[12], sizeof(v4));
    inet_ntop(AF_INET, &v4, out, sizeof(out));
    return absl::StrCat("ipv4:", out);
  }
  std::memset(&addr.s6_addr[8], 0, 8);  // the /64
  inet_ntop(AF_INET6, &addr, out, sizeof(out));
  return absl::StrCat("ipv6:[", out, "]/64");
}

}  // namespace batchexec
