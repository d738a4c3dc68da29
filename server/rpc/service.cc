#include "server/rpc/service.h"

#include <algorithm>
#include <string>

#include "common/grpc_status.h"
#include "server/rpc/execute_reactor.h"
#include "server/rpc/gather_reactor.h"

namespace batchexec {
namespace {

// Ends a streaming call at once with `status` (e.g. UNAUTHENTICATED).
class RejectedWriteReactor final
    : public grpc::ServerWriteReactor<grpc::ByteBuffer> {
 public:
  explicit RejectedWriteReactor(const grpc::Status& status) { Finish(status); }
  void OnDone() override { delete this; }
};

grpc::ServerUnaryReactor* Reject(grpc::CallbackServerContext* context,
                                 const absl::Status& status) {
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(ToGrpcStatus(status));
  return reactor;
}

}  // namespace

grpc::ServerWriteReactor<grpc::ByteBuffer>* BatchExecutorService::Execute(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request) {
  if (absl::Status s = auth_.Check(*context); !s.ok()) {
    return new RejectedWriteReactor(ToGrpcStatus(s));
  }
  return ExecuteReactor::Start(executor_, context, request,
                               auth_.IdentifyCaller(*context));
}

grpc::ServerUnaryReactor* BatchExecutorService::Gather(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  if (absl::Status s = auth_.Check(*context); !s.ok())
    return Reject(context, s);
  return GatherReactor::Start(executor_, context, request, response,
                              auth_.IdentifyCaller(*context));
}

grpc::ServerUnaryReactor* BatchExecutorService::ListTaskKinds(
    grpc::CallbackServerContext* context, const v1::ListTaskKindsRequest*,
    v1::ListTaskKindsResponse* response) {
  if (absl::Status s = auth_.Check(*context); !s.ok())
    return Reject(context, s);
  for (const TaskKind* kind : executor_.registry().List()) {
    v1::TaskKind* out = response->add_kinds();
    out->set_name(kind->name);
    out->set_description(kind->description);
    for (const ArgSpec& arg : kind->args) {
      v1::ArgumentSpec* a = out->add_args();
      a->set_name(arg.name);
      a->set_type(std::string(ArgTypeName(arg.type)));
      a->set_required(arg.required);
      a->set_description(arg.description);
    }
  }
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* BatchExecutorService::GetServerStats(
    grpc::CallbackServerContext* context, const v1::GetServerStatsRequest*,
    v1::ServerStats* response) {
  if (absl::Status s = auth_.Check(*context); !s.ok())
    return Reject(context, s);
  *response = executor_.Stats();
  // Only the caller's own row: other callers' names (token names,
  // certificate subjects, addresses) and loads are not its business. The
  // totals still count everyone.
  const std::string me = auth_.IdentifyCaller(*context).name;
  auto* rows = response->mutable_callers();
  rows->erase(std::remove_if(rows->begin(), rows->end(),
                             [&](const v1::CallerStats& row) {
                               return row.caller() != me;
                             }),
              rows->end());
  grpc::ServerUnaryReactor* reactor = context->DefaultReactor();
  reactor->Finish(grpc::Status::OK);
  return reactor;
}

}  // namespace batchexec
