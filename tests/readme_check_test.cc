// Keeps README.md's and docs/*.md's grpcurl examples true to the wire
// contract: every `Service/Method` they call exists, every `list`/`describe`
// symbol exists, and every `-d '{...}'` body parses as the method's request
// in proto3 JSON — what grpcurl itself would do with the descriptors it gets
// by reflection — so field names and enum names in the docs are real.
//
// Their C++ snippets must be C++17: no designated initializers. Every
// relative link in them (`[text](path)`, `path#anchor`, `#anchor`) must
// name a file of the repository and, for an anchor, a heading of that file
// (GitHub's slug). README.md stays a front page: at most 300 lines.
//
// Reads $BATCHEXEC_README alone if set (to check a draft:
//   BATCHEXEC_README=path/to/draft.md bazel-bin/tests/readme_check_test),
// else README.md and docs/*.md in the working directory: the runfiles root
// under `bazel test`, whose files link back to the source tree, where link
// targets are looked up.
#include <google/protobuf/descriptor.h>
#include <google/protobuf/descriptor.pb.h>
#include <google/protobuf/dynamic_message.h>
#include <google/protobuf/message.h>
#include <google/protobuf/text_format.h>
#include <google/protobuf/util/json_util.h>

#include <algorithm>
#include <cctype>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <memory>
#include <regex>
#include <sstream>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "batchexec/v1/batch.pb.h"
#include "gtest/gtest.h"

namespace {

using ::google::protobuf::Descriptor;
using ::google::protobuf::DescriptorPool;
using ::google::protobuf::DynamicMessageFactory;
using ::google::protobuf::FileDescriptorProto;
using ::google::protobuf::Message;
using ::google::protobuf::MethodDescriptor;
using ::google::protobuf::ServiceDescriptor;

// One grpcurl command line of the README, continuation lines joined.
struct GrpcurlCommand {
  int line = 0;      // 1-based line of the file where the command starts
  std::string text;  // as written, for messages
  std::vector<std::string> words;
};

// What grpcurl does with a command: its positional arguments and -d body.
struct GrpcurlCall {
  std::string address;
  std::string verb;    // "list", "describe", or empty for a method call
  std::string symbol;  // the method, or the list/describe argument
  bool has_data = false;
  std::string data;  // the -d body
};

std::string_view TrimLeft(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) {
    s.remove_prefix(1);
  }
  return s;
}

std::string_view TrimRight(std::string_view s) {
  while (!s.empty() &&
         (s.back() == ' ' || s.back() == '\t' || s.back() == '\r')) {
    s.remove_suffix(1);
  }
  return s;
}

// Splits a shell command line into words the way sh would for a grpcurl
// invocation: '...' literally, "..." with \" \\ \$ \` escapes, backslash
// escapes outside quotes. Stops at an unquoted | ; & < > or # comment.
// Returns false on an unterminated quote.
bool SplitShellWords(std::string_view text, std::vector<std::string>* words) {
  words->clear();
  std::string word;
  bool in_word = false;
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == ' ' || c == '\t' || c == '\n') {
      if (in_word) words->push_back(word);
      word.clear();
      in_word = false;
    } else if (c == '\'') {
      const size_t end = text.find('\'', i + 1);
      if (end == std::string_view::npos) return false;
      word.append(text.substr(i + 1, end - i - 1));
      in_word = true;
      i = end;
    } else if (c == '"') {
      in_word = true;
      for (++i;; ++i) {
        if (i >= text.size()) return false;
        if (text[i] == '"') break;
        if (text[i] == '\\' && i + 1 < text.size() &&
            std::string_view("\"\\$`").find(text[i + 1]) !=
                std::string_view::npos) {
          ++i;
        }
        word.push_back(text[i]);
      }
    } else if (c == '\\' && i + 1 < text.size()) {
      word.push_back(text[++i]);
      in_word = true;
    } else if (std::string_view("|;&<>").find(c) != std::string_view::npos ||
               (c == '#' && !in_word)) {
      break;
    } else {
      word.push_back(c);
      in_word = true;
    }
  }
  if (in_word) words->push_back(word);
  return true;
}

// The grpcurl commands of a Markdown text: lines starting with `grpcurl`
// (after an optional "$ " prompt) inside ``` or ~~~ fenced code blocks, with
// the lines that continue them.
std::vector<GrpcurlCommand> FindGrpcurlCommands(std::string_view markdown) {
  std::vector<GrpcurlCommand> commands;
  std::string fence;  // the open fence ("```", "~~~~", ...), empty outside
  std::istringstream lines{std::string(markdown)};
  std::string raw;
  int line_number = 0;
  while (std::getline(lines, raw)) {
    ++line_number;
    std::string_view line = TrimRight(raw);
    const std::string_view trimmed = TrimLeft(line);
    if (trimmed.rfind("```", 0) == 0 || trimmed.rfind("~~~", 0) == 0) {
      const size_t length = trimmed.find_first_not_of(trimmed[0]);
      const std::string_view marker = trimmed.substr(0, length);
      if (fence.empty()) {
        fence = std::string(marker);
      } else if (marker[0] == fence[0] && marker.size() >= fence.size() &&
                 length == std::string_view::npos) {
        fence.clear();  // a closing fence carries nothing after the marker
      }
      continue;
    }
    if (fence.empty()) continue;

    std::string_view first = TrimLeft(line);
    if (first.rfind("$ ", 0) == 0) first = TrimLeft(first.substr(2));
    if (first.rfind("grpcurl", 0) != 0 ||
        (first.size() > 7 && first[7] != ' ' && first[7] != '\t')) {
      continue;
    }
    GrpcurlCommand found;
    found.line = line_number;
    found.text = std::string(first);
    // The command goes on past a line ending in a backslash, and past the end
    // of a line inside quotes (a -d '{...}' body over several lines).
    for (;;) {
      const bool continued = found.text.back() == '\\';
      if (!continued && SplitShellWords(found.text, &found.words)) break;
      if (!std::getline(lines, raw)) {
        found.words.clear();  // unbalanced quotes at the end of the file
        break;
      }
      ++line_number;
      if (continued) {
        found.text.pop_back();
        found.text.append(" ").append(TrimLeft(TrimRight(raw)));
      } else {
        found.text.append("\n").append(TrimRight(raw));
      }
    }
    commands.push_back(std::move(found));
  }
  return commands;
}

// grpcurl's flags (as of v1.8), by whether they take a value; each name is
// between spaces.
constexpr std::string_view kValueFlags =
    " H rpc-header reflect-header d cacert cert key authority servername format"
    " connect-timeout keepalive-time max-time max-msg-sz protoset protoset-out"
    " proto import-path user-agent alts-handshaker-service"
    " alts-target-service-account ";
constexpr std::string_view kBoolFlags =
    " plaintext insecure v vv emit-defaults allow-unknown-fields format-error"
    " msg-template expand-headers use-reflection unix alts help version ";

bool IsFlagIn(std::string_view flags, const std::string& name) {
  return flags.find(" " + name + " ") != std::string_view::npos;
}

// Interprets the words of a command as grpcurl would (Go's flag package:
// flags first, `-f value` or `-f=value`, one or two dashes). Returns the
// problems found; fills `call` when there are none.
std::vector<std::string> ParseGrpcurl(const GrpcurlCommand& command,
                                      GrpcurlCall* call) {
  if (command.words.empty()) return {"unbalanced quotes"};
  std::vector<std::string> problems;
  std::vector<std::string> positional;
  const std::vector<std::string>& words = command.words;
  for (size_t i = 1; i < words.size(); ++i) {
    const std::string& word = words[i];
    if (!positional.empty() || word.size() < 2 || word[0] != '-') {
      if (word.size() > 1 && word[0] == '-') {
        problems.push_back("flag " + word +
                           " after the address: grpcurl reads flags first");
      }
      positional.push_back(word);
      continue;
    }
    std::string name = word.substr(word[1] == '-' ? 2 : 1);
    std::string value;
    const size_t equals = name.find('=');
    const bool inline_value = equals != std::string::npos;
    if (inline_value) {
      value = name.substr(equals + 1);
      name.resize(equals);
    }
    if (IsFlagIn(kValueFlags, name)) {
      if (!inline_value) {
        if (i + 1 == words.size()) {
          problems.push_back("flag -" + name + " has no value");
          break;
        }
        value = words[++i];
      }
      if (name == "d") {
        call->has_data = true;
        call->data = value;
      }
    } else if (!IsFlagIn(kBoolFlags, name)) {
      problems.push_back("unknown grpcurl flag -" + name);
    }
  }
  if (positional.size() < 2) {
    problems.push_back("expected an address and a method, list or describe");
    return problems;
  }
  call->address = positional[0];
  if (positional[1] == "list" || positional[1] == "describe") {
    call->verb = positional[1];
    if (positional.size() > 3) problems.push_back("too many arguments");
    if (positional.size() == 3) call->symbol = positional[2];
    if (call->has_data) problems.push_back("-d with " + call->verb);
  } else {
    call->symbol = positional[1];
    if (positional.size() > 2) problems.push_back("too many arguments");
  }
  return problems;
}

// The services the server takes from gRPC itself. gRPC C++ builds them
// without libprotobuf, so their descriptors are not in the generated pool;
// these are the parts of grpc/health/v1/health.proto and
// grpc/reflection/v1alpha/reflection.proto a README request may use.
constexpr char kHealthProto[] = R"pb(
  name: "grpc/health/v1/health.proto"
  package: "grpc.health.v1"
  syntax: "proto3"
  message_type {
    name: "HealthCheckRequest"
    field {
      name: "service"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      json_name: "service"
    }
  }
  message_type {
    name: "HealthCheckResponse"
    field {
      name: "status"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_ENUM
      type_name: ".grpc.health.v1.HealthCheckResponse.ServingStatus"
      json_name: "status"
    }
    enum_type {
      name: "ServingStatus"
      value { name: "UNKNOWN" number: 0 }
      value { name: "SERVING" number: 1 }
      value { name: "NOT_SERVING" number: 2 }
      value { name: "SERVICE_UNKNOWN" number: 3 }
    }
  }
  service {
    name: "Health"
    method {
      name: "Check"
      input_type: ".grpc.health.v1.HealthCheckRequest"
      output_type: ".grpc.health.v1.HealthCheckResponse"
    }
    method {
      name: "Watch"
      input_type: ".grpc.health.v1.HealthCheckRequest"
      output_type: ".grpc.health.v1.HealthCheckResponse"
      server_streaming: true
    }
  }
)pb";

constexpr char kReflectionProto[] = R"pb(
  name: "grpc/reflection/v1alpha/reflection.proto"
  package: "grpc.reflection.v1alpha"
  syntax: "proto3"
  message_type {
    name: "ServerReflectionRequest"
    field {
      name: "host"
      number: 1
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      json_name: "host"
    }
    field {
      name: "file_by_filename"
      number: 3
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      oneof_index: 0
      json_name: "fileByFilename"
    }
    field {
      name: "file_containing_symbol"
      number: 4
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      oneof_index: 0
      json_name: "fileContainingSymbol"
    }
    field {
      name: "all_extension_numbers_of_type"
      number: 6
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      oneof_index: 0
      json_name: "allExtensionNumbersOfType"
    }
    field {
      name: "list_services"
      number: 7
      label: LABEL_OPTIONAL
      type: TYPE_STRING
      oneof_index: 0
      json_name: "listServices"
    }
    oneof_decl { name: "message_request" }
  }
  message_type { name: "ServerReflectionResponse" }
  service {
    name: "ServerReflection"
    method {
      name: "ServerReflectionInfo"
      input_type: ".grpc.reflection.v1alpha.ServerReflectionRequest"
      output_type: ".grpc.reflection.v1alpha.ServerReflectionResponse"
      client_streaming: true
      server_streaming: true
    }
  }
)pb";

const DescriptorPool& GrpcServicesPool() {
  static const DescriptorPool* pool = [] {
    auto* pool = new DescriptorPool;
    for (const char* text : {kHealthProto, kReflectionProto}) {
      FileDescriptorProto file;
      if (!google::protobuf::TextFormat::ParseFromString(text, &file) ||
          pool->BuildFile(file) == nullptr) {
        ADD_FAILURE() << "bad built-in descriptor:\n" << text;
      }
    }
    return pool;
  }();
  return *pool;
}

// The pools grpcurl would see through the server's reflection: batchexec's
// generated descriptors (naming a generated type also links them in), then
// gRPC's own services.
std::vector<const DescriptorPool*> Pools() {
  return {batchexec::v1::ExecuteRequest::descriptor()->file()->pool(),
          &GrpcServicesPool()};
}

const MethodDescriptor* FindMethod(const std::string& name) {
  // grpcurl accepts Service/Method and Service.Method.
  size_t split = name.rfind('/');
  if (split == std::string::npos) split = name.rfind('.');
  if (split == std::string::npos) return nullptr;
  for (const DescriptorPool* pool : Pools()) {
    const ServiceDescriptor* service =
        pool->FindServiceByName(name.substr(0, split));
    if (service != nullptr) {
      return service->FindMethodByName(name.substr(split + 1));
    }
  }
  return nullptr;
}

bool SymbolExists(std::string name) {
  if (!name.empty() && name[0] == '.') name.erase(0, 1);
  for (const DescriptorPool* pool : Pools()) {
    if (pool->FindServiceByName(name) || pool->FindMethodByName(name) ||
        pool->FindMessageTypeByName(name) || pool->FindEnumTypeByName(name) ||
        pool->FindFieldByName(name) || pool->FindEnumValueByName(name)) {
      return true;
    }
  }
  return false;
}

// Parses `json` as grpcurl would send it: proto3 JSON of `type`, unknown
// fields and enum names rejected. Returns an error, or empty.
std::string JsonParseError(const Descriptor& type, const std::string& json) {
  DynamicMessageFactory factory;
  factory.SetDelegateToGeneratedFactory(true);
  std::unique_ptr<Message> message(factory.GetPrototype(&type)->New());
  const auto status =
      google::protobuf::util::JsonStringToMessage(json, message.get());
  return status.ok() ? "" : status.ToString();
}

// Every way `command` does not match the wire contract; empty if none.
std::vector<std::string> CheckCommand(const GrpcurlCommand& command) {
  GrpcurlCall call;
  std::vector<std::string> problems = ParseGrpcurl(command, &call);
  if (!problems.empty()) return problems;
  if (!call.verb.empty()) {
    if (!call.symbol.empty() && !SymbolExists(call.symbol)) {
      problems.push_back("no such service or symbol: " + call.symbol);
    }
    return problems;
  }
  const MethodDescriptor* method = FindMethod(call.symbol);
  if (method == nullptr) {
    problems.push_back("no such method: " + call.symbol);
    return problems;
  }
  // grpcurl sends an empty request without -d.
  if (call.has_data) {
    const std::string error = JsonParseError(*method->input_type(), call.data);
    if (!error.empty()) {
      problems.push_back("-d is not a " + method->input_type()->full_name() +
                         ": " + error);
    }
  }
  return problems;
}

std::string Describe(const std::vector<std::string>& problems) {
  std::string out;
  for (const std::string& problem : problems) out += "\n  " + problem;
  return out;
}

// The documentation files to check: $BATCHEXEC_README alone, else README.md
// and docs/*.md (sorted).
std::vector<std::string> DocPaths() {
  const char* path = std::getenv("BATCHEXEC_README");
  if (path != nullptr && *path != '\0') return {path};
  std::vector<std::string> paths;
  std::error_code error;
  for (const auto& entry : std::filesystem::directory_iterator("docs", error)) {
    if (entry.path().extension() == ".md") {
      paths.push_back(entry.path().generic_string());
    }
  }
  if (error) ADD_FAILURE() << "cannot list docs/: " << error.message();
  std::sort(paths.begin(), paths.end());
  paths.insert(paths.begin(), "README.md");
  return paths;
}

std::string ReadText(const std::string& path) {
  std::ifstream file(path);
  if (!file) {
    ADD_FAILURE() << "cannot read " << path;
    return "";
  }
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

TEST(ReadmeGrpcurl, ReadmeHasExamples) {
  size_t found = 0;
  for (const std::string& path : DocPaths()) {
    found += FindGrpcurlCommands(ReadText(path)).size();
  }
  EXPECT_GT(found, 0u)
      << "no grpcurl example in a fenced code block of README.md or docs/; "
         "they should show list, describe and a call of each RPC.";
}

TEST(ReadmeGrpcurl, ExamplesMatchTheWireContract) {
  for (const std::string& path : DocPaths()) {
    for (const GrpcurlCommand& command : FindGrpcurlCommands(ReadText(path))) {
      const std::vector<std::string> problems = CheckCommand(command);
      EXPECT_TRUE(problems.empty()) << path << ":" << command.line << ": "
                                    << command.text << Describe(problems);
    }
  }
}

// The checks above are only as good as the parsing and checking below them.

TEST(ReadmeGrpcurl, FindsCommandsOnlyInFencedBlocks) {
  const std::vector<GrpcurlCommand> commands = FindGrpcurlCommands(
      "grpcurl outside a block is prose\n"
      "```sh\n"
      "$ grpcurl -plaintext localhost:50051 list\n"
      "grpcurl -plaintext -d '{\"tasks\": []}' \\\n"
      "    localhost:50051 batchexec.v1.BatchExecutor/Gather\n"
      "grpcurlish is another tool\n"
      "$ grpcurl -d '{\"tasks\": [\n"
      "    {\"kind\": \"echo\"}\n"
      "  ]}' localhost:50051 batchexec.v1.BatchExecutor/Gather\n"
      "{\"it's\": \"output, not a command\"}\n"
      "```\n"
      "grpcurl after the block\n"
      "~~~\n"
      "  grpcurl -plaintext localhost:50051 describe\n"
      "~~~\n");
  ASSERT_EQ(commands.size(), 4u);
  EXPECT_EQ(commands[0].line, 3);
  EXPECT_EQ(commands[0].words,
            (std::vector<std::string>{"grpcurl", "-plaintext",
                                      "localhost:50051", "list"}));
  EXPECT_EQ(commands[1].line, 4);
  EXPECT_EQ(commands[1].words,
            (std::vector<std::string>{"grpcurl", "-plaintext", "-d",
                                      R"({"tasks": []})", "localhost:50051",
                                      "batchexec.v1.BatchExecutor/Gather"}));
  EXPECT_EQ(commands[2].line, 7);
  EXPECT_EQ(
      commands[2].words,
      (std::vector<std::string>{
          "grpcurl", "-d", "{\"tasks\": [\n    {\"kind\": \"echo\"}\n  ]}",
          "localhost:50051", "batchexec.v1.BatchExecutor/Gather"}));
  EXPECT_EQ(commands[3].line, 14);
}

TEST(ReadmeGrpcurl, SplitsWordsLikeTheShell) {
  std::vector<std::string> words;
  ASSERT_TRUE(SplitShellWords(
      R"(grpcurl -d '{"m": "it'\''s"}' "a b" c\ d -H="x: \"y\"" | jq .)",
      &words));
  EXPECT_EQ(words,
            (std::vector<std::string>{"grpcurl", R"(-d)", R"({"m": "it's"})",
                                      "a b", "c d", R"(-H=x: "y")"}));
  EXPECT_FALSE(SplitShellWords("grpcurl -d '{", &words));
}

GrpcurlCommand Command(const std::string& text) {
  GrpcurlCommand command;
  command.text = text;
  EXPECT_TRUE(SplitShellWords(text, &command.words)) << text;
  return command;
}

TEST(ReadmeGrpcurl, AcceptsCallsOfTheRealContract) {
  for (const char* text : {
           "grpcurl -plaintext localhost:50051 list",
           "grpcurl -plaintext localhost:50051 list batchexec.v1.BatchExecutor",
           "grpcurl -plaintext localhost:50051 describe .batchexec.v1.Task",
           "grpcurl -plaintext localhost:50051 "
           "batchexec.v1.BatchExecutor/ListTaskKinds",
           "grpcurl -plaintext -d '{\"tasks\": [{\"kind\": \"sleep\", "
           "\"args\": {\"seconds\": 0.5}, \"timeout\": \"1s\"}], "
           "\"failurePolicy\": \"COLLECT_ALL\"}' localhost:50051 "
           "batchexec.v1.BatchExecutor.Gather",
           "grpcurl --plaintext -d='{\"service\": \"\"}' localhost:50051 "
           "grpc.health.v1.Health/Check",
           "grpcurl -plaintext localhost:50051 "
           "grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
       }) {
    EXPECT_TRUE(CheckCommand(Command(text)).empty())
        << text << Describe(CheckCommand(Command(text)));
  }
}

TEST(ReadmeGrpcurl, RejectsWhatGrpcurlWouldReject) {
  for (const char* text : {
           // No such method, service, symbol.
           "grpcurl -plaintext localhost:50051 batchexec.v1.BatchExecutor/Run",
           "grpcurl -plaintext localhost:50051 batchexec.v1.Executor/Gather",
           "grpcurl -plaintext localhost:50051 describe batchexec.v1.Job",
           // Unknown field, snake_case enum value, wrong type.
           "grpcurl -plaintext -d '{\"jobs\": []}' localhost:50051 "
           "batchexec.v1.BatchExecutor/Gather",
           "grpcurl -plaintext -d '{\"failurePolicy\": \"collect_all\"}' "
           "localhost:50051 batchexec.v1.BatchExecutor/Gather",
           "grpcurl -plaintext -d '{\"tasks\": [{\"timeout\": \"1 min\"}]}' "
           "localhost:50051 batchexec.v1.BatchExecutor/Execute",
           "grpcurl -plaintext -d '{\"service\": 1}' localhost:50051 "
           "grpc.health.v1.Health/Check",
           // Not a grpcurl command line.
           "grpcurl -plaintxt localhost:50051 list",
           "grpcurl localhost:50051 -plaintext list",
           "grpcurl -plaintext localhost:50051",
       }) {
    EXPECT_FALSE(CheckCommand(Command(text)).empty()) << text;
  }
}

// --- C++ snippets ------------------------------------------------------------

// The C++20 designated initializers (`{.name = ...}`) in ```cpp blocks of
// `markdown`, as "line N: text"; the project builds as C++17, so a reader
// copying a snippet must not meet them.
std::vector<std::string> FindDesignatedInitializers(std::string_view markdown) {
  static const std::regex kDesignator(R"([{(,]\s*\.[A-Za-z_]\w*\s*=[^=])");
  std::vector<std::string> found;
  bool in_cpp = false;
  std::istringstream lines{std::string(markdown)};
  std::string raw;
  int line_number = 0;
  while (std::getline(lines, raw)) {
    ++line_number;
    const std::string_view trimmed = TrimLeft(TrimRight(raw));
    if (trimmed.rfind("```", 0) == 0) {
      in_cpp = !in_cpp && (trimmed == "```cpp" || trimmed == "```c++");
      continue;
    }
    if (in_cpp && std::regex_search(raw, kDesignator)) {
      found.push_back("line " + std::to_string(line_number) + ": " + raw);
    }
  }
  return found;
}

TEST(ReadmeCpp, SnippetsAreCpp17) {
  for (const std::string& path : DocPaths()) {
    const std::vector<std::string> found =
        FindDesignatedInitializers(ReadText(path));
    EXPECT_TRUE(found.empty())
        << path
        << ": C++20 designated initializers in C++ snippets (the project is "
           "C++17; set the fields one by one):"
        << Describe(found);
  }
}

TEST(ReadmeCpp, FindsDesignatedInitializersOnlyInCppBlocks) {
  EXPECT_EQ(FindDesignatedInitializers("```cpp\n"
                                       "f({.a = 1});\n"
                                       "g(x, .b=2);\n"
                                       "o.c = 3;  if (p.d == 4) {}\n"
                                       "```\n"
                                       "```sh\n"
                                       "h({.e = 5})\n"
                                       "```\n")
                .size(),
            2u);
}

// --- Relative links ----------------------------------------------------------

// Whether `line` opens or closes a ``` or ~~~ fence, tracked in `fence`.
bool IsFenceLine(std::string_view line, std::string* fence) {
  const std::string_view trimmed = TrimLeft(TrimRight(line));
  if (trimmed.rfind("```", 0) != 0 && trimmed.rfind("~~~", 0) != 0) {
    return false;
  }
  const size_t length = trimmed.find_first_not_of(trimmed[0]);
  const std::string_view marker = trimmed.substr(0, length);
  if (fence->empty()) {
    *fence = std::string(marker);
  } else if (marker[0] == (*fence)[0] && marker.size() >= fence->size() &&
             length == std::string_view::npos) {
    fence->clear();
  }
  return true;
}

// GitHub's anchor for a heading: lower case, punctuation other than - and _
// dropped, spaces made hyphens ("Network checks: `dns`" ->
// "network-checks-dns").
std::string Slug(std::string_view heading) {
  std::string slug;
  for (const char c : heading) {
    const unsigned char u = static_cast<unsigned char>(c);
    if (u >= 0x80 || std::isalnum(u) || c == '-' || c == '_') {
      slug.push_back(static_cast<char>(std::tolower(u)));
    } else if (c == ' ') {
      slug.push_back('-');
    }
  }
  return slug;
}

// The anchors of a Markdown text's headings outside code blocks, a repeated
// one numbered as GitHub does (x, x-1, x-2).
std::vector<std::string> HeadingAnchors(std::string_view markdown) {
  std::vector<std::string> anchors;
  std::string fence;
  std::istringstream lines{std::string(markdown)};
  std::string raw;
  while (std::getline(lines, raw)) {
    if (IsFenceLine(raw, &fence) || !fence.empty()) continue;
    const std::string_view line = TrimRight(raw);
    const size_t hashes = line.find_first_not_of('#');
    if (hashes == 0 || hashes > 6 || hashes == std::string_view::npos ||
        line[hashes] != ' ') {
      continue;
    }
    std::string_view text = TrimLeft(line.substr(hashes));
    while (!text.empty() && text.back() == '#') text.remove_suffix(1);
    const std::string base = Slug(TrimRight(text));
    std::string anchor = base;
    for (int n = 1; std::count(anchors.begin(), anchors.end(), anchor) > 0;
         ++n) {
      anchor = base + "-" + std::to_string(n);
    }
    anchors.push_back(anchor);
  }
  return anchors;
}

struct Link {
  int line = 0;
  std::string target;  // as written: path, path#anchor or #anchor
};

// The `[text](target)` links of a Markdown text outside code blocks and
// inline code, but for those with a scheme (https:, mailto:).
std::vector<Link> RelativeLinks(std::string_view markdown) {
  static const std::regex kLink(R"(\]\(([^()\s]+)(\s+"[^"]*")?\))");
  static const std::regex kScheme(R"(^[A-Za-z][A-Za-z0-9+.-]*:)");
  std::vector<Link> links;
  std::string fence;
  std::istringstream lines{std::string(markdown)};
  std::string raw;
  int line_number = 0;
  while (std::getline(lines, raw)) {
    ++line_number;
    if (IsFenceLine(raw, &fence) || !fence.empty()) continue;
    std::string line;  // without `inline code`
    bool in_code = false;
    for (const char c : raw) {
      if (c == '`') {
        in_code = !in_code;
      } else if (!in_code) {
        line.push_back(c);
      }
    }
    for (auto it = std::sregex_iterator(line.begin(), line.end(), kLink);
         it != std::sregex_iterator(); ++it) {
      const std::string target = (*it)[1];
      if (!std::regex_search(target, kScheme)) {
        links.push_back({line_number, target});
      }
    }
  }
  return links;
}

// Every relative link of the file at `path` that names no file under `root`,
// or an anchor its file's headings do not have, as "line N: target: why".
std::vector<std::string> BrokenLinks(const std::filesystem::path& path,
                                     const std::filesystem::path& root) {
  namespace fs = std::filesystem;
  std::vector<std::string> broken;
  std::error_code error;
  // Through the runfiles symlink to the source tree, where the targets are.
  const fs::path real = fs::canonical(path, error);
  if (error) return {path.string() + ": " + error.message()};
  const std::string text = ReadText(real.string());
  for (const Link& link : RelativeLinks(text)) {
    const std::string where =
        "line " + std::to_string(link.line) + ": " + link.target + ": ";
    const size_t hash = link.target.find('#');
    const std::string file = link.target.substr(0, hash);
    fs::path target = real;
    if (!file.empty()) {
      target = fs::weakly_canonical(real.parent_path() / file, error);
      const std::string relative = target.lexically_relative(root).string();
      if (error || relative.empty() || relative.rfind("..", 0) == 0) {
        broken.push_back(where + "outside the repository");
        continue;
      }
      if (!fs::exists(target)) {
        broken.push_back(where + "no such file");
        continue;
      }
    }
    if (hash == std::string::npos) continue;
    const std::string anchor = link.target.substr(hash + 1);
    if (target.extension() != ".md" || fs::is_directory(target)) {
      broken.push_back(where + "an anchor into a file that is not Markdown");
      continue;
    }
    const std::vector<std::string> anchors =
        HeadingAnchors(ReadText(target.string()));
    if (std::find(anchors.begin(), anchors.end(), anchor) == anchors.end()) {
      broken.push_back(where + "no heading #" + anchor + " in " +
                       target.filename().string());
    }
  }
  return broken;
}

// The repository: where README.md's runfiles link leads.
std::filesystem::path RepoRoot() {
  std::error_code error;
  const std::filesystem::path readme =
      std::filesystem::canonical("README.md", error);
  if (error) {
    ADD_FAILURE() << "cannot find the repository through README.md: "
                  << error.message();
    return std::filesystem::current_path();
  }
  return readme.parent_path();
}

TEST(DocsLinks, EveryRelativeLinkResolves) {
  const std::filesystem::path root = RepoRoot();
  for (const std::string& path : DocPaths()) {
    const std::vector<std::string> broken = BrokenLinks(path, root);
    EXPECT_TRUE(broken.empty())
        << path << ": broken relative links:" << Describe(broken);
  }
}

TEST(DocsLinks, EveryPageOfDocsIsChecked) {
  if (std::getenv("BATCHEXEC_README") != nullptr) GTEST_SKIP();
  const std::vector<std::string> paths = DocPaths();
  for (const char* page :
       {"docs/sdk.md", "docs/cli.md", "docs/server.md", "docs/kinds.md",
        "docs/operations.md", "docs/security.md", "docs/performance.md",
        "docs/deploy.md"}) {
    EXPECT_NE(std::find(paths.begin(), paths.end(), page), paths.end())
        << page << " is not among the checked files (//:docs data)";
  }
}

TEST(DocsLinks, SlugsHeadingsLikeGitHub) {
  EXPECT_EQ(HeadingAnchors("# batchexec\n"
                           "## Network checks: `dns` and `grpc_health`\n"
                           "```sh\n"
                           "# a comment, not a heading\n"
                           "```\n"
                           "### Who is calling: caller identity ##\n"
                           "#no-space is not a heading\n"
                           "## Draining\n"
                           "## Draining\n"),
            (std::vector<std::string>{
                "batchexec", "network-checks-dns-and-grpc_health",
                "who-is-calling-caller-identity", "draining", "draining-1"}));
}

TEST(DocsLinks, FindsOnlyRelativeLinksOutsideCode) {
  const std::vector<Link> links = RelativeLinks(
      "[a](docs/sdk.md) and [b](#layout \"title\")\n"
      "[web](https://example.com/x) `[c](not/a/link.md)`\n"
      "```cpp\n"
      "auto f = [](int x) {};  [d](in/code.md)\n"
      "```\n"
      "[`bench/README.md`](../bench/README.md#results)\n");
  ASSERT_EQ(links.size(), 3u);
  EXPECT_EQ(links[0].target, "docs/sdk.md");
  EXPECT_EQ(links[1].target, "#layout");
  EXPECT_EQ(links[2].line, 6);
  EXPECT_EQ(links[2].target, "../bench/README.md#results");
}

TEST(DocsLinks, ReportsEveryKindOfBrokenLink) {
  namespace fs = std::filesystem;
  const char* tmp = std::getenv("TEST_TMPDIR");
  const fs::path root =
      fs::path(tmp != nullptr ? tmp : fs::temp_directory_path().string()) /
      "links";
  fs::create_directories(root / "docs");
  std::ofstream(root / "docs" / "page.md") << "# Page\n## Real heading\n";
  std::ofstream(root / "README.md")
      << "# Top\n"
         "[ok](docs/page.md) [ok](docs/page.md#real-heading) [ok](#top)\n"
         "[ok](docs/) [ok](docs/page.md \"title\")\n"
         "[1](docs/missing.md)\n"
         "[2](docs/page.md#no-such-heading)\n"
         "[3](#nowhere)\n"
         "[4](../outside.md)\n"
         "[5](docs#x)\n";
  const std::vector<std::string> broken =
      BrokenLinks(root / "README.md", fs::canonical(root));
  EXPECT_EQ(broken.size(), 5u) << Describe(broken);
  for (int i = 0; i < 5 && i < static_cast<int>(broken.size()); ++i) {
    EXPECT_EQ(broken[i].rfind("line " + std::to_string(i + 4) + ":", 0), 0u)
        << broken[i];
  }
}

// --- README's length ---------------------------------------------------------

TEST(ReadmeLength, AtMost300Lines) {
  if (std::getenv("BATCHEXEC_README") != nullptr) GTEST_SKIP();
  const std::string text = ReadText("README.md");
  const auto lines = std::count(text.begin(), text.end(), '\n');
  EXPECT_LE(lines, 300) << "README.md is the front page: " << lines
                        << " lines; move a subject's detail to its docs/ page";
}

}  // namespace
