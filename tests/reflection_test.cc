// Server reflection, as grpcurl uses it: both API versions, every service
// describable, and batch.proto's comments carried along (what `grpcurl
// describe` prints).
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "google/protobuf/descriptor.pb.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/core/limits.h"
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

// A 400k-character symbol: protobuf 3.21's lookup of it took about a minute
// (quadratic in the length), on gRPC's thread under the pool's mutex.
const std::string& GiantName() {
  static const std::string* name =
      new std::string("batchexec.v1." + std::string(400'000 - 13, 'a'));
  return *name;
}

TEST_F(ReflectionTest, NamesPastTheLimitAreRefusedAtOnceNamingIt) {
  const std::string at_limit(kMaxReflectionNameLength, 'a');
  const std::string past_limit(kMaxReflectionNameLength + 1, 'a');
  auto stub = v1r::ServerReflection::NewStub(channel_);
  grpc::ClientContext context;
  auto stream = stub->ServerReflectionInfo(&context);
  auto ask = [&](const v1r::ServerReflectionRequest& r) {
    EXPECT_TRUE(stream->Write(r));
    v1r::ServerReflectionResponse response;
    EXPECT_TRUE(stream->Read(&response));
    return response;
  };
  // Every kind of name, past the limit by one and far past it.
  for (const std::string* name : {&past_limit, &GiantName()}) {
    std::vector<v1r::ServerReflectionRequest> requests(4);
    requests[0].set_file_containing_symbol(*name);
    requests[1].set_file_by_filename(*name);
    requests[2].mutable_file_containing_extension()->set_containing_type(*name);
    requests[3].set_all_extension_numbers_of_type(*name);
    for (const auto& r : requests) {
      const absl::Time start = absl::Now();
      const v1r::ServerReflectionResponse response = ask(r);
      const absl::Duration took = absl::Now() - start;
      EXPECT_EQ(response.error_response().error_code(),
                grpc::StatusCode::INVALID_ARGUMENT)
          << r.message_request_case();
      EXPECT_TRUE(absl::StrContains(response.error_response().error_message(),
                                    "kMaxReflectionNameLength"))
          << response.error_response().error_message();
      // Not echoed back: the answer stays small.
      EXPECT_LT(response.ByteSizeLong(), 1000u);
      EXPECT_LT(took, absl::Seconds(10)) << name->size();
    }
  }
  // At the limit the name is looked up (and not found); the stream went on
  // after the refusals.
  v1r::ServerReflectionRequest r;
  r.set_file_containing_symbol(at_limit);
  EXPECT_EQ(ask(r).error_response().error_code(), grpc::StatusCode::NOT_FOUND);
  r.set_file_containing_symbol("batchexec.v1.BatchExecutor");
  EXPECT_GT(ask(r).file_descriptor_response().file_descriptor_proto_size(), 0);
  stream->WritesDone();
  EXPECT_TRUE(stream->Finish().ok());
}

TEST_F(ReflectionTest, OversizedRequestIsRefusedNamingTheLimit) {
  v1r::ServerReflectionRequest r;
  r.set_host(std::string(kMaxReflectionRequestBytes, 'h'));
  r.set_list_services("");
  const v1r::ServerReflectionResponse response = AskV1(r);
  EXPECT_EQ(response.error_response().error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_TRUE(absl::StrContains(response.error_response().error_message(),
                                "kMaxReflectionRequestBytes"))
      << response.error_response().error_message();
  EXPECT_FALSE(response.has_list_services_response());
}

TEST_F(ReflectionTest, OneStreamAnswersUpToItsRequestCapThenEnds) {
  auto stub = v1r::ServerReflection::NewStub(channel_);
  grpc::ClientContext context;
  auto stream = stub->ServerReflectionInfo(&context);
  v1r::ServerReflectionRequest r;
  r.set_list_services("");
  v1r::ServerReflectionResponse response;
  for (int64_t i = 0; i < kMaxReflectionRequestsPerStream; ++i) {
    ASSERT_TRUE(stream->Write(r)) << i;
    ASSERT_TRUE(stream->Read(&response)) << i;
    ASSERT_GT(response.list_services_response().service_size(), 0) << i;
  }
  stream->Write(r);
  EXPECT_FALSE(stream->Read(&response));
  const grpc::Status status = stream->Finish();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_TRUE(absl::StrContains(status.error_message(),
                                "kMaxReflectionRequestsPerStream"))
      << status.error_message();
}

// Names right at the limit, shaped to cost the most that protobuf's lookup
// can: many scopes, a real package's prefix, no dots at all. Prints the
// slowest answer (the worst a lookup holds a gRPC thread and the pool's
// mutex for).
TEST_F(ReflectionTest, LookupsOfNamesAtTheLimitAreCheap) {
  const size_t n = kMaxReflectionNameLength;
  std::string dots;
  while (dots.size() + 2 < n) dots += "a.";
  dots += "a";
  auto pad = [&](std::string prefix) {
    prefix.resize(n, 'x');
    return prefix;
  };
  const std::vector<std::string> names = {
      dots, std::string(n, 'a'), std::string(n, '.'),
      pad("batchexec.v1.BatchExecutor."),
      pad("google.protobuf.FileDescriptorProto.")};
  // Warm up: the connection, and the pool's lazy build of the real files.
  EXPECT_FALSE(FilesOf("batchexec.v1.BatchExecutor").empty());
  absl::Duration worst;
  for (const std::string& name : names) {
    for (int kind = 0; kind < 3; ++kind) {
      v1r::ServerReflectionRequest r;
      if (kind == 0) r.set_file_containing_symbol(name);
      if (kind == 1) r.set_file_by_filename(name);
      if (kind == 2) r.set_all_extension_numbers_of_type(name);
      const absl::Time start = absl::Now();
      const v1r::ServerReflectionResponse response = AskV1(r);
      worst = std::max(worst, absl::Now() - start);
      EXPECT_EQ(response.error_response().error_code(),
                grpc::StatusCode::NOT_FOUND)
          << name.substr(0, 40) << " kind " << kind;
    }
  }
  std::cerr << "REFLECTION slowest answer for a " << n
            << "-character name: " << absl::FormatDuration(worst) << "\n";
  EXPECT_LT(worst, absl::Seconds(5));
}

// Three clients ask for giant names at once while a small batch runs beside
// them: all answer, and the server then shuts down promptly. Before the cap
// each lookup held a gRPC thread (and the pool's mutex) for about a minute:
// the batch got no answer in 30 s and SIGTERM waited past 15 s.
TEST_F(ReflectionTest, GiantLookupsLeaveBatchesAndShutdownPrompt) {
  auto giant_lookup = [&](absl::Duration* took) {
    auto stub = v1r::ServerReflection::NewStub(channel_);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    const absl::Time start = absl::Now();
    auto stream = stub->ServerReflectionInfo(&context);
    v1r::ServerReflectionRequest r;
    r.set_file_containing_symbol(GiantName());
    stream->Write(r);
    stream->WritesDone();
    v1r::ServerReflectionResponse response;
    EXPECT_TRUE(stream->Read(&response));
    EXPECT_EQ(response.error_response().error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
    EXPECT_TRUE(stream->Finish().ok());
    *took = absl::Now() - start;
  };
  auto small_batch = [&](absl::Duration* took) {
    auto stub = v1::BatchExecutor::NewStub(channel_);
    v1::ExecuteRequest request;
    for (int i = 0; i < 10; ++i) request.add_tasks()->set_kind("echo");
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() +
                         std::chrono::seconds(60));
    v1::GatherResponse response;
    const absl::Time start = absl::Now();
    const grpc::Status status = stub->Gather(&context, request, &response);
    *took = absl::Now() - start;
    EXPECT_TRUE(status.ok()) << status.error_message();
    EXPECT_EQ(response.results_size(), 10);
  };
  std::vector<absl::Duration> lookups(3);
  absl::Duration batch;
  {
    std::vector<std::thread> threads;
    for (auto& took : lookups) threads.emplace_back(giant_lookup, &took);
    threads.emplace_back(small_batch, &batch);
    for (auto& t : threads) t.join();
  }
  std::cerr << "REFLECTION three concurrent " << GiantName().size()
            << "-character lookups: " << absl::FormatDuration(lookups[0])
            << ", " << absl::FormatDuration(lookups[1]) << ", "
            << absl::FormatDuration(lookups[2])
            << "; a 10-task echo batch beside them: "
            << absl::FormatDuration(batch) << "\n";
  for (const absl::Duration took : lookups) {
    EXPECT_LT(took, absl::Seconds(10));
  }
  EXPECT_LT(batch, absl::Seconds(10));

  // Shutdown with giant lookups arriving meanwhile.
  std::vector<std::thread> late;
  for (int i = 0; i < 3; ++i) {
    late.emplace_back([&] {
      auto stub = v1r::ServerReflection::NewStub(channel_);
      grpc::ClientContext context;
      context.set_deadline(std::chrono::system_clock::now() +
                           std::chrono::seconds(60));
      auto stream = stub->ServerReflectionInfo(&context);
      v1r::ServerReflectionRequest r;
      r.set_file_containing_symbol(GiantName());
      stream->Write(r);
      v1r::ServerReflectionResponse response;
      stream->Read(&response);
      stream->WritesDone();
      stream->Finish();
    });
  }
  absl::SleepFor(absl::Milliseconds(50));
  const absl::Time start = absl::Now();
  server_->Shutdown(absl::Seconds(1));
  const absl::Duration shutdown = absl::Now() - start;
  for (auto& t : late) t.join();
  std::cerr << "REFLECTION shutdown with giant lookups open: "
            << absl::FormatDuration(shutdown) << "\n";
  EXPECT_LT(shutdown, absl::Seconds(10));
}

}  // namespace
}  // namespace batchexec
