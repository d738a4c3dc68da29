#include "server/rpc/auth.h"

#include <grpc/grpc_security.h>
#include <grpc/slice.h>
#include <grpc/support/log.h>

#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/strip.h"
#include "server/rpc/peer_identity.h"

namespace batchexec {
namespace {

constexpr absl::string_view kAuthorization = "authorization";
constexpr absl::string_view kPath = ":path";

// OK, or why a call to `path` with `authorization` may not proceed.
absl::Status CheckCall(const TokenAuthenticator& auth,
                       std::optional<absl::string_view> path,
                       std::optional<absl::string_view> authorization) {
  if (!auth.enabled()) return absl::OkStatus();
  // Without a :path the call matches no method; checking it costs nothing.
  if (path.has_value() && !MethodNeedsToken(*path)) return absl::OkStatus();
  absl::Status s = auth.CheckAuthorization(authorization);
  if (!s.ok()) auth.CountRejected();
  return s;
}

absl::string_view View(const grpc_slice& slice) {
  return absl::string_view(
      reinterpret_cast<const char*>(GRPC_SLICE_START_PTR(slice)),
      GRPC_SLICE_LENGTH(slice));
}

// For TLS credentials, which take a C++ processor.
class TokenMetadataProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit TokenMetadataProcessor(TokenAuthenticator auth)
      : auth_(std::move(auth)) {}

  // The check is cheap: run it inline rather than on gRPC's thread pool.
  bool IsBlocking() const override { return false; }

  grpc::Status Process(const InputMetadata& auth_metadata, grpc::AuthContext*,
                       OutputMetadata*, OutputMetadata*) override {
    auto find = [&](absl::string_view key) -> std::optional<absl::string_view> {
      auto it = auth_metadata.find(grpc::string_ref(key.data(), key.size()));
      if (it == auth_metadata.end()) return std::nullopt;
      return absl::string_view(it->second.data(), it->second.size());
    };
    absl::Status s = CheckCall(auth_, find(kPath), find(kAuthorization));
    if (s.ok()) return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        std::string(s.message()));
  }

 private:
  const TokenAuthenticator auth_;
};

// For plaintext: gRPC core's insecure credentials, which take a C processor
// (grpc::InsecureServerCredentials() takes none).
class PlaintextTokenCredentials final : public grpc::ServerCredentials {
 public:
  explicit PlaintextTokenCredentials(const TokenAuthenticator& auth)
      : creds_(grpc_insecure_server_credentials_create()) {
    grpc_server_credentials_set_auth_metadata_processor(
        creds_, {&Process, &Destroy, new TokenAuthenticator(auth)});
  }
  ~PlaintextTokenCredentials() override {
    grpc_server_credentials_release(creds_);
  }

  void SetAuthMetadataProcessor(
      const std::shared_ptr<grpc::AuthMetadataProcessor>&) override {
    // Only TokenCheckedCredentials makes these, already with their processor.
    GPR_ASSERT(false && "PlaintextTokenCredentials has its processor");
  }

 private:
  int AddPortToServer(const std::string& addr, grpc_server* server) override {
    return grpc_server_add_http2_port(server, addr.c_str(), creds_);
  }

  static void Process(void* state, grpc_auth_context*, const grpc_metadata* md,
                      size_t num_md, grpc_process_auth_metadata_done_cb done,
                      void* user_data) {
    std::optional<absl::string_view> path, authorization;
    for (size_t i = 0; i < num_md; ++i) {
      const absl::string_view key = View(md[i].key);
      if (key == kPath && !path) path = View(md[i].value);
      if (key == kAuthorization && !authorization) {
        authorization = View(md[i].value);
      }
    }
    const absl::Status s = CheckCall(
        *static_cast<const TokenAuthenticator*>(state), path, authorization);
    // gRPC copies the details before `done` returns.
    const std::string details(s.message());
    done(user_data, nullptr, 0, nullptr, 0,
         s.ok() ? GRPC_STATUS_OK : GRPC_STATUS_UNAUTHENTICATED,
         s.ok() ? nullptr : details.c_str());
  }
  static void Destroy(void* state) {
    delete static_cast<TokenAuthenticator*>(state);
  }

  grpc_server_credentials* const creds_;
};

}  // namespace

bool ConstantTimeEquals(absl::string_view a, absl::string_view b) {
  // Always walks the expected length; a length mismatch still costs a pass.
  volatile unsigned char diff = a.size() == b.size() ? 0 : 1;
  for (size_t i = 0; i < b.size(); ++i) {
    const unsigned char x = i < a.size() ? a[i] : 0;
    diff = diff | (x ^ static_cast<unsigned char>(b[i]));
  }
  return diff == 0;
}

bool MethodNeedsToken(absl::string_view method) {
  return !absl::StartsWith(method, "/grpc.health.v1.Health/");
}

TokenAuthenticator::TokenAuthenticator(std::string token)
    : enabled_(!token.empty()), shared_(std::make_shared<Shared>()) {
  auto table = std::make_shared<Table>();
  if (enabled_) table->push_back(NamedToken{"", std::move(token), 1});
  MutexLock lock(&shared_->mu);
  shared_->table = std::move(table);
}

TokenAuthenticator::TokenAuthenticator(std::vector<NamedToken> tokens)
    : enabled_(true), named_(true), shared_(std::make_shared<Shared>()) {
  // An empty table would refuse every call: what ParseTokensFile rejects.
  GPR_ASSERT(!tokens.empty());
  MutexLock lock(&shared_->mu);
  shared_->table = std::make_shared<const Table>(std::move(tokens));
}

absl::Status TokenAuthenticator::ReplaceTokens(std::vector<NamedToken> tokens) {
  if (!named_) {
    return absl::FailedPreconditionError(
        "the server was not started with named tokens (auth_tokens_file)");
  }
  if (tokens.empty()) return absl::InvalidArgumentError("no tokens");
  auto table = std::make_shared<const Table>(std::move(tokens));
  MutexLock lock(&shared_->mu);
  // The old table is freed by its last reader, outside this lock.
  shared_->table.swap(table);
  return absl::OkStatus();
}

std::shared_ptr<const TokenAuthenticator::Table> TokenAuthenticator::Snapshot()
    const {
  MutexLock lock(&shared_->mu);
  return shared_->table;
}

absl::StatusOr<const NamedToken*> TokenAuthenticator::Match(
    const Table& table, std::optional<absl::string_view> authorization) {
  if (!authorization.has_value()) {
    return absl::UnauthenticatedError(
        "missing 'authorization: Bearer <token>' metadata");
  }
  // RFC 9110 11.4: credentials = auth-scheme [ 1*SP token68 ], and the
  // scheme is case-insensitive.
  absl::string_view value = *authorization;
  const size_t space = value.find(' ');
  if (space == absl::string_view::npos ||
      !absl::EqualsIgnoreCase(value.substr(0, space), "Bearer")) {
    return absl::UnauthenticatedError(
        "authorization metadata must be 'Bearer <token>'");
  }
  value.remove_prefix(space);
  while (absl::ConsumePrefix(&value, " ")) {
  }
  // Every token is compared, with no early exit and no branch on the
  // result, so the time does not tell which token (or how many) matched.
  // Tokens are unique, so at most one does.
  size_t found = 0;
  size_t matched = 0;  // all ones once a token matched
  for (size_t i = 0; i < table.size(); ++i) {
    const size_t mask = size_t{0} - static_cast<size_t>(ConstantTimeEquals(
                                        value, table[i].token));
    found = (found & ~mask) | (i & mask);
    matched |= mask;
  }
  if (matched == 0) return absl::UnauthenticatedError("invalid bearer token");
  return &table[found];
}

absl::Status TokenAuthenticator::CheckAuthorization(
    std::optional<absl::string_view> authorization) const {
  if (!enabled_) return absl::OkStatus();
  std::shared_ptr<const Table> table = Snapshot();
  return Match(*table, authorization).status();
}

namespace {

std::optional<absl::string_view> AuthorizationOf(
    const grpc::CallbackServerContext& context) {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  if (it == metadata.end()) return std::nullopt;
  return absl::string_view(it->second.data(), it->second.size());
}

}  // namespace

absl::Status TokenAuthenticator::Check(
    const grpc::CallbackServerContext& context) const {
  if (!enabled_) return absl::OkStatus();
  return CheckAuthorization(AuthorizationOf(context));
}

Caller TokenAuthenticator::IdentifyCaller(
    const grpc::CallbackServerContext& context) const {
  if (named_) {
    std::shared_ptr<const Table> table = Snapshot();
    absl::StatusOr<const NamedToken*> entry =
        Match(*table, AuthorizationOf(context));
    if (entry.ok()) return Caller{(*entry)->name, (*entry)->weight};
  }
  // Set by gRPC's TLS handshake when the client presented a certificate,
  // RFC 2253 style: "CN=client,O=Example".
  if (std::shared_ptr<const grpc::AuthContext> auth = context.auth_context()) {
    for (const grpc::string_ref& subject :
         auth->FindPropertyValues(GRPC_X509_SUBJECT_PROPERTY_NAME)) {
      if (!subject.empty()) {
        return Caller{std::string(subject.data(), subject.size()), 1};
      }
    }
  }
  // The address without the port; an IPv6 one by its /64.
  return Caller{CallerNameOfPeer(context.peer()), 1};
}

std::shared_ptr<grpc::ServerCredentials> TokenCheckedCredentials(
    const TokenAuthenticator& auth,
    std::shared_ptr<grpc::ServerCredentials> tls) {
  if (!auth.enabled()) {
    return tls != nullptr ? std::move(tls) : grpc::InsecureServerCredentials();
  }
  if (tls == nullptr) return std::make_shared<PlaintextTokenCredentials>(auth);
  tls->SetAuthMetadataProcessor(std::make_shared<TokenMetadataProcessor>(auth));
  return tls;
}

}  // namespace batchexec
