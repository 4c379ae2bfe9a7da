// Credentials for live GCS, offline: the JWT a service account signs (checked with OpenSSL here and with
// python3-google-auth), the token exchanges against a fake HTTPS token endpoint that verifies the JWT's
// signature, the metadata server, the order credentials are looked for in, clear errors for bad files,
// and HttpTransport over TLS sending the tokens and fetching a fresh one after a 401.
#include "net/credentials.h"

#include <catch2/catch.hpp>
#include <map>
#include <optional>
#include <string>

#include "engine/asio_scheduler.h"
#include "engine/buffer.h"
#include "engine/synthetic_content.h"
#include "net/gcs_objects.h"
#include "net/http_transport.h"
#include "tests/support/auth_fakes.h"
#include "tests/support/cli_runner.h"

namespace pflab {
namespace {

using testing::FakeMetadataServer;
using testing::FakeTokenEndpoint;
using testing::FreshTempDir;
using testing::TestPki;

constexpr char kEmail[] = "reader@pflab-test.iam.gserviceaccount.com";

// An environment of only these variables.
std::function<std::optional<std::string>(const std::string&)> Env(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const std::string& name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

CredentialsConfig Trusting(const TestPki& pki) {
  CredentialsConfig config;
  config.tls.ca_file = pki.server_cert;
  return config;
}

TEST_CASE("credentials: the service account's JWT is RS256 over the claims Google's token endpoint expects",
          "[net][auth]") {
  const TestPki pki(FreshTempDir("pflab_auth_jwt"));
  ServiceAccountKey key{kEmail, pki.sa_key_pem, "kid-1", "https://oauth2.example.test/token"};
  auto jwt = MakeServiceAccountJwt(key, kReadOnlyScope, 1700000000);
  REQUIRE(jwt.ok());
  const auto header = testing::JwtPart(*jwt, 0);
  const auto claims = testing::JwtPart(*jwt, 1);
  CHECK(header == nlohmann::json{{"alg", "RS256"}, {"typ", "JWT"}, {"kid", "kid-1"}});
  CHECK(claims == nlohmann::json{{"iss", kEmail},
                                 {"scope", kReadOnlyScope},
                                 {"aud", "https://oauth2.example.test/token"},
                                 {"iat", 1700000000},
                                 {"exp", 1700003600}});
  CHECK(testing::VerifyRs256(*jwt, pki.sa_public_pem));
  // The check can fail: one claim changed breaks the signature.
  std::string forged = *jwt;
  const auto dot = forged.find('.');
  forged[dot + 3] = forged[dot + 3] == 'A' ? 'B' : 'A';
  CHECK_FALSE(testing::VerifyRs256(forged, pki.sa_public_pem));
  // RS256 (PKCS#1 v1.5) is deterministic: the same input gives the same signature.
  CHECK(*MakeServiceAccountJwt(key, kReadOnlyScope, 1700000000) == *jwt);
  CHECK(Base64UrlDecode(Base64UrlEncode(std::string("\xfb\xff\x00?", 4))) == std::string("\xfb\xff\x00?", 4));
}

TEST_CASE("credentials: python3-google-auth verifies our JWT, signs it identically, and gets a token from the fake",
          "[net][auth][python]") {
  const std::string python = "/usr/bin/python3";
  if (testing::Shell(python + " -c 'import google.auth' 2>/dev/null") != 0) {
    FAIL("this test needs " << python << " with python3-google-auth: run scripts/setup.sh (as root)");
  }
  const auto dir = FreshTempDir("pflab_auth_python");
  const TestPki pki(dir);
  FakeTokenEndpoint endpoint(pki, kEmail);
  const std::string key_path = pki.WriteServiceAccountKey(kEmail, endpoint.uri());
  const auto now =
      std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch()).count();
  auto jwt = MakeServiceAccountJwt({kEmail, pki.sa_key_pem, "kid-1", endpoint.uri()}, kReadOnlyScope, now);
  REQUIRE(jwt.ok());
  testing::TestPki::WriteText((dir / "sa.pub").string(), pki.sa_public_pem);
  const std::string script = std::string(PFLAB_SOURCE_DIR) + "/tests/net/google_auth_check.py";
  const std::string cmd = python + " " + script + " " + key_path + " " + (dir / "sa.pub").string() + " " + *jwt + " " +
                          pki.server_cert + " >" + (dir / "py.out").string() + " 2>" + (dir / "py.err").string();
  const int code = testing::Shell(cmd);
  INFO(testing::Slurp(dir / "py.err"));
  REQUIRE(code == 0);
  const auto out = nlohmann::json::parse(testing::Slurp(dir / "py.out"));
  CHECK(out["claims"] == testing::JwtPart(*jwt, 1));
  CHECK(out["signature"] == jwt->substr(jwt->rfind('.') + 1));
  // google-auth's own JWT passed the fake's signature check, and it parsed the fake's reply: the fake
  // speaks the protocol as the official client does, so our client passing it means something.
  CHECK(endpoint.issued().count(out["token"].get<std::string>()) == 1);
  CHECK(endpoint.last_claims()["scope"] == kReadOnlyScope);
  CHECK(endpoint.last_claims()["iss"] == kEmail);
}

TEST_CASE("credentials: a service account exchanges its JWT, caches the token and refreshes it before expiry",
          "[net][auth]") {
  const TestPki pki(FreshTempDir("pflab_auth_sa"));
  FakeTokenEndpoint endpoint(pki, kEmail);
  const std::string path = pki.WriteServiceAccountKey(kEmail, endpoint.uri());
  auto now = std::chrono::system_clock::now();
  CredentialsConfig config = Trusting(pki);
  config.clock = [&now] { return now; };
  auto credentials = LoadCredentialsFile(path, "a test", config);
  REQUIRE(credentials.ok());
  CHECK((*credentials)->Kind() == "service_account");
  CHECK((*credentials)->Describe() == std::string("service account ") + kEmail + " (key " + path + " from a test)");
  auto first = (*credentials)->AuthorizationHeader();
  REQUIRE(first.ok());
  CHECK(endpoint.issued().count(first->substr(7)) == 1);
  CHECK(first->rfind("Bearer ya29.fake-1-", 0) == 0);
  CHECK(endpoint.last_claims()["iat"] ==
        std::chrono::duration_cast<std::chrono::seconds>(now.time_since_epoch()).count());
  now += std::chrono::seconds(3200);  // 400 s left: more than the 5 minute margin
  CHECK(*(*credentials)->AuthorizationHeader() == *first);
  CHECK(endpoint.grants() == 1);
  now += std::chrono::seconds(200);  // 200 s left: fetched again
  auto second = (*credentials)->AuthorizationHeader();
  REQUIRE(second.ok());
  CHECK(*second != *first);
  CHECK(endpoint.grants() == 2);
  CHECK((*credentials)->tokens_fetched() == 2);
  // A 401: a fresh token once; the fresh one refused too fails.
  CHECK((*credentials)->Rejected(*second));
  auto third = (*credentials)->AuthorizationHeader();
  REQUIRE(third.ok());
  CHECK(*third != *second);
  CHECK((*credentials)->Rejected(*second));  // stale: the retry carries the new one
  CHECK_FALSE((*credentials)->Rejected(*third));
  now += std::chrono::seconds(120);  // one that served two minutes was refused for a new reason
  CHECK((*credentials)->Rejected(*third));
  CHECK(*(*credentials)->AuthorizationHeader() != *third);
  CHECK(endpoint.grants() == 4);
}

TEST_CASE("credentials: an authorized_user file refreshes its token; a refused refresh names the grant, not secrets",
          "[net][auth]") {
  const auto dir = FreshTempDir("pflab_auth_user");
  const TestPki pki(dir);
  FakeTokenEndpoint endpoint(pki, kEmail, {"client-123.apps", "secret-xyz", "1//refresh-abc"});
  nlohmann::json file = {{"type", "authorized_user"},
                         {"client_id", "client-123.apps"},
                         {"client_secret", "secret-xyz"},
                         {"refresh_token", "1//refresh-abc"},
                         {"token_uri", endpoint.uri()}};
  const std::string path = (dir / "adc.json").string();
  TestPki::WriteText(path, file.dump());
  auto credentials = LoadCredentialsFile(path, "a test", Trusting(pki));
  REQUIRE(credentials.ok());
  CHECK((*credentials)->Kind() == "authorized_user");
  auto header = (*credentials)->AuthorizationHeader();
  REQUIRE(header.ok());
  CHECK(endpoint.issued().count(header->substr(7)) == 1);

  file["refresh_token"] = "1//revoked";
  TestPki::WriteText(path, file.dump());
  auto revoked = LoadCredentialsFile(path, "a test", Trusting(pki));
  REQUIRE(revoked.ok());
  auto refused = (*revoked)->AuthorizationHeader();
  REQUIRE_FALSE(refused.ok());
  CHECK(refused.error().code == ErrorCode::kPermissionDenied);
  CHECK_THAT(refused.error().message, Catch::Contains("HTTP 400: invalid_grant: Token has been expired or revoked."));
  CHECK_THAT(refused.error().message, Catch::Contains(endpoint.uri()));
  for (const std::string secret : {"1//revoked", "secret-xyz"}) {
    CHECK_THAT(refused.error().message, !Catch::Contains(secret));
    CHECK_THAT((*revoked)->Describe(), !Catch::Contains(secret));
  }
  // Without the test's certificate trusted, the TLS failure says what to do.
  auto untrusted = LoadCredentialsFile(path, "a test", CredentialsConfig{});
  REQUIRE(untrusted.ok());
  auto failed = (*untrusted)->AuthorizationHeader();
  REQUIRE_FALSE(failed.ok());
  CHECK_THAT(failed.error().message, Catch::Contains("--ca-file"));
}

TEST_CASE("credentials: the metadata server's token, only from a server that says Metadata-Flavor: Google",
          "[net][auth]") {
  FakeMetadataServer metadata;
  CHECK(MetadataServerAvailable(metadata.host(), kSecond));
  auto credentials = MakeMetadataServerCredentials(metadata.host(), {});
  auto header = credentials->AuthorizationHeader();
  REQUIRE(header.ok());
  CHECK(metadata.issued().count(header->substr(7)) == 1);
  CHECK(*credentials->AuthorizationHeader() == *header);  // 3599 s left: cached
  CHECK(metadata.grants() == 1);
  // Not a metadata server: a plain server on another port answers without the header.
  testing::Running<httplib::Server> other;
  other.server().Get(R"(/.*)",
                     [](const httplib::Request&, httplib::Response& res) { res.set_content("{}", "text/plain"); });
  other.Start();
  const std::string other_host = "127.0.0.1:" + std::to_string(other.port());
  CHECK_FALSE(MetadataServerAvailable(other_host, kSecond));
  auto wrong = MakeMetadataServerCredentials(other_host, {})->AuthorizationHeader();
  REQUIRE_FALSE(wrong.ok());
  CHECK_THAT(wrong.error().message, Catch::Contains("not a metadata server"));
}

TEST_CASE("credentials: looked for in the official clients' order", "[net][auth]") {
  const auto dir = FreshTempDir("pflab_auth_order");
  const TestPki pki(dir);
  FakeTokenEndpoint endpoint(pki, kEmail, {"cid", "csecret", "1//rt"});
  FakeMetadataServer metadata;
  const std::string key_path = pki.WriteServiceAccountKey(kEmail, endpoint.uri());
  const auto gcloud = dir / "gcloud";
  std::filesystem::create_directories(gcloud);
  TestPki::WriteText((gcloud / "application_default_credentials.json").string(),
                     nlohmann::json{{"type", "authorized_user"},
                                    {"client_id", "cid"},
                                    {"client_secret", "csecret"},
                                    {"refresh_token", "1//rt"},
                                    {"token_uri", endpoint.uri()}}
                         .dump());
  const std::string token_file = (dir / "token").string();
  TestPki::WriteText(token_file, "ya29.from-file\n");
  // A closed port: no metadata server there.
  const std::string nowhere = "127.0.0.1:1";

  auto kind = [&](CredentialsOptions options, std::map<std::string, std::string> env) {
    options.config = Trusting(pki);
    options.getenv = Env(std::move(env));
    auto found = FindCredentials(options);
    REQUIRE(found.ok());
    return (*found)->Kind();
  };
  const std::map<std::string, std::string> everything = {{"PFLAB_GCS_TOKEN", "ya29.from-env"},
                                                         {"GOOGLE_APPLICATION_CREDENTIALS", key_path},
                                                         {"CLOUDSDK_CONFIG", gcloud.string()},
                                                         {"GCE_METADATA_HOST", metadata.host()}};
  CredentialsOptions with_file;
  with_file.token_file = token_file;
  CHECK(kind(with_file, everything) == "token");
  auto from_file = [&] {
    CredentialsOptions o = with_file;
    o.getenv = Env(everything);
    return FindCredentials(o);
  }();
  REQUIRE(from_file.ok());
  CHECK(*(*from_file)->AuthorizationHeader() == "Bearer ya29.from-file");
  CHECK((*from_file)->Describe() == "access token from --token-file " + token_file);
  CHECK(kind({}, everything) == "token");  // $PFLAB_GCS_TOKEN
  auto rest = everything;
  rest.erase("PFLAB_GCS_TOKEN");
  CredentialsOptions explicit_file;
  explicit_file.credentials_file = (gcloud / "application_default_credentials.json").string();
  CHECK(kind(explicit_file, everything) == "authorized_user");  // --credentials before the environment's token
  CHECK(kind({}, rest) == "service_account");                   // $GOOGLE_APPLICATION_CREDENTIALS
  rest.erase("GOOGLE_APPLICATION_CREDENTIALS");
  CHECK(kind({}, rest) == "authorized_user");  // gcloud's file
  rest.erase("CLOUDSDK_CONFIG");
  rest["HOME"] = (dir / "no-home").string();
  CHECK(kind({}, rest) == "metadata");
  rest["NO_GCE_CHECK"] = "True";
  CHECK(kind({}, rest) == "anonymous");
  rest.erase("NO_GCE_CHECK");
  rest["GCE_METADATA_HOST"] = nowhere;
  CHECK(kind({}, rest) == "anonymous");
  // Not discovering (a plain-http endpoint): only what is given explicitly counts.
  CredentialsOptions local;
  local.discover = false;
  CHECK(kind(local, everything) == "token");
  auto no_token = everything;
  no_token.erase("PFLAB_GCS_TOKEN");
  CHECK(kind(local, no_token) == "anonymous");
  CredentialsOptions anonymous;
  anonymous.anonymous = true;
  CHECK(kind(anonymous, everything) == "anonymous");
}

TEST_CASE("credentials: a file that cannot be used is an error naming it and what is wrong", "[net][auth]") {
  const auto dir = FreshTempDir("pflab_auth_bad");
  const TestPki pki(dir);
  auto error_of = [&](const std::string& text) {
    const std::string path = (dir / "bad.json").string();
    TestPki::WriteText(path, text);
    auto loaded = LoadCredentialsFile(path, "--credentials", {});
    REQUIRE_FALSE(loaded.ok());
    CHECK_THAT(loaded.error().message, Catch::Contains(path));
    return loaded.error().message;
  };
  CHECK_THAT(error_of("{not json"), Catch::Contains("not JSON"));
  CHECK_THAT(error_of("[1]"), Catch::Contains("not a JSON object"));
  CHECK_THAT(error_of(R"({"client_email":"a"})"), Catch::Contains("no \"type\" field"));
  CHECK_THAT(error_of(R"({"type":"external_account"})"),
             Catch::Contains("type \"external_account\" is not one pflab can use"));
  CHECK_THAT(error_of(R"({"type":"service_account","private_key":"x"})"), Catch::Contains("no \"client_email\""));
  CHECK_THAT(error_of(R"({"type":"service_account","client_email":"a@b","private_key":"not a key"})"),
             Catch::Contains("private_key is not a PEM private key"));
  CHECK_THAT(error_of(R"({"type":"authorized_user","client_id":"a","client_secret":"b","refresh_token":7})"),
             Catch::Contains("\"refresh_token\" must be a non-empty string"));
  const std::string secret_key = nlohmann::json{{"type", "service_account"}, {"private_key", pki.sa_key_pem}}.dump();
  CHECK_THAT(error_of(secret_key.substr(0, secret_key.size() - 1)), !Catch::Contains("PRIVATE KEY"));

  CredentialsOptions missing;
  missing.getenv = Env({{"GOOGLE_APPLICATION_CREDENTIALS", (dir / "nope.json").string()}});
  auto found = FindCredentials(missing);
  REQUIRE_FALSE(found.ok());
  CHECK(found.error().message ==
        "credentials file ($GOOGLE_APPLICATION_CREDENTIALS): cannot read " + (dir / "nope.json").string());
  CredentialsOptions empty_token;
  empty_token.token_file = (dir / "empty").string();
  TestPki::WriteText(empty_token.token_file, "\n");
  auto empty = FindCredentials(empty_token);
  REQUIRE_FALSE(empty.ok());
  CHECK_THAT(empty.error().message, Catch::Contains("the file is empty"));
}

TEST_CASE("credentials: HttpTransport over TLS sends the token, and after a 401 fetches a fresh one and retries",
          "[net][auth]") {
  const TestPki pki(FreshTempDir("pflab_auth_transport"));
  FakeTokenEndpoint endpoint(pki, kEmail);
  const std::string key_path = pki.WriteServiceAccountKey(kEmail, endpoint.uri());
  testing::HttpsObjectServer server(pki, {{"b/obj", {300000, 7}}}, [&] { return endpoint.issued(); });
  auto credentials = LoadCredentialsFile(key_path, "a test", Trusting(pki));
  REQUIRE(credentials.ok());

  MemoryAccount account;
  auto fetch = [&](HttpTransportOptions options) {
    AsioScheduler scheduler;
    HttpTransport transport(&scheduler, server.endpoint(), options);
    auto chunk = Chunk::Make(100000, true, &account);
    std::optional<FetchOutcome> outcome;
    transport.Fetch(ObjectRef{"b", "obj", 0, 300000}, ByteRange{100000, 200000}, FetchTarget{chunk, 0},
                    [&](const FetchOutcome& o) { outcome = o; });
    scheduler.RunFor(20 * kSecond);
    REQUIRE(outcome.has_value());
    if (outcome->status.ok()) {
      std::vector<std::byte> expected(100000);
      FillSynthetic(ObjectSeed("b", "obj", 7), 100000, expected.data(), expected.size());
      CHECK(std::equal(expected.begin(), expected.end(), chunk->data()));
    }
    return *outcome;
  };
  HttpTransportOptions options;
  options.connections = 1;
  options.ca_file = pki.server_cert;
  options.credentials = *credentials;
  const FetchOutcome ok = fetch(options);
  REQUIRE(ok.status.ok());
  CHECK(ok.bytes_received == 100000);
  CHECK(server.unauthorized() == 0);

  // The server revokes the token: the 401 is retryable once a fresh token is in place.
  server.Revoke((*(*credentials)->AuthorizationHeader()).substr(7));
  const FetchOutcome refused = fetch(options);
  REQUIRE_FALSE(refused.status.ok());
  CHECK(refused.status.error().http_status == 401);
  CHECK(refused.status.error().retryable);
  CHECK(fetch(options).status.ok());  // the retry, with the fresh token
  CHECK(endpoint.grants() == 2);

  // No credentials: 401, not retryable. Untrusted certificate: says --ca-file.
  options.credentials = nullptr;
  const FetchOutcome anonymous = fetch(options);
  REQUIRE_FALSE(anonymous.status.ok());
  CHECK(anonymous.status.error().http_status == 401);
  CHECK_FALSE(anonymous.status.error().retryable);
  options.ca_file.clear();
  options.credentials = *credentials;
  const FetchOutcome untrusted = fetch(options);
  REQUIRE_FALSE(untrusted.status.ok());
  CHECK_THAT(untrusted.status.error().message, Catch::Contains("--ca-file"));

  // The object client reads metadata with the same credentials.
  GcsObjectClient client(server.endpoint(), TlsOptions{pki.server_cert}, *credentials);
  auto metadata = client.Get("b", "obj");
  REQUIRE(metadata.ok());
  CHECK(metadata->size == 300000);
  CHECK(metadata->generation == 7);
  auto missing = client.Get("b", "nope");
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
}

}  // namespace
}  // namespace pflab
