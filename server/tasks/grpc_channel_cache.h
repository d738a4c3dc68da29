// A bounded cache of client channels, so that repeated checks of one target
// reuse its connection instead of opening one per task. Oldest-used entries
// are evicted past the bound; calls in flight keep their channel alive.
//
// Thread-safe.
#ifndef BATCHEXEC_SERVER_TASKS_GRPC_CHANNEL_CACHE_H_
#define BATCHEXEC_SERVER_TASKS_GRPC_CHANNEL_CACHE_H_

#include <cstddef>
#include <functional>
#include <list>
#include <memory>
#include <string>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "common/mutex.h"
#include "grpcpp/channel.h"

namespace batchexec {

// Their idle connections hold descriptors outside the socket budget, so the
// bound is counted in the server's socket reserve (core/limits.h).
inline constexpr size_t kDefaultMaxCachedChannels = 32;

class GrpcChannelCache {
 public:
  using Factory = std::function<std::shared_ptr<grpc::Channel>()>;

  explicit GrpcChannelCache(size_t max_entries = kDefaultMaxCachedChannels)
      : max_entries_(max_entries) {}

  // The channel cached under `key`, or a new one from `make` (called under
  // the cache's lock: it must only build the channel, which connects
  // lazily).
  std::shared_ptr<grpc::Channel> Get(const std::string& key,
                                     const Factory& make);

  size_t size() const;

 private:
  using Entry = std::pair<std::string, std::shared_ptr<grpc::Channel>>;

  const size_t max_entries_;
  mutable Mutex mu_;
  std::list<Entry> entries_ ABSL_GUARDED_BY(mu_);  // most recently used first
  absl::flat_hash_map<std::string, std::list<Entry>::iterator> index_
      ABSL_GUARDED_BY(mu_);
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_TASKS_GRPC_CHANNEL_CACHE_H_
