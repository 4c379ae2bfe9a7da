#include "net/credentials.h"

#include <openssl/evp.h>
#include <openssl/pem.h>

#include <algorithm>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <utility>

#include "engine/text.h"
#include "net/checksums.h"

namespace pflab {
namespace {

using nlohmann::json;

WallTime Now(const CredentialsConfig& config) {
  return config.clock ? config.clock() : std::chrono::system_clock::now();
}

// A PEM private key, freed when it goes.
struct PrivateKey {
  EVP_PKEY* key = nullptr;
  explicit PrivateKey(const std::string& pem) {
    BIO* bio = BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size()));
    if (bio != nullptr) {
      key = PEM_read_bio_PrivateKey(bio, nullptr, nullptr, nullptr);
      BIO_free(bio);
    }
  }
  ~PrivateKey() { EVP_PKEY_free(key); }
  PrivateKey(const PrivateKey&) = delete;
  PrivateKey& operator=(const PrivateKey&) = delete;
};

// A token endpoint's error reply, by its OAuth2 fields only: a body is never quoted whole.
std::string TokenErrorDetail(const std::string& body) {
  const json reply = json::parse(body, nullptr, /*allow_exceptions=*/false);
  std::string detail;
  if (reply.is_object()) {
    if (reply.contains("error") && reply["error"].is_string()) detail = reply["error"].get<std::string>();
    if (reply.contains("error_description") && reply["error_description"].is_string()) {
      detail += (detail.empty() ? "" : ": ") + reply["error_description"].get<std::string>();
    }
  }
  if (detail.empty()) detail = "a body of " + std::to_string(body.size()) + " bytes without an OAuth2 error";
  return detail;
}

// How long a token fetched after a 401 must have served before another 401 may refresh it again.
constexpr auto kProvenAfter = std::chrono::seconds(60);

// Cached tokens, fetched again before they expire and once after a 401; the kinds differ in Fetch.
class RefreshingCredentials : public Credentials {
 public:
  explicit RefreshingCredentials(CredentialsConfig config) : config_(std::move(config)) {}

  Result<std::string> AuthorizationHeader() final {
    std::lock_guard<std::mutex> lock(mutex_);
    const WallTime now = Now(config_);
    if (!token_ || now >= refresh_at_) {
      auto token = Fetch(now);
      if (!token) return token.error();
      ++fetched_;
      fresh_after_rejection_ = after_rejection_;
      after_rejection_ = false;
      fetched_at_ = now;
      // Fetched again when under min(5 minutes, half its lifetime) remain, so a token handed out with
      // little life left (the metadata server's cache) is not fetched on every request.
      const auto lifetime = std::max(token->expiry - now, WallTime::duration::zero());
      const auto margin = std::min<WallTime::duration>(std::chrono::minutes(5), lifetime / 2);
      refresh_at_ = token->expiry - margin;
      token_ = std::move(*token);
    }
    return "Bearer " + token_->value;
  }

  bool Rejected(const std::string& header) final {
    std::lock_guard<std::mutex> lock(mutex_);
    if (!token_) return true;                              // already dropped: the next one is fresh
    if (header != "Bearer " + token_->value) return true;  // a newer token is in place
    // A replacement refused soon after it was fetched means refreshing does not help (the account
    // lacks access, the clock is off): fail. One that served a while was refused for a new reason.
    if (fresh_after_rejection_ && Now(config_) - fetched_at_ < kProvenAfter) return false;
    token_.reset();
    after_rejection_ = true;
    return true;
  }

  std::uint64_t tokens_fetched() const final {
    std::lock_guard<std::mutex> lock(mutex_);
    return fetched_;
  }

 protected:
  virtual Result<AccessToken> Fetch(WallTime now) = 0;

  // POSTs a form to a token endpoint and parses the token it returns.
  Result<AccessToken> Exchange(const std::string& token_uri,
                               const std::vector<std::pair<std::string, std::string>>& form, WallTime now) {
    auto url = Url::Parse(token_uri);
    if (!url) return InvalidArgument(Describe() + ": token_uri: " + url.error().message);
    HttpRequest request;
    request.method = "POST";
    request.url = *url;
    request.body = FormEncode(form);
    request.content_type = "application/x-www-form-urlencoded";
    request.connect_timeout = config_.timeout;
    request.read_timeout = config_.timeout;
    auto response = SendHttpRequest(request, config_.tls);
    if (!response) return Unavailable(Describe() + ": getting a token: " + response.error().message);
    if (response->status != 200) {
      Error error{ErrorCode::kPermissionDenied,
                  Describe() + ": the token endpoint " + token_uri + " answered HTTP " +
                      std::to_string(response->status) + ": " + TokenErrorDetail(response->body),
                  false, response->status};
      if (response->status == 408 || response->status == 429 || response->status >= 500) {
        error.code = ErrorCode::kUnavailable;
        error.retryable = true;
      }
      return error;
    }
    return ParseTokenResponse(response->body, now, Describe() + ": the token endpoint " + token_uri);
  }

  const CredentialsConfig config_;

 private:
  mutable std::mutex mutex_;
  std::optional<AccessToken> token_;
  WallTime refresh_at_{};
  std::uint64_t fetched_ = 0;
  bool after_rejection_ = false;        // the next fetch replaces a token a server refused
  bool fresh_after_rejection_ = false;  // the current token is such a replacement
  WallTime fetched_at_{};
};

class ServiceAccount final : public RefreshingCredentials {
 public:
  ServiceAccount(ServiceAccountKey key, std::string source, CredentialsConfig config)
      : RefreshingCredentials(std::move(config)), key_(std::move(key)), source_(std::move(source)) {}
  std::string Describe() const override { return "service account " + key_.client_email + " (" + source_ + ")"; }
  std::string Kind() const override { return "service_account"; }

 private:
  Result<AccessToken> Fetch(WallTime now) override {
    const auto iat = std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count();
    auto jwt = MakeServiceAccountJwt(key_, config_.scope, iat);
    if (!jwt) return InvalidArgument(Describe() + ": " + jwt.error().message);
    return Exchange(key_.token_uri,
                    {{"grant_type", "urn:ietf:params:oauth:grant-type:jwt-bearer"}, {"assertion", *jwt}}, now);
  }

  ServiceAccountKey key_;
  std::string source_;
};

class AuthorizedUserCredentials final : public RefreshingCredentials {
 public:
  AuthorizedUserCredentials(AuthorizedUser user, std::string source, CredentialsConfig config)
      : RefreshingCredentials(std::move(config)), user_(std::move(user)), source_(std::move(source)) {}
  std::string Describe() const override {
    return "authorized user of client " + user_.client_id + " (" + source_ + ")";
  }
  std::string Kind() const override { return "authorized_user"; }

 private:
  Result<AccessToken> Fetch(WallTime now) override {
    return Exchange(user_.token_uri,
                    {{"grant_type", "refresh_token"},
                     {"client_id", user_.client_id},
                     {"client_secret", user_.client_secret},
                     {"refresh_token", user_.refresh_token}},
                    now);
  }

  AuthorizedUser user_;
  std::string source_;
};

class MetadataServer final : public RefreshingCredentials {
 public:
  MetadataServer(std::string host, CredentialsConfig config)
      : RefreshingCredentials(std::move(config)), host_(std::move(host)) {}
  std::string Describe() const override { return "the GCE metadata server at " + host_; }
  std::string Kind() const override { return "metadata"; }

 private:
  Result<AccessToken> Fetch(WallTime now) override {
    const std::string uri = "http://" + host_ + "/computeMetadata/v1/instance/service-accounts/default/token";
    auto url = Url::Parse(uri);
    if (!url) return InvalidArgument(Describe() + ": " + url.error().message);
    HttpRequest request;
    request.url = *url;
    request.headers = {{"Metadata-Flavor", "Google"}};
    request.connect_timeout = config_.timeout;
    request.read_timeout = config_.timeout;
    auto response = SendHttpRequest(request, config_.tls);
    if (!response) return Unavailable(Describe() + ": getting a token: " + response.error().message);
    if (response->Header("Metadata-Flavor") != "Google") {
      return Error{ErrorCode::kPermissionDenied,
                   Describe() + ": " + uri + " answered without `Metadata-Flavor: Google`: not a metadata server",
                   false, response->status};
    }
    if (response->status != 200) {
      Error error{ErrorCode::kPermissionDenied,
                  Describe() + ": " + uri + " answered HTTP " + std::to_string(response->status) +
                      (response->status == 404 ? " (does the VM have a service account?)" : ""),
                  false, response->status};
      if (response->status == 429 || response->status >= 500) {
        error.code = ErrorCode::kUnavailable;
        error.retryable = true;
      }
      return error;
    }
    return ParseTokenResponse(response->body, now, Describe());
  }

  std::string host_;
};

class FixedCredentials final : public Credentials {
 public:
  FixedCredentials(std::string header, std::string describe, std::string kind)
      : header_(std::move(header)), describe_(std::move(describe)), kind_(std::move(kind)) {}
  Result<std::string> AuthorizationHeader() override { return header_; }
  bool Rejected(const std::string&) override { return false; }
  std::string Describe() const override { return describe_; }
  std::string Kind() const override { return kind_; }

 private:
  std::string header_;
  std::string describe_;
  std::string kind_;
};

Result<std::string> ReadWholeFile(const std::string& path, const std::string& label) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return InvalidArgument(label + ": cannot read " + path);
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// A required string field of a credentials file.
Result<std::string> Field(const json& file, const char* name, const std::string& where) {
  if (!file.contains(name)) return InvalidArgument(where + ": no \"" + name + "\" field");
  if (!file[name].is_string() || file[name].get<std::string>().empty()) {
    return InvalidArgument(where + ": \"" + name + "\" must be a non-empty string");
  }
  return file[name].get<std::string>();
}

std::string OptionalField(const json& file, const char* name, std::string fallback) {
  if (file.contains(name) && file[name].is_string() && !file[name].get<std::string>().empty()) {
    return file[name].get<std::string>();
  }
  return fallback;
}

}  // namespace

std::string Base64UrlEncode(std::string_view bytes) {
  std::string text = Base64Encode(bytes);
  while (!text.empty() && text.back() == '=') text.pop_back();
  for (char& c : text) {
    if (c == '+') c = '-';
    if (c == '/') c = '_';
  }
  return text;
}

std::optional<std::string> Base64UrlDecode(std::string_view text) {
  std::string standard(text);
  for (char& c : standard) {
    if (c == '-') {
      c = '+';
    } else if (c == '_') {
      c = '/';
    } else if (c == '+' || c == '/') {
      return std::nullopt;
    }
  }
  while (standard.size() % 4 != 0) standard += '=';
  return Base64Decode(standard);
}

Result<std::string> SignRs256(const std::string& private_key_pem, std::string_view data) {
  PrivateKey key(private_key_pem);
  if (key.key == nullptr) return InvalidArgument("the private key is not a PEM private key");
  if (EVP_PKEY_base_id(key.key) != EVP_PKEY_RSA) return InvalidArgument("the private key is not an RSA key");
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  std::size_t length = 0;
  std::string signature;
  bool ok =
      ctx != nullptr && EVP_DigestSignInit(ctx, nullptr, EVP_sha256(), nullptr, key.key) == 1 &&
      EVP_DigestSign(ctx, nullptr, &length, reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
  if (ok) {
    signature.resize(length);
    ok = EVP_DigestSign(ctx, reinterpret_cast<unsigned char*>(signature.data()), &length,
                        reinterpret_cast<const unsigned char*>(data.data()), data.size()) == 1;
    signature.resize(length);
  }
  EVP_MD_CTX_free(ctx);
  if (!ok) return Internal("signing with the private key failed (OpenSSL)");
  return signature;
}

Result<std::string> MakeServiceAccountJwt(const ServiceAccountKey& key, const std::string& scope,
                                          std::int64_t issued_at_s) {
  json header = {{"alg", "RS256"}, {"typ", "JWT"}};
  if (!key.private_key_id.empty()) header["kid"] = key.private_key_id;
  const json claims = {{"iss", key.client_email},
                       {"scope", scope},
                       {"aud", key.token_uri},
                       {"iat", issued_at_s},
                       {"exp", issued_at_s + 3600}};
  const std::string signing_input = Base64UrlEncode(header.dump()) + "." + Base64UrlEncode(claims.dump());
  auto signature = SignRs256(key.private_key, signing_input);
  if (!signature) return signature.error();
  return signing_input + "." + Base64UrlEncode(*signature);
}

Result<AccessToken> ParseTokenResponse(const std::string& body, WallTime now, const std::string& what) {
  const json reply = json::parse(body, nullptr, /*allow_exceptions=*/false);
  auto bad = [&](const std::string& why) {
    return Error{ErrorCode::kPermissionDenied, what + " answered 200 but not with a token: " + why, false, 200};
  };
  if (!reply.is_object()) return bad("the body is not a JSON object");
  if (!reply.contains("access_token") || !reply["access_token"].is_string() ||
      reply["access_token"].get<std::string>().empty()) {
    return bad("no access_token");
  }
  if (reply.contains("token_type")) {
    std::string type = reply["token_type"].is_string() ? reply["token_type"].get<std::string>() : "";
    std::transform(type.begin(), type.end(), type.begin(), [](unsigned char c) { return std::tolower(c); });
    if (type != "bearer") return bad("token_type is not Bearer");
  }
  std::int64_t expires_in = 3600;  // RFC 6749 makes it optional; Google always sends it
  if (reply.contains("expires_in")) {
    if (!reply["expires_in"].is_number_integer() || reply["expires_in"].get<std::int64_t>() < 0) {
      return bad("expires_in is not a number of seconds");
    }
    expires_in = reply["expires_in"].get<std::int64_t>();
  }
  const std::string token = reply["access_token"].get<std::string>();
  for (unsigned char c : token) {
    // It goes into a header line: anything that could end or fold the line is refused.
    if (c < 0x21 || c > 0x7e) return bad("access_token holds characters a header cannot carry");
  }
  return AccessToken{token, now + std::chrono::seconds(expires_in)};
}

std::shared_ptr<Credentials> MakeAnonymousCredentials(std::string why) {
  return std::make_shared<FixedCredentials>("", "anonymous (" + why + ")", "anonymous");
}

std::shared_ptr<Credentials> MakeTokenCredentials(std::string token, std::string source) {
  return std::make_shared<FixedCredentials>("Bearer " + token, "access token from " + source, "token");
}

std::shared_ptr<Credentials> MakeServiceAccountCredentials(ServiceAccountKey key, std::string source,
                                                           CredentialsConfig config) {
  return std::make_shared<ServiceAccount>(std::move(key), std::move(source), std::move(config));
}

std::shared_ptr<Credentials> MakeAuthorizedUserCredentials(AuthorizedUser user, std::string source,
                                                           CredentialsConfig config) {
  return std::make_shared<AuthorizedUserCredentials>(std::move(user), std::move(source), std::move(config));
}

std::shared_ptr<Credentials> MakeMetadataServerCredentials(std::string host, CredentialsConfig config) {
  return std::make_shared<MetadataServer>(std::move(host), std::move(config));
}

Result<std::shared_ptr<Credentials>> LoadCredentialsFile(const std::string& path, const std::string& source,
                                                         const CredentialsConfig& config) {
  const std::string where = "credentials file " + path + " (" + source + ")";
  auto text = ReadWholeFile(path, "credentials file (" + source + ")");
  if (!text) return text.error();
  json file;
  try {
    file = json::parse(*text);
  } catch (const json::parse_error& e) {
    // The parser's message gives the byte; the text itself is not quoted (it holds secrets).
    return InvalidArgument(where + ": not JSON (" + std::string(e.what()).substr(0, 120) + ")");
  }
  if (!file.is_object()) return InvalidArgument(where + ": not a JSON object");
  auto type = Field(file, "type", where);
  if (!type) return type.error();
  if (*type == "service_account") {
    ServiceAccountKey key;
    for (auto [field, name] : {std::pair{&key.client_email, "client_email"}, {&key.private_key, "private_key"}}) {
      auto value = Field(file, name, where);
      if (!value) return value.error();
      *field = *value;
    }
    key.private_key_id = OptionalField(file, "private_key_id", "");
    key.token_uri = OptionalField(file, "token_uri", kGoogleTokenUri);
    if (auto url = Url::Parse(key.token_uri); !url)
      return InvalidArgument(where + ": token_uri: " + url.error().message);
    PrivateKey parsed(key.private_key);
    if (parsed.key == nullptr) return InvalidArgument(where + ": private_key is not a PEM private key");
    if (EVP_PKEY_base_id(parsed.key) != EVP_PKEY_RSA) {
      return InvalidArgument(where + ": private_key is not an RSA key (RS256 needs one)");
    }
    return MakeServiceAccountCredentials(std::move(key), "key " + path + " from " + source, config);
  }
  if (*type == "authorized_user") {
    AuthorizedUser user;
    for (auto [field, name] : {std::pair{&user.client_id, "client_id"},
                               {&user.client_secret, "client_secret"},
                               {&user.refresh_token, "refresh_token"}}) {
      auto value = Field(file, name, where);
      if (!value) return value.error();
      *field = *value;
    }
    user.token_uri = OptionalField(file, "token_uri", kGoogleTokenUri);
    if (auto url = Url::Parse(user.token_uri); !url) {
      return InvalidArgument(where + ": token_uri: " + url.error().message);
    }
    return MakeAuthorizedUserCredentials(std::move(user), path + " from " + source, config);
  }
  return InvalidArgument(where + ": type \"" + *type +
                         "\" is not one pflab can use (service_account or authorized_user)");
}

bool MetadataServerAvailable(const std::string& host, Nanos timeout) {
  auto url = Url::Parse("http://" + host + "/");
  if (!url) return false;
  HttpRequest request;
  request.url = *url;
  request.headers = {{"Metadata-Flavor", "Google"}};
  request.connect_timeout = timeout;
  request.read_timeout = timeout;
  auto response = SendHttpRequest(request, {});
  return response && response->Header("Metadata-Flavor") == "Google";
}

Result<std::shared_ptr<Credentials>> FindCredentials(const CredentialsOptions& options) {
  auto env = [&](const std::string& name) -> std::optional<std::string> {
    if (options.getenv) return options.getenv(name);
    const char* value = std::getenv(name.c_str());
    if (value == nullptr) return std::nullopt;
    return std::string(value);
  };
  auto set = [&](const std::string& name) {
    auto value = env(name);
    return value && !value->empty() ? value : std::nullopt;
  };
  if (options.anonymous) return MakeAnonymousCredentials("--anonymous");
  if (!options.token_file.empty()) {
    auto text = ReadWholeFile(options.token_file, "--token-file");
    if (!text) return text.error();
    const std::string token(Trim(*text));
    if (token.empty()) return InvalidArgument("--token-file " + options.token_file + ": the file is empty");
    for (unsigned char c : token) {
      if (c < 0x21 || c > 0x7e) {
        return InvalidArgument("--token-file " + options.token_file +
                               ": expected one access token (printable characters, no spaces or line breaks)");
      }
    }
    return MakeTokenCredentials(token, "--token-file " + options.token_file);
  }
  if (!options.credentials_file.empty()) {
    return LoadCredentialsFile(options.credentials_file, "--credentials", options.config);
  }
  if (auto token = set("PFLAB_GCS_TOKEN")) {
    const std::string trimmed(Trim(*token));
    for (unsigned char c : trimmed) {
      if (c < 0x21 || c > 0x7e) {
        return InvalidArgument("$PFLAB_GCS_TOKEN: expected one access token (printable characters, no spaces)");
      }
    }
    if (!trimmed.empty()) return MakeTokenCredentials(trimmed, "$PFLAB_GCS_TOKEN");
  }
  if (!options.discover) return MakeAnonymousCredentials("none given, and the endpoint is not https");
  if (auto path = set("GOOGLE_APPLICATION_CREDENTIALS")) {
    return LoadCredentialsFile(*path, "$GOOGLE_APPLICATION_CREDENTIALS", options.config);
  }
  std::string gcloud_dir;
  if (auto config_dir = set("CLOUDSDK_CONFIG")) {
    gcloud_dir = *config_dir;
  } else if (auto home = set("HOME")) {
    gcloud_dir = *home + "/.config/gcloud";
  }
  if (!gcloud_dir.empty()) {
    const std::string path = gcloud_dir + "/application_default_credentials.json";
    if (std::ifstream(path).good())
      return LoadCredentialsFile(path, "gcloud's application-default file", options.config);
  }
  std::string no_check = env("NO_GCE_CHECK").value_or("");
  std::transform(no_check.begin(), no_check.end(), no_check.begin(), [](unsigned char c) { return std::tolower(c); });
  if (no_check != "true" && no_check != "1") {
    std::string host = kDefaultMetadataHost;
    if (auto h = set("GCE_METADATA_HOST")) {
      host = *h;
    } else if (auto root = set("GCE_METADATA_ROOT")) {
      host = *root;
    }
    if (MetadataServerAvailable(host, options.metadata_probe_timeout)) {
      return MakeMetadataServerCredentials(host, options.config);
    }
  }
  return MakeAnonymousCredentials(
      "no token, no credentials file and no metadata server found: only public objects can be read");
}

}  // namespace pflab
