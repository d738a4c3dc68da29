// The access log: one line per batch, written when its call ends (plain
// key=value or JSON lines). It records who ran what and how it went — never
// task arguments, payloads, outputs or tokens. gRPC-free.
#ifndef BATCHEXEC_SERVER_CORE_ACCESS_LOG_H_
#define BATCHEXEC_SERVER_CORE_ACCESS_LOG_H_

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.pb.h"
#include "common/mutex.h"

namespace batchexec {

struct AccessRecord {
  absl::Time time = absl::UnixEpoch();  // when the call ended
  std::string method;                   // "Execute" or "Gather"
  std::string batch_id;
  std::string caller;  // Caller::name
  std::string peer;    // gRPC's peer string, e.g. "ipv4:127.0.0.1:5123"
  int64_t tasks = 0;
  std::string policy;   // FAIL_FAST or COLLECT_ALL
  std::string outcome;  // the summary's outcome, as a gRPC code name
  int64_t failed = 0;
  absl::Duration wall = absl::ZeroDuration();
  int64_t bytes_in = 0;   // the request on the wire
  int64_t bytes_out = 0;  // responses written to the wire

  // Fills tasks (the batch's size) and policy from the request, outcome,
  // failed and wall from the summary.
  void SetRequest(const v1::ExecuteRequest& request, int64_t tasks);
  void SetSummary(const v1::Summary& summary);
};

class AccessLog {
 public:
  enum class Format { kPlain, kJson };

  // `where`: "stderr", "none" (null: no log) or a file path, appended to.
  // INVALID_ARGUMENT for a file that cannot be opened.
  static absl::StatusOr<std::unique_ptr<AccessLog>> Open(
      const std::string& where, Format format);
  // "plain" or "json".
  static absl::StatusOr<Format> ParseFormat(absl::string_view name);
  ~AccessLog();

  // One line, written whole (thread-safe) and flushed.
  void Write(const AccessRecord& record);

  static std::string FormatPlain(const AccessRecord& record);
  static std::string FormatJson(const AccessRecord& record);

 private:
  AccessLog(std::FILE* file, bool owned, Format format)
      : file_(file), owned_(owned), format_(format) {}

  Mutex mu_;
  std::FILE* const file_ ABSL_PT_GUARDED_BY(mu_);
  const bool owned_;
  const Format format_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_CORE_ACCESS_LOG_H_
