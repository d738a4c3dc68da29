// Server reflection, as grpcurl uses it: both API versions, every service
// describable, and batch.proto's comments carried along (what `grpcurl
// describe` prints).
#include <map>
#include <memory>
#include <set>
#include <string>

#include "google/protobuf/descriptor.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/rpc/builtin_server.h"
#include "src/proto/grpc/reflection/v1/reflection.grpc.pb.h"
#include "src/proto/grpc/reflection/v1alpha/reflection.grpc.pb.h"

namespace batchexec {
namespace {

namespace v1r = grpc::reflection::v1;
namespace v1a = grpc::reflection::v1alpha;

class ReflectionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto server = StartBuiltinServer({});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
    channel_ = grpc::CreateChannel(server_->target(),
                                   grpc::InsecureChannelCredentials());
  }

  // One request over a v1 stream.
  v1r::ServerReflectionResponse AskV1(const v1r::ServerReflectionRequest& r) {
    auto stub = v1r::ServerReflection::NewStub(channel_);
    grpc::ClientContext context;
    auto stream = stub->ServerReflectionInfo(&context);
    EXPECT_TRUE(stream->Write(r));
    stream->WritesDone();
    v1r::ServerReflectionResponse response;
    EXPECT_TRUE(stream->Read(&response));
    EXPECT_TRUE(stream->Finish().ok());
    return response;
  }

  // The files of a symbol's answer, by name.
  std::map<std::string, google::protobuf::FileDescriptorProto> FilesOf(
      const std::string& symbol) {
    v1r::ServerReflectionRequest r;
    r.set_file_containing_symbol(symbol);
    v1r::ServerReflectionResponse response = AskV1(r);
    std::map<std::string, google::protobuf::FileDescriptorProto> files;
    for (const auto& bytes :
         response.file_descriptor_response().file_descriptor_proto()) {
      google::protobuf::FileDescriptorProto f;
      EXPECT_TRUE(f.ParseFromString(bytes));
      files[f.name()] = f;
    }
    return files;
  }

  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(ReflectionTest, ListsEveryServiceOnBothVersions) {
  const std::set<std::string> expected = {
      "batchexec.v1.BatchExecutor", "grpc.health.v1.Health",
      "grpc.reflection.v1.ServerReflection",
      "grpc.reflection.v1alpha.ServerReflection"};
  v1r::ServerReflectionRequest r;
  r.set_list_services("");
  std::set<std::string> v1_names;
  const v1r::ServerReflectionResponse listed = AskV1(r);
  for (const auto& s : listed.list_services_response().service()) {
    v1_names.insert(s.name());
  }
  EXPECT_EQ(v1_names, expected);

  auto stub = v1a::ServerReflection::NewStub(channel_);
  grpc::ClientContext context;
  auto stream = stub->ServerReflectionInfo(&context);
  v1a::ServerReflectionRequest old;
  old.set_list_services("");
  ASSERT_TRUE(stream->Write(old));
  stream->WritesDone();
  v1a::ServerReflectionResponse response;
  ASSERT_TRUE(stream->Read(&response));
  std::set<std::string> alpha_names;
  for (const auto& s : response.list_services_response().service()) {
    alpha_names.insert(s.name());
  }
  EXPECT_EQ(alpha_names, expected);
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ReflectionTest, DescribesTheServiceWithItsCommentsAndImports) {
  auto files = FilesOf("batchexec.v1.BatchExecutor");
  ASSERT_TRUE(files.count("batchexec/v1/batch.proto"));
  EXPECT_TRUE(files.count("google/protobuf/struct.proto"));
  EXPECT_TRUE(files.count("google/protobuf/duration.proto"));
  const auto& batch = files["batchexec/v1/batch.proto"];
  bool documented = false;
  for (const auto& location : batch.source_code_info().location()) {
    documented |=
        location.leading_comments().find(
            "Runs a batch and streams its events") != std::string::npos;
  }
  EXPECT_TRUE(documented) << "batch.proto came without its comments";
}

TEST_F(ReflectionTest, DescribesHealthAndMessages) {
  EXPECT_FALSE(FilesOf("grpc.health.v1.Health").empty());
  EXPECT_FALSE(FilesOf("batchexec.v1.ExecuteRequest").empty());
  v1r::ServerReflectionRequest r;
  r.set_file_containing_symbol("no.such.Symbol");
  EXPECT_EQ(AskV1(r).error_response().error_code(),
            grpc::StatusCode::NOT_FOUND);
}

}  // namespace
}  // namespace batchexec
