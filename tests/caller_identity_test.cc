// Who is calling (issue 18): named tokens and their check, caller identity
// over real connections, and --auth_tokens_file in the server binary (start-
// up errors, SIGHUP reload and revocation). mTLS identities are in
// security_test.cc, beside its certificates.
#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "batchexec/v1/batch.grpc.pb.h"
#include "gmock/gmock.h"
#include "grpcpp/grpcpp.h"
#include "gtest/gtest.h"
#include "server/rpc/auth.h"
#include "tests/test_util/identity_server.h"
#include "tests/test_util/server_process.h"

namespace batchexec {
namespace {

using ::testing::HasSubstr;
using testing::IdentityServer;
using ::testing::Not;
using testing::WhoAmI;

const char kServer[] = "server/batchexec_server";

std::vector<NamedToken> TwoCallers() {
  return {{"team-a", "tok-A-5f2c", 2}, {"team-b", "tok-B-91d0", 1}};
}

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return absl::StrCat(dir != nullptr ? dir : "/tmp", "/", name);
}

// Replaces `path` in one step, as an operator should (rename is atomic), so
// a reload never reads half a file.
void WriteFileAtomically(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  std::ofstream(tmp) << text;
  ASSERT_EQ(std::rename(tmp.c_str(), path.c_str()), 0);
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// --- TokenAuthenticator with named tokens ------------------------------------

TEST(NamedTokens, EachTokenPassesAndNoOtherDoes) {
  TokenAuthenticator auth(
      {{"a", "alpha-token", 1}, {"b", "bravo-token", 1}, {"c", "x", 3}});
  for (const char* ok : {"Bearer alpha-token", "bearer bravo-token", "BEARER x",
                         "Bearer   alpha-token"}) {
    EXPECT_TRUE(auth.CheckAuthorization(ok).ok()) << ok;
  }
  for (const char* bad :
       {"Bearer alpha-toke", "Bearer alpha-token2", "Bearer Alpha-token",
        "Bearer bravo-tokenalpha-token", "Bearer ", "Bearer xx", "Bearer a",
        "Basic alpha-token", "alpha-token"}) {
    absl::Status s = auth.CheckAuthorization(bad);
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << bad;
    // Nothing about the tokens comes back.
    EXPECT_THAT(std::string(s.message()), Not(HasSubstr("alpha"))) << bad;
  }
  EXPECT_EQ(auth.CheckAuthorization(std::nullopt).code(),
            absl::StatusCode::kUnauthenticated);
  EXPECT_TRUE(auth.enabled());
  EXPECT_TRUE(auth.has_named_tokens());
}

TEST(NamedTokens, ReplacingTheTokensReachesEveryCopy) {
  TokenAuthenticator auth(TwoCallers());
  // The auth filter holds a copy; the handlers the original.
  const TokenAuthenticator filter_copy = auth;
  ASSERT_TRUE(filter_copy.CheckAuthorization("Bearer tok-B-91d0").ok());
  ASSERT_TRUE(auth.ReplaceTokens({{"team-a", "tok-A-5f2c", 2}}).ok());
  for (const TokenAuthenticator* a :
       std::vector<const TokenAuthenticator*>{&auth, &filter_copy}) {
    EXPECT_EQ(a->CheckAuthorization("Bearer tok-B-91d0").code(),
              absl::StatusCode::kUnauthenticated);
    EXPECT_TRUE(a->CheckAuthorization("Bearer tok-A-5f2c").ok());
  }
  EXPECT_EQ(auth.ReplaceTokens({}).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(filter_copy.CheckAuthorization("Bearer tok-A-5f2c").ok());
}

// The table is swapped while calls read it. Under --config=tsan run
// --test_arg=--gtest_filter=NamedTokens.*: the server tests below give false
// reports from the uninstrumented gRPC.
TEST(NamedTokens, ReloadsRaceWithChecksSafely) {
  TokenAuthenticator auth(TwoCallers());
  std::atomic<bool> stop{false};
  std::atomic<int> failures{0};
  std::vector<std::thread> readers;
  for (int i = 0; i < 4; ++i) {
    readers.emplace_back([&] {
      const TokenAuthenticator copy = auth;
      while (!stop.load()) {
        // team-a is in every table; team-b comes and goes.
        if (!copy.CheckAuthorization("Bearer tok-A-5f2c").ok()) ++failures;
        (void)copy.CheckAuthorization("Bearer tok-B-91d0");
      }
    });
  }
  for (int i = 0; i < 2000; ++i) {
    std::vector<NamedToken> tokens = TwoCallers();
    if (i % 2 == 1) tokens.pop_back();
    ASSERT_TRUE(auth.ReplaceTokens(std::move(tokens)).ok());
  }
  stop = true;
  for (auto& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
}

TEST(NamedTokens, OnlyAServerStartedWithNamedTokensCanReplaceThem) {
  // Whether the transport checks tokens at all is fixed at start-up.
  TokenAuthenticator none("");
  EXPECT_FALSE(none.enabled());
  EXPECT_EQ(none.ReplaceTokens(TwoCallers()).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(none.CheckAuthorization(std::nullopt).ok());
  TokenAuthenticator single("the-one-token");
  EXPECT_EQ(single.ReplaceTokens(TwoCallers()).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(single.CheckAuthorization("Bearer the-one-token").ok());
}

// --- Identity over real connections ------------------------------------------

std::shared_ptr<grpc::Channel> NewConnection(const std::string& target) {
  // Its own subchannel pool: a new TCP connection, not a shared one.
  grpc::ChannelArguments args;
  args.SetInt(GRPC_ARG_USE_LOCAL_SUBCHANNEL_POOL, 1);
  return grpc::CreateCustomChannel(target, grpc::InsecureChannelCredentials(),
                                   args);
}

TEST(CallerIdentity, ANamedTokenIsItsNameAndWeight) {
  IdentityServer server{TokenAuthenticator(TwoCallers())};
  ASSERT_NE(server.port(), 0);
  auto channel = NewConnection(server.target());
  auto a = WhoAmI(channel, "tok-A-5f2c");
  ASSERT_TRUE(a.status.ok()) << a.status.error_message();
  EXPECT_EQ(a.caller, "team-a");
  EXPECT_EQ(a.weight, 2);
  // Same connection, other token: the token decides, not the connection.
  auto b = WhoAmI(channel, "tok-B-91d0");
  ASSERT_TRUE(b.status.ok()) << b.status.error_message();
  EXPECT_EQ(b.caller, "team-b");
  EXPECT_EQ(b.weight, 1);
  EXPECT_EQ(WhoAmI(channel, "tok-C").status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_EQ(WhoAmI(channel).status.error_code(),
            grpc::StatusCode::UNAUTHENTICATED);
}

TEST(CallerIdentity, ConnectionsFromOneHostAreOneCallerNamedByItsIp) {
  for (const char* token : {"", "single-token"}) {
    // No tokens, or --auth_token_file's unnamed one: the address names the
    // caller.
    IdentityServer server{TokenAuthenticator(token)};
    ASSERT_NE(server.port(), 0);
    auto first = WhoAmI(NewConnection(server.target()), token);
    auto second = WhoAmI(NewConnection(server.target()), token);
    ASSERT_TRUE(first.status.ok()) << first.status.error_message();
    ASSERT_TRUE(second.status.ok()) << second.status.error_message();
    EXPECT_EQ(first.caller, "ipv4:127.0.0.1") << token;
    EXPECT_EQ(second.caller, "ipv4:127.0.0.1") << token;
    EXPECT_EQ(first.weight, 1);
    // Two connections (two client ports), one caller.
    EXPECT_NE(first.peer, second.peer);
    EXPECT_THAT(first.peer, ::testing::StartsWith("ipv4:127.0.0.1:"));
  }
}

TEST(CallerIdentity, ARevokedTokenIsRefusedOnTheNextCall) {
  IdentityServer server{TokenAuthenticator(TwoCallers())};
  auto channel = NewConnection(server.target());
  ASSERT_TRUE(WhoAmI(channel, "tok-B-91d0").status.ok());
  ASSERT_TRUE(server.auth().ReplaceTokens({{"team-a", "tok-A-5f2c", 1}}).ok());
  auto revoked = WhoAmI(channel, "tok-B-91d0");
  EXPECT_EQ(revoked.status.error_code(), grpc::StatusCode::UNAUTHENTICATED);
  EXPECT_THAT(revoked.status.error_message(), Not(HasSubstr("tok-")));
  auto a = WhoAmI(channel, "tok-A-5f2c");
  ASSERT_TRUE(a.status.ok());
  EXPECT_EQ(a.weight, 1);  // the new table's weight
}

// --- The server binary with --auth_tokens_file -------------------------------

struct Exit {
  int code = -1;  // -1: still running after 5 s (then killed)
  std::string stderr_text;
};

Exit RunToExit(std::vector<std::string> args) {
  const std::string err_path = TempPath("run_to_exit.stderr");
  Exit out;
  pid_t pid = fork();
  if (pid == 0) {
    int null = open("/dev/null", O_WRONLY);
    int err = open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(null, STDOUT_FILENO);
    dup2(err, STDERR_FILENO);
    std::vector<char*> argv{const_cast<char*>(kServer)};
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(kServer, argv.data());
    _exit(127);
  }
  int status = 0;
  const absl::Time give_up = absl::Now() + absl::Seconds(5);
  while (absl::Now() < give_up) {
    if (waitpid(pid, &status, WNOHANG) == pid) {
      out.code = WIFEXITED(status) ? WEXITSTATUS(status) : 128;
      break;
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  if (out.code == -1) {
    kill(pid, SIGKILL);
    waitpid(pid, &status, 0);
  }
  out.stderr_text = Slurp(err_path);
  return out;
}

TEST(TokensFileFlag, ABadFileStopsStartUpNamingTheLine) {
  const std::string path = TempPath("bad_callers.txt");
  WriteFileAtomically(path,
                      "# callers\nteam-a tok-A\n\nteam-b tok-B weight=zero\n");
  Exit bad = RunToExit({"--port=0", "--auth_tokens_file=" + path});
  EXPECT_EQ(bad.code, 2) << bad.stderr_text;
  EXPECT_THAT(bad.stderr_text, HasSubstr(path + ":4: weight must be"));
  EXPECT_THAT(bad.stderr_text, Not(HasSubstr("tok-")));

  Exit missing =
      RunToExit({"--port=0", "--auth_tokens_file=/nonexistent/callers"});
  EXPECT_EQ(missing.code, 2) << missing.stderr_text;
  EXPECT_THAT(missing.stderr_text, HasSubstr("/nonexistent/callers"));
}

TEST(TokensFileFlag, BothTokenFlagsTogetherAreAUsageError) {
  const std::string tokens = TempPath("both_callers.txt");
  const std::string token = TempPath("both_token.txt");
  WriteFileAtomically(tokens, "team-a tok-A\n");
  WriteFileAtomically(token, "tok-single\n");
  Exit both = RunToExit({"--port=0", "--auth_tokens_file=" + tokens,
                         "--auth_token_file=" + token});
  EXPECT_EQ(both.code, 2) << both.stderr_text;
  EXPECT_THAT(both.stderr_text, HasSubstr("--auth_token_file"));
}

grpc::Status Echo(const std::string& target, const std::string& token) {
  auto stub = v1::BatchExecutor::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() +
                       std::chrono::seconds(5));
  context.AddMetadata("authorization", "Bearer " + token);
  v1::ExecuteRequest request;
  request.add_tasks()->set_kind("echo");
  v1::GatherResponse response;
  return stub->Gather(&context, request, &response);
}

// Polls until a call with `token` gets `code`, for up to 10 s (the reload
// runs on the server's signal thread, after kill() returns).
bool WaitForCode(const std::string& target, const std::string& token,
                 grpc::StatusCode code) {
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (absl::Now() < give_up) {
    if (Echo(target, token).error_code() == code) return true;
    absl::SleepFor(absl::Milliseconds(50));
  }
  return false;
}

// The server binary with its stderr in a file.
class ServerWithStderr {
 public:
  explicit ServerWithStderr(std::vector<std::string> args)
      : stderr_path_(TempPath("server.stderr")) {
    // The child inherits fd 2: point it at the file just for the fork.
    fflush(stderr);
    const int saved = dup(STDERR_FILENO);
    const int file =
        open(stderr_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    dup2(file, STDERR_FILENO);
    close(file);
    process_ =
        std::make_unique<testing::ServerProcess>(kServer, std::move(args));
    dup2(saved, STDERR_FILENO);
    close(saved);
  }
  testing::ServerProcess& process() { return *process_; }
  std::string stderr_text() const { return Slurp(stderr_path_); }

 private:
  std::string stderr_path_;
  std::unique_ptr<testing::ServerProcess> process_;
};

TEST(TokensFileFlag, SighupRevokesATokenWhileItsRunningBatchGoesOn) {
  const std::string path = TempPath("callers.txt");
  WriteFileAtomically(path,
                      "# two callers\nteam-a tok-A-5f2c\n"
                      "team-b tok-B-91d0 weight=2\n");
  ServerWithStderr server({"--port=0", "--auth_tokens_file=" + path});
  testing::ServerProcess& process = server.process();
  ASSERT_NE(process.port(), 0) << server.stderr_text();
  const std::string target = process.target();
  ASSERT_TRUE(Echo(target, "tok-A-5f2c").ok());
  ASSERT_TRUE(Echo(target, "tok-B-91d0").ok());

  // B starts a 1.5 s batch before it is revoked.
  auto stub = v1::BatchExecutor::NewStub(
      grpc::CreateChannel(target, grpc::InsecureChannelCredentials()));
  grpc::ClientContext running;
  running.AddMetadata("authorization", "Bearer tok-B-91d0");
  v1::ExecuteRequest request;
  v1::Task* sleep = request.add_tasks();
  sleep->set_kind("sleep");
  (*sleep->mutable_args()->mutable_fields())["seconds"].set_number_value(1.5);
  auto reader = stub->Execute(&running, request);
  v1::ExecuteEvent event;
  ASSERT_TRUE(reader->Read(&event));
  ASSERT_TRUE(event.has_accepted());

  WriteFileAtomically(path, "team-a tok-A-5f2c\n");
  process.Signal(SIGHUP);
  EXPECT_TRUE(
      WaitForCode(target, "tok-B-91d0", grpc::StatusCode::UNAUTHENTICATED));
  EXPECT_TRUE(Echo(target, "tok-A-5f2c").ok());

  // The running batch was admitted before: it finishes.
  v1::Summary summary;
  while (reader->Read(&event)) {
    if (event.has_summary()) summary = event.summary();
  }
  grpc::Status status = reader->Finish();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(summary.succeeded(), 1u);

  // And the token comes back with the next reload.
  WriteFileAtomically(path, "team-a tok-A-5f2c\nteam-b tok-B-91d0\n");
  process.Signal(SIGHUP);
  EXPECT_TRUE(WaitForCode(target, "tok-B-91d0", grpc::StatusCode::OK));

  process.Signal(SIGTERM);
  EXPECT_EQ(process.Wait(), 0);
  EXPECT_THAT(server.stderr_text(), HasSubstr("SIGHUP: reloaded " + path));
  EXPECT_THAT(server.stderr_text(), Not(HasSubstr("tok-")));
}

TEST(TokensFileFlag, AReloadThatFailsKeepsThePreviousTokensAndSaysSo) {
  const std::string path = TempPath("callers_bad_reload.txt");
  WriteFileAtomically(path, "team-a tok-A-5f2c\nteam-b tok-B-91d0\n");
  ServerWithStderr server({"--port=0", "--auth_tokens_file=" + path});
  testing::ServerProcess& process = server.process();
  ASSERT_NE(process.port(), 0) << server.stderr_text();
  const std::string target = process.target();

  // Applied, this would revoke A; it has a duplicate name on line 3.
  WriteFileAtomically(path, "team-b tok-B-91d0\nteam-c tok-C\nteam-b tok-D\n");
  process.Signal(SIGHUP);
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (server.stderr_text().find("keeping the previous tokens") ==
             std::string::npos &&
         absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  const std::string err = server.stderr_text();
  EXPECT_THAT(err, HasSubstr(path + ":3: the name is already used on line 1"));
  EXPECT_THAT(err, HasSubstr("keeping the previous tokens"));
  EXPECT_TRUE(Echo(target, "tok-A-5f2c").ok());
  EXPECT_TRUE(Echo(target, "tok-B-91d0").ok());
  EXPECT_EQ(Echo(target, "tok-C").error_code(),
            grpc::StatusCode::UNAUTHENTICATED);

  process.Signal(SIGTERM);
  EXPECT_EQ(process.Wait(), 0);
}

}  // namespace
}  // namespace batchexec
