// An in-process batchexec server with the built-in kinds, on a free loopback
// port: what the examples run when no --target is given, and what tests run
// against. Its header names no server type, so a file can include it next
// to the SDK's headers.
#ifndef BATCHEXEC_EXAMPLES_LOCAL_SERVER_H_
#define BATCHEXEC_EXAMPLES_LOCAL_SERVER_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"

namespace batchexec {

class Server;

struct LocalServerOptions {
  // Addresses tcp_probe may reach (server/tasks/probe_allowlist.h syntax);
  // empty means loopback only.
  std::string probe_allowlist;
  // Server-wide limit on running tasks; 0 keeps the server's default.
  int64_t max_inflight_tasks = 0;
};

class LocalServer {
 public:
  static absl::StatusOr<std::unique_ptr<LocalServer>> Start(
      const LocalServerOptions& options = {});
  // Shuts down at once if Shutdown was not called.
  ~LocalServer();

  // "127.0.0.1:PORT".
  std::string target() const;
  // The executor's counters, read in process (no RPC).
  v1::ServerStats Stats() const;
  // Stops listening; running batches get `grace`, then are cancelled.
  void Shutdown(absl::Duration grace = absl::ZeroDuration());

 private:
  explicit LocalServer(std::unique_ptr<Server> server);
  std::unique_ptr<Server> server_;
};

// `target` if it is set; otherwise starts a LocalServer with `options`,
// keeps it in `*local`, and returns its target. For the examples' "run
// against --target, or a server of our own".
absl::StatusOr<std::string> TargetOrLocalServer(
    const std::string& target, const LocalServerOptions& options,
    std::unique_ptr<LocalServer>* local);

}  // namespace batchexec

#endif  // BATCHEXEC_EXAMPLES_LOCAL_SERVER_H_
