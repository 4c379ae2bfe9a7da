// Credentials for live GCS, found the way the official clients find them (application default
// credentials): an explicit token or token file; a credentials file (GOOGLE_APPLICATION_CREDENTIALS, or
// gcloud's application-default file) holding a service-account key or an `authorized_user` refresh
// token; the GCE metadata server; else anonymous, for public buckets.
//
// A service account signs an RS256 JWT with its key (OpenSSL) and exchanges it at the key's token_uri
// for an access token (the JWT bearer grant; google-cloud-cpp does not send self-signed JWTs to
// storage either). An authorized user exchanges its refresh token there (the refresh_token grant), and
// the metadata server hands out the VM's token. Tokens are cached and fetched again before they
// expire (when under min(5 minutes, half their lifetime) remain), and once more after a 401.
//
// Secrets never leave this module but in the Authorization header: not in Describe(), not in error
// messages (a token endpoint's error is reported by its `error` and `error_description` fields only),
// not in results.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "engine/result.h"
#include "engine/units.h"
#include "net/http_request.h"

namespace pflab {

inline constexpr char kReadOnlyScope[] = "https://www.googleapis.com/auth/devstorage.read_only";
inline constexpr char kReadWriteScope[] = "https://www.googleapis.com/auth/devstorage.read_write";
inline constexpr char kGoogleTokenUri[] = "https://oauth2.googleapis.com/token";
/// The metadata server's address on GCE (an address, so no DNS lookup is made off GCE).
inline constexpr char kDefaultMetadataHost[] = "169.254.169.254";

using WallTime = std::chrono::system_clock::time_point;

/// An OAuth2 access token and when it expires.
struct AccessToken {
  std::string value;
  WallTime expiry;
};

/// Where requests get their Authorization header. Thread-safe: every worker of a transport asks.
class Credentials {
 public:
  virtual ~Credentials() = default;
  /// The Authorization header's value ("Bearer ..."), or empty to send none. Fetches or refreshes the
  /// token when needed, blocking the caller. A failure names the credentials and the endpoint asked.
  virtual Result<std::string> AuthorizationHeader() = 0;
  /// Called when a 401 answered a request sent with `header`: true when a retry will carry another
  /// token (the token is fetched again; a fresh token refused within a minute makes this false).
  virtual bool Rejected(const std::string& header) = 0;
  /// What these are and where they came from, e.g. "service account a@p.iam.gserviceaccount.com (key
  /// /k.json from $GOOGLE_APPLICATION_CREDENTIALS)"; never a secret.
  virtual std::string Describe() const = 0;
  /// anonymous, token, service_account, authorized_user or metadata.
  virtual std::string Kind() const = 0;
  /// Tokens fetched so far (0 for anonymous and a fixed token).
  virtual std::uint64_t tokens_fetched() const { return 0; }
};

/// What fetching a token needs besides the credentials themselves.
struct CredentialsConfig {
  std::string scope = kReadOnlyScope;  // asked of a service account's token endpoint
  TlsOptions tls;
  std::function<WallTime()> clock;  // empty: the system clock (tests move it)
  Nanos timeout = 30 * kSecond;     // per token request
};

/// A service-account key file's fields that the JWT grant uses.
struct ServiceAccountKey {
  std::string client_email;
  std::string private_key;  // PEM
  std::string private_key_id;
  std::string token_uri = kGoogleTokenUri;
};

/// An authorized_user file's fields (what `gcloud auth application-default login` writes).
struct AuthorizedUser {
  std::string client_id;
  std::string client_secret;
  std::string refresh_token;
  std::string token_uri = kGoogleTokenUri;
};

/// Base64url without padding (RFC 7515), as JWTs use it.
std::string Base64UrlEncode(std::string_view bytes);
/// The inverse; padding is accepted but not required. nullopt on any other character.
std::optional<std::string> Base64UrlDecode(std::string_view text);

/// RSASSA-PKCS1-v1_5 with SHA-256 of `data` under a PEM private key (deterministic).
Result<std::string> SignRs256(const std::string& private_key_pem, std::string_view data);

/// The signed JWT a service account exchanges for a token: header {alg RS256, typ JWT, kid}, claims
/// {iss, scope, aud = token_uri, iat, exp = iat + 3600}.
Result<std::string> MakeServiceAccountJwt(const ServiceAccountKey& key, const std::string& scope,
                                          std::int64_t issued_at_s);

/// A token endpoint's or the metadata server's JSON reply {access_token, expires_in, token_type}.
/// `what` names the endpoint in errors, which never quote the body (it may hold a token).
Result<AccessToken> ParseTokenResponse(const std::string& body, WallTime now, const std::string& what);

/// Reads a credentials file: a service-account key or an authorized_user file. `source` says how it was
/// found (e.g. "$GOOGLE_APPLICATION_CREDENTIALS"). Errors name the file and what is wrong in it.
Result<std::shared_ptr<Credentials>> LoadCredentialsFile(const std::string& path, const std::string& source,
                                                         const CredentialsConfig& config);

std::shared_ptr<Credentials> MakeAnonymousCredentials(std::string why);
/// A token passed in (it cannot be refreshed: a 401 fails).
std::shared_ptr<Credentials> MakeTokenCredentials(std::string token, std::string source);
std::shared_ptr<Credentials> MakeServiceAccountCredentials(ServiceAccountKey key, std::string source,
                                                           CredentialsConfig config);
std::shared_ptr<Credentials> MakeAuthorizedUserCredentials(AuthorizedUser user, std::string source,
                                                           CredentialsConfig config);
/// The GCE metadata server at `host` ("host[:port]", plain http).
std::shared_ptr<Credentials> MakeMetadataServerCredentials(std::string host, CredentialsConfig config);

/// Whether a GCE metadata server answers at `host` within `timeout` (its replies carry
/// `Metadata-Flavor: Google`).
bool MetadataServerAvailable(const std::string& host, Nanos timeout);

/// What FindCredentials is told and where it looks.
struct CredentialsOptions {
  bool anonymous = false;        // --anonymous: send no credentials
  std::string token_file;        // --token-file: a file holding an access token
  std::string credentials_file;  // --credentials: a key or authorized_user file
  /// Whether to look past what was given explicitly: $PFLAB_GCS_TOKEN is always read; the files of
  /// $GOOGLE_APPLICATION_CREDENTIALS and gcloud and the metadata server only when this is set.
  bool discover = true;
  Nanos metadata_probe_timeout = kSecond;
  CredentialsConfig config;
  /// The environment; empty: the process's.
  std::function<std::optional<std::string>(const std::string& name)> getenv;
};

/// The first credentials found, in the official clients' order, what the command line says first:
/// --anonymous; --token-file; --credentials FILE; $PFLAB_GCS_TOKEN; $GOOGLE_APPLICATION_CREDENTIALS; gcloud's
/// application_default_credentials.json ($CLOUDSDK_CONFIG, else ~/.config/gcloud); the metadata server
/// ($GCE_METADATA_HOST or $GCE_METADATA_ROOT, else 169.254.169.254; skipped when $NO_GCE_CHECK is
/// true); else anonymous. A file named explicitly or by $GOOGLE_APPLICATION_CREDENTIALS that cannot be
/// used is an error, not a step to the next source.
Result<std::shared_ptr<Credentials>> FindCredentials(const CredentialsOptions& options);

}  // namespace pflab
