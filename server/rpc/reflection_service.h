// gRPC server reflection (grpc.reflection.v1 and v1alpha), served from a
// descriptor pool that keeps batch.proto's comments, so that `grpcurl
// describe` shows what every field means. gRPC's own plugin serves the
// generated descriptors, which have the comments stripped.
#ifndef BATCHEXEC_SERVER_RPC_REFLECTION_SERVICE_H_
#define BATCHEXEC_SERVER_RPC_REFLECTION_SERVICE_H_

#include <memory>
#include <set>
#include <string>
#include <vector>

#include "google/protobuf/descriptor.h"
#include "google/protobuf/descriptor_database.h"
#include "grpcpp/grpcpp.h"
#include "src/proto/grpc/reflection/v1/reflection.grpc.pb.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace batchexec {

// What reflection knows: the server's service names, and every file linked
// into the binary, batch.proto with its source comments. Thread-safe.
class ReflectionDescriptors {
 public:
  explicit ReflectionDescriptors(std::vector<std::string> services);

  const std::vector<std::string>& services() const { return services_; }
  const google::protobuf::DescriptorPool& pool() const { return pool_; }

  // `file` (with its comments, where known) and those of its transitive
  // dependencies not in `sent`, serialized as FileDescriptorProtos.
  void AppendFile(const google::protobuf::FileDescriptor& file,
                  std::set<std::string>& sent,
                  std::vector<std::string>& out) const;

 private:
  std::vector<std::string> services_;
  google::protobuf::SimpleDescriptorDatabase annotated_;
  google::protobuf::DescriptorPoolDatabase generated_;
  google::protobuf::MergedDescriptorDatabase merged_;
  mutable google::protobuf::DescriptorPool pool_;
};

class ReflectionV1Service final
    : public grpc::reflection::v1::ServerReflection::CallbackService {
 public:
  explicit ReflectionV1Service(const ReflectionDescriptors& d) : d_(d) {}
  grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                          grpc::reflection::v1::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

 private:
  const ReflectionDescriptors& d_;
};

class ReflectionV1AlphaService final
    : public grpc::reflection::v1alpha::ServerReflection::CallbackService {
 public:
  explicit ReflectionV1AlphaService(const ReflectionDescriptors& d) : d_(d) {}
  grpc::ServerBidiReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                          grpc::reflection::v1alpha::ServerReflectionResponse>*
  ServerReflectionInfo(grpc::CallbackServerContext* context) override;

 private:
  const ReflectionDescriptors& d_;
};

}  // namespace batchexec

#endif  // BATCHEXEC_SERVER_RPC_REFLECTION_SERVICE_H_
