// The Gather call: a unary reactor that is also the batch's sink. Results
// are stored by index as they end; the response goes out once, in request
// order, when the batch is done.
#ifndef BATCHEXEC_SERVER_GATHER_REACTOR_H_
#define BATCHEXEC_SERVER_GATHER_REACTOR_H_

#include <memory>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "common/mutex.h"
#include "grpcpp/grpcpp.h"
#include "server/batch.h"
#include "server/executor.h"

namespace batchexec {

class GatherReactor final : public grpc::ServerUnaryReactor,
                            public BatchSink,
                            public std::enable_shared_from_this<GatherReactor> {
 public:
  static GatherReactor* Start(Executor& executor,
                              grpc::CallbackServerContext* context,
                              const v1::ExecuteRequest* request,
                              v1::GatherResponse* response);

  // BatchSink
  void OnResult(v1::TaskResult result, const v1::Progress& progress) override;
  void OnDone(const v1::Summary& summary,
              const absl::Status& call_status) override;
  void Flush() override;

  // grpc::ServerUnaryReactor
  void OnCancel() override;
  void OnDone() override;

 private:
  explicit GatherReactor(v1::GatherResponse* response) : response_(response) {}
  void Begin(Executor& executor, grpc::CallbackServerContext* context,
             const v1::ExecuteRequest* request);

  std::shared_ptr<GatherReactor> self_;  // dropped in OnDone
  v1::GatherResponse* const response_;   // gRPC's, valid until OnDone
  Mutex mu_;
  std::shared_ptr<Batch> batch_ ABSL_GUARDED_BY(mu_);
  bool batch_done_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status call_status_ ABSL_GUARDED_BY(mu_);  // set by OnDone
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_GATHER_REACTOR_H_
