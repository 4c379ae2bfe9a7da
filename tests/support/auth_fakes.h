// Offline stand-ins for what live-GCS authentication talks to: a test PKI made with the openssl CLI (a
// self-signed server certificate for 127.0.0.1, trusted through --ca-file, and a service account's RSA
// key), an HTTPS token endpoint that verifies a JWT's RS256 signature with the service account's public
// key (and knows one authorized user), a GCE metadata server, and an HTTPS server of synthetic objects
// that accepts only the tokens the token endpoint issued and not revoked.
#pragma once

#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <string>
#include <thread>

#include "engine/synthetic_content.h"
#include "net/credentials.h"
#include "net/http_transport.h"
#include "tests/support/cli_runner.h"
#include "tests/support/files.h"
#include "tests/support/synthetic_http_server.h"

namespace pflab::testing {

/// Certificates and keys made for one test, in `dir`.
struct TestPki {
  std::filesystem::path dir;
  std::string server_cert;  // PEM file: the HTTPS servers' certificate, also the CA to trust
  std::string server_key;
  std::string sa_key_pem;  // the service account's private key (PKCS#8 PEM text)
  std::string sa_public_pem;

  explicit TestPki(const std::filesystem::path& where) : dir(where) {
    server_cert = (dir / "server.crt").string();
    server_key = (dir / "server.key").string();
    const std::string quiet = " 2>" + (dir / "openssl.log").string();
    REQUIRE(Shell("openssl req -x509 -newkey rsa:2048 -nodes -keyout " + server_key + " -out " + server_cert +
                  " -days 2 -subj /CN=127.0.0.1 -addext subjectAltName=IP:127.0.0.1,DNS:localhost" + quiet) == 0);
    const std::string sa_key = (dir / "sa.key").string(), sa_pub = (dir / "sa.pub").string();
    REQUIRE(Shell("openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out " + sa_key + quiet) == 0);
    REQUIRE(Shell("openssl pkey -in " + sa_key + " -pubout -out " + sa_pub + quiet) == 0);
    sa_key_pem = Slurp(sa_key);
    sa_public_pem = Slurp(sa_pub);
  }

  /// Writes a service-account key file for `email` whose token_uri is `token_uri`; returns its path.
  std::string WriteServiceAccountKey(const std::string& email, const std::string& token_uri,
                                     const std::string& file = "sa.json") const {
    const nlohmann::json key = {{"type", "service_account"}, {"project_id", "pflab-test"}, {"private_key_id", "kid-1"},
                                {"private_key", sa_key_pem}, {"client_email", email},      {"client_id", "1234"},
                                {"token_uri", token_uri}};
    const std::string path = (dir / file).string();
    WriteText(path, key.dump(2));
    return path;
  }

  static void WriteText(const std::string& path, const std::string& text) {
    std::ofstream out(path, std::ios::binary);
    out << text;
  }
};

/// Whether `jwt` carries a valid RS256 signature under the PEM public key.
inline bool VerifyRs256(const std::string& jwt, const std::string& public_pem) {
  const auto last = jwt.rfind('.');
  if (last == std::string::npos) return false;
  const auto signature = Base64UrlDecode(jwt.substr(last + 1));
  if (!signature) return false;
  BIO* bio = BIO_new_mem_buf(public_pem.data(), static_cast<int>(public_pem.size()));
  EVP_PKEY* key = PEM_read_bio_PUBKEY(bio, nullptr, nullptr, nullptr);
  BIO_free(bio);
  if (key == nullptr) return false;
  EVP_MD_CTX* ctx = EVP_MD_CTX_new();
  const bool ok = EVP_DigestVerifyInit(ctx, nullptr, EVP_sha256(), nullptr, key) == 1 &&
                  EVP_DigestVerify(ctx, reinterpret_cast<const unsigned char*>(signature->data()), signature->size(),
                                   reinterpret_cast<const unsigned char*>(jwt.data()), last) == 1;
  EVP_MD_CTX_free(ctx);
  EVP_PKEY_free(key);
  return ok;
}

/// The JSON of a JWT's part (0: header, 1: claims).
inline nlohmann::json JwtPart(const std::string& jwt, int part) {
  const auto first = jwt.find('.'), second = jwt.find('.', first + 1);
  const std::string text = part == 0 ? jwt.substr(0, first) : jwt.substr(first + 1, second - first - 1);
  const auto decoded = Base64UrlDecode(text);
  REQUIRE(decoded.has_value());
  return nlohmann::json::parse(*decoded);
}

/// Runs an httplib server (plain or TLS) on 127.0.0.1 in a thread of its own.
template <typename Server>
class Running {
 public:
  template <typename... Args>
  explicit Running(Args&&... args) : server_(std::forward<Args>(args)...) {}
  void Start() {
    port_ = server_.bind_to_any_port("127.0.0.1");
    REQUIRE(port_ > 0);
    thread_ = std::thread([this] { server_.listen_after_bind(); });
    while (!server_.is_running()) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  ~Running() {
    server_.stop();
    if (thread_.joinable()) thread_.join();
  }
  Server& server() { return server_; }
  int port() const { return port_; }

 private:
  Server server_;
  int port_ = 0;
  std::thread thread_;
};

/// A token endpoint over HTTPS: the JWT bearer grant for one service account (signature checked with
/// its public key, claims checked against this endpoint) and the refresh_token grant for one user.
class FakeTokenEndpoint {
 public:
  struct User {
    std::string client_id, client_secret, refresh_token;
  };

  FakeTokenEndpoint(const TestPki& pki, std::string email, User user = {})
      : https_(pki.server_cert.c_str(), pki.server_key.c_str()),
        public_pem_(pki.sa_public_pem),
        email_(std::move(email)),
        user_(std::move(user)) {
    https_.server().Post("/token", [this](const httplib::Request& req, httplib::Response& res) { Handle(req, res); });
    https_.Start();
  }

  std::string uri() const { return "https://127.0.0.1:" + std::to_string(https_.port()) + "/token"; }
  int grants() const { return grants_.load(); }
  std::int64_t expires_in = 3600;
  /// Every token issued, and the claims of the last JWT accepted.
  std::set<std::string> issued() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return issued_;
  }
  nlohmann::json last_claims() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_claims_;
  }
  std::string last_assertion() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return last_assertion_;
  }

 private:
  void Refuse(httplib::Response& res, const std::string& error, const std::string& description) {
    res.status = 400;
    res.set_content(nlohmann::json{{"error", error}, {"error_description", description}}.dump(), "application/json");
  }
  void Handle(const httplib::Request& req, httplib::Response& res) {
    if (req.get_header_value("Content-Type") != "application/x-www-form-urlencoded") {
      return Refuse(res, "invalid_request", "not a form");
    }
    httplib::Params form;
    httplib::detail::parse_query_text(req.body, form);
    auto get = [&](const std::string& key) {
      auto it = form.find(key);
      return it == form.end() ? std::string() : it->second;
    };
    const std::string grant = get("grant_type");
    if (grant == "urn:ietf:params:oauth:grant-type:jwt-bearer") {
      const std::string jwt = get("assertion");
      if (!VerifyRs256(jwt, public_pem_)) return Refuse(res, "invalid_grant", "Invalid JWT Signature.");
      const auto header = JwtPart(jwt, 0);
      const auto claims = JwtPart(jwt, 1);
      if (header.value("alg", "") != "RS256" || header.value("typ", "") != "JWT") {
        return Refuse(res, "invalid_grant", "bad JWT header");
      }
      if (claims.value("iss", "") != email_ || claims.value("aud", "") != uri() ||
          claims.value("exp", 0LL) != claims.value("iat", 0LL) + 3600 || claims.value("scope", "").empty()) {
        return Refuse(res, "invalid_grant", "bad JWT claims");
      }
      std::lock_guard<std::mutex> lock(mutex_);
      last_claims_ = claims;
      last_assertion_ = jwt;
    } else if (grant == "refresh_token") {
      if (user_.refresh_token.empty() || get("refresh_token") != user_.refresh_token ||
          get("client_id") != user_.client_id || get("client_secret") != user_.client_secret) {
        return Refuse(res, "invalid_grant", "Token has been expired or revoked.");
      }
    } else {
      return Refuse(res, "unsupported_grant_type", "Invalid grant_type: " + grant);
    }
    const std::string token = "ya29.fake-" + std::to_string(++grants_) + "-" + std::to_string(::getpid());
    {
      std::lock_guard<std::mutex> lock(mutex_);
      issued_.insert(token);
    }
    res.set_content(
        nlohmann::json{{"access_token", token}, {"expires_in", expires_in}, {"token_type", "Bearer"}}.dump(),
        "application/json");
  }

  Running<httplib::SSLServer> https_;
  std::string public_pem_;
  std::string email_;
  User user_;
  std::atomic<int> grants_{0};
  mutable std::mutex mutex_;
  std::set<std::string> issued_;
  nlohmann::json last_claims_;
  std::string last_assertion_;
};

/// A GCE metadata server (plain HTTP, as on GCE): the default service account's token, only to requests
/// that say `Metadata-Flavor: Google`; its replies say it too.
class FakeMetadataServer {
 public:
  FakeMetadataServer() {
    http_.server().Get("/", [](const httplib::Request&, httplib::Response& res) {
      res.set_header("Metadata-Flavor", "Google");
      res.set_content("computeMetadata/\n", "text/plain");
    });
    http_.server().Get("/computeMetadata/v1/instance/service-accounts/default/token", [this](
                                                                                          const httplib::Request& req,
                                                                                          httplib::Response& res) {
      res.set_header("Metadata-Flavor", "Google");
      if (req.get_header_value("Metadata-Flavor") != "Google") {
        res.status = 403;
        return;
      }
      const std::string token = "ya29.metadata-" + std::to_string(++grants_);
      {
        std::lock_guard<std::mutex> lock(mutex_);
        issued_.insert(token);
      }
      res.set_content(nlohmann::json{{"access_token", token}, {"expires_in", 3599}, {"token_type", "Bearer"}}.dump(),
                      "application/json");
    });
    http_.Start();
  }
  std::string host() const { return "127.0.0.1:" + std::to_string(http_.port()); }
  int grants() const { return grants_.load(); }
  std::set<std::string> issued() const {
    std::lock_guard<std::mutex> lock(mutex_);
    return issued_;
  }

 private:
  Running<httplib::Server> http_;
  std::atomic<int> grants_{0};
  mutable std::mutex mutex_;
  std::set<std::string> issued_;
};

/// Synthetic objects over HTTPS at the JSON API's metadata and media URLs, for the holders of accepted
/// tokens only (401 otherwise); Revoke makes a token fail from then on, as an expired one would.
class HttpsObjectServer {
 public:
  struct Object {
    std::uint64_t size;
    std::int64_t generation;
  };

  HttpsObjectServer(const TestPki& pki, std::map<std::string, Object> objects,
                    std::function<std::set<std::string>()> accepted)
      : https_(pki.server_cert.c_str(), pki.server_key.c_str()),
        objects_(std::move(objects)),
        accepted_(std::move(accepted)) {
    https_.server().Get(R"(/storage/v1/b/([^/]+)/o/(.+))", [this](const httplib::Request& req, httplib::Response& res) {
      ++requests_;
      const std::string auth = req.get_header_value("Authorization");
      const std::string token = auth.rfind("Bearer ", 0) == 0 ? auth.substr(7) : "";
      bool ok = false;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        ok = accepted_().count(token) > 0 && revoked_.count(token) == 0;
        // A token that served `revoke_after` requests is refused from then on, as one expiring mid-run.
        if (ok && revoke_after_ > 0 && ++served_[token] >= revoke_after_) revoked_.insert(token);
      }
      // cpp-httplib applies a request's Range to error bodies too (a 401 of a ranged GET would go out as
      // 416); errors are whole bodies, so the range is dropped for them.
      auto error_reply = [&req] { const_cast<httplib::Request&>(req).ranges.clear(); };
      if (!ok) {
        error_reply();
        ++unauthorized_;
        res.status = 401;
        res.set_content(R"({"error":{"code":401,"message":"Invalid Credentials"}})", "application/json");
        return;
      }
      const std::string bucket = req.matches[1], name = req.matches[2];
      auto it = objects_.find(bucket + "/" + name);
      if (it == objects_.end()) {
        error_reply();
        res.status = 404;
        res.set_content(R"({"error":{"code":404,"message":"No such object"}})", "application/json");
        return;
      }
      const Object object = it->second;
      if (req.get_param_value("alt") != "media") {
        res.set_content(nlohmann::json{{"bucket", bucket},
                                       {"name", name},
                                       {"size", std::to_string(object.size)},
                                       {"generation", std::to_string(object.generation)}}
                            .dump(),
                        "application/json");
        return;
      }
      const std::uint64_t seed = ObjectSeed(bucket, name, object.generation);
      ServeSynthetic(res, seed, object.size, object.generation);
    });
    https_.Start();
  }

  HttpEndpoint endpoint() const { return HttpEndpoint{"https", "127.0.0.1", https_.port()}; }
  std::string url() const { return endpoint().Url(); }
  void Revoke(const std::string& token) {
    std::lock_guard<std::mutex> lock(mutex_);
    revoked_.insert(token);
  }
  /// Each token is refused after it has served this many requests (0: never).
  void RevokeAfter(int requests) {
    std::lock_guard<std::mutex> lock(mutex_);
    revoke_after_ = requests;
  }
  int requests() const { return requests_.load(); }
  int unauthorized() const { return unauthorized_.load(); }

 private:
  Running<httplib::SSLServer> https_;
  std::map<std::string, Object> objects_;
  std::function<std::set<std::string>()> accepted_;
  std::mutex mutex_;
  std::set<std::string> revoked_;
  std::map<std::string, int> served_;
  int revoke_after_ = 0;
  std::atomic<int> requests_{0};
  std::atomic<int> unauthorized_{0};
};

}  // namespace pflab::testing
