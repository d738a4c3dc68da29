#include "server/tasks/grpc_channel_cache.h"

namespace batchexec {

std::shared_ptr<grpc::Channel> GrpcChannelCache::Get(const std::string& key,
                                                     const Factory& make) {
  std::shared_ptr<grpc::Channel> evicted;  // released after the lock
  MutexLock lock(&mu_);
  if (auto it = index_.find(key); it != index_.end()) {
    entries_.splice(entries_.begin(), entries_, it->second);
    return it->second->second;
  }
  if (max_entries_ > 0 && entries_.size() >= max_entries_) {
    evicted = std::move(entries_.back().second);
    index_.erase(entries_.back().first);
    entries_.pop_back();
  }
  entries_.emplace_front(key, make());
  index_[key] = entries_.begin();
  return entries_.front().second;
}

size_t GrpcChannelCache::size() const {
  MutexLock lock(&mu_);
  return entries_.size();
}

}  // namespace batchexec
