#include "server/core/heap_gauge.h"

#include <utility>

#include "common/process_memory.h"

namespace batchexec {

HeapGauge::HeapGauge(Reader read, absl::Duration max_age, Clock now)
    : read_(read != nullptr ? std::move(read) : Reader(HeapInUseBytes)),
      max_age_(max_age),
      now_(std::move(now)) {}

int64_t HeapGauge::Get() {
  MutexLock lock(&mu_);
  const absl::Time now = now_();
  // A clock that went back counts as stale too.
  if (now < read_at_ || now - read_at_ >= max_age_) {
    bytes_ = read_();
    read_at_ = now;
  }
  return bytes_;
}

}  // namespace batchexec
