#include "server/rpc/reflection_service.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "google/protobuf/descriptor.pb.h"
#include "proto/batch_descriptor_set.h"
#include "server/core/limits.h"

namespace batchexec {
namespace {

using google::protobuf::Descriptor;
using google::protobuf::FileDescriptor;

// One reflection stream: answers each request in turn. The two API versions
// share their message shapes, so one template serves both.
template <typename Request, typename Response>
class ReflectionReactor final
    : public grpc::ServerBidiReactor<Request, Response> {
 public:
  explicit ReflectionReactor(const ReflectionDescriptors& d) : d_(d) {
    this->StartRead(&request_);
  }
  void OnReadDone(bool ok) override {
    if (!ok) return this->Finish(grpc::Status::OK);  // client done
    if (++requests_ > kMaxReflectionRequestsPerStream) {
      return this->Finish(grpc::Status(
          grpc::StatusCode::RESOURCE_EXHAUSTED,
          absl::StrCat("more than ", kMaxReflectionRequestsPerStream,
                       " requests on one reflection stream "
                       "(kMaxReflectionRequestsPerStream): open a new one")));
    }
    response_.Clear();
    if (std::string why = WhyRefused(); !why.empty()) {
      // Not echoed: an oversized request would come back whole.
      Error(grpc::INVALID_ARGUMENT, why);
    } else {
      Answer();
    }
    this->StartWrite(&response_);
  }
  void OnWriteDone(bool ok) override {
    if (!ok) return this->Finish(grpc::Status::OK);  // client gone
    this->StartRead(&request_);
  }
  void OnDone() override { delete this; }

 private:
  void Error(grpc::StatusCode code, const std::string& message) {
    auto* e = response_.mutable_error_response();
    e->set_error_code(code);
    e->set_error_message(message);
  }
  void SendFile(const FileDescriptor* file, const std::string& what) {
    if (file == nullptr) return Error(grpc::NOT_FOUND, what + " not found");
    std::vector<std::string> protos;
    sent_.erase(file->name());  // the asked-for file always comes back
    d_.AppendFile(*file, sent_, protos);
    auto* out = response_.mutable_file_descriptor_response();
    for (auto& p : protos) out->add_file_descriptor_proto(std::move(p));
  }
  // Why the request is refused before any lookup, or "": past the size
  // cap, or a name past the name cap (their lookups cost the square of the
  // name's length under the pool's mutex).
  std::string WhyRefused() const {
    const std::string* name = nullptr;
    const char* what = "";
    switch (request_.message_request_case()) {
      case Request::kFileByFilename:
        name = &request_.file_by_filename(), what = "file name";
        break;
      case Request::kFileContainingSymbol:
        name = &request_.file_containing_symbol(), what = "symbol";
        break;
      case Request::kFileContainingExtension:
        name = &request_.file_containing_extension().containing_type();
        what = "extension's containing type";
        break;
      case Request::kAllExtensionNumbersOfType:
        name = &request_.all_extension_numbers_of_type(), what = "type name";
        break;
      default:
        break;
    }
    // The name first: the more telling reason when both hold.
    if (name != nullptr &&
        name->size() > static_cast<size_t>(kMaxReflectionNameLength)) {
      return absl::StrCat(
          what, " of ", name->size(), " characters is over the limit of ",
          kMaxReflectionNameLength, " (kMaxReflectionNameLength)");
    }
    if (const size_t size = request_.ByteSizeLong();
        size > static_cast<size_t>(kMaxReflectionRequestBytes)) {
      return absl::StrCat(
          "reflection request of ", size, " bytes is over the limit of ",
          kMaxReflectionRequestBytes, " (kMaxReflectionRequestBytes)");
    }
    return "";
  }
  void Answer() {
    response_.set_valid_host(request_.host());
    *response_.mutable_original_request() = request_;
    const auto& pool = d_.pool();
    switch (request_.message_request_case()) {
      case Request::kFileByFilename:
        return SendFile(pool.FindFileByName(request_.file_by_filename()),
                        "file " + request_.file_by_filename());
      case Request::kFileContainingSymbol:
        return SendFile(
            pool.FindFileContainingSymbol(request_.file_containing_symbol()),
            "symbol " + request_.file_containing_symbol());
      case Request::kFileContainingExtension: {
        const auto& ext = request_.file_containing_extension();
        const Descriptor* type =
            pool.FindMessageTypeByName(ext.containing_type());
        const auto* field = type == nullptr ? nullptr
                                            : pool.FindExtensionByNumber(
                                                  type, ext.extension_number());
        return SendFile(field == nullptr ? nullptr : field->file(),
                        absl::StrCat("extension ", ext.extension_number(),
                                     " of ", ext.containing_type()));
      }
      case Request::kAllExtensionNumbersOfType: {
        const std::string& name = request_.all_extension_numbers_of_type();
        const Descriptor* type = pool.FindMessageTypeByName(name);
        if (type == nullptr)
          return Error(grpc::NOT_FOUND, "type " + name + " not found");
        std::vector<const google::protobuf::FieldDescriptor*> extensions;
        pool.FindAllExtensions(type, &extensions);
        auto* out = response_.mutable_all_extension_numbers_response();
        out->set_base_type_name(name);
        for (const auto* e : extensions) out->add_extension_number(e->number());
        return;
      }
      case Request::kListServices:
        for (const std::string& s : d_.services()) {
          response_.mutable_list_services_response()->add_service()->set_name(
              s);
        }
        return;
      default:
        return Error(grpc::INVALID_ARGUMENT, "empty reflection request");
    }
  }

  const ReflectionDescriptors& d_;
  Request request_;
  Response response_;
  std::set<std::string> sent_;  // files this stream has already sent
  int64_t requests_ = 0;        // read on this stream so far
};

}  // namespace

ReflectionDescriptors::ReflectionDescriptors(std::vector<std::string> services)
    : services_(std::move(services)),
      generated_(*google::protobuf::DescriptorPool::generated_pool()),
      merged_(&annotated_, &generated_),
      pool_(&merged_) {
  google::protobuf::FileDescriptorSet set;
  if (set.ParseFromArray(kBatchDescriptorSet,
                         static_cast<int>(kBatchDescriptorSetSize))) {
    for (const auto& file : set.file()) annotated_.Add(file);
  }
}

void ReflectionDescriptors::AppendFile(const FileDescriptor& file,
                                       std::set<std::string>& sent,
                                       std::vector<std::string>& out) const {
  if (!sent.insert(file.name()).second) return;
  google::protobuf::FileDescriptorProto proto;
  file.CopyTo(&proto);
  file.CopySourceCodeInfoTo(&proto);
  out.push_back(proto.SerializeAsString());
  for (int i = 0; i < file.dependency_count(); ++i) {
    AppendFile(*file.dependency(i), sent, out);
  }
}

grpc::ServerBidiReactor<grpc::reflection::v1::ServerReflectionRequest,
                        grpc::reflection::v1::ServerReflectionResponse>*
ReflectionV1Service::ServerReflectionInfo(grpc::CallbackServerContext*) {
  return new ReflectionReactor<grpc::reflection::v1::ServerReflectionRequest,
                               grpc::reflection::v1::ServerReflectionResponse>(
      d_);
}

grpc::ServerBidiReactor<grpc::reflection::v1alpha::ServerReflectionRequest,
                        grpc::reflection::v1alpha::ServerReflectionResponse>*
ReflectionV1AlphaService::ServerReflectionInfo(grpc::CallbackServerContext*) {
  return new ReflectionReactor<
      grpc::reflection::v1alpha::ServerReflectionRequest,
      grpc::reflection::v1alpha::ServerReflectionResponse>(d_);
}

}  // namespace batchexec
