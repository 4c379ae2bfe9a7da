// One-off HTTP(S) requests of the control plane: token endpoints, the metadata server, object metadata,
// uploads and deletes. The data path (ranged GETs) is HttpTransport's; these are few, blocking, and
// carry small bodies (an upload streams its body from a callback).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "engine/result.h"
#include "engine/units.h"
#include "net/http_transport.h"

namespace pflab {

/// A URL split into the endpoint and the rest (path and query), e.g. `https://oauth2.googleapis.com/token`.
struct Url {
  HttpEndpoint endpoint;
  std::string target = "/";  // path and query; "/" when the URL has none

  std::string ToString() const { return endpoint.Url() + target; }
  /// Parses `http[s]://host[:port][/path][?query]`; the scheme is required.
  static Result<Url> Parse(const std::string& text);
};

/// How requests reach HTTPS servers.
struct TlsOptions {
  /// PEM file of the certificate authorities to trust instead of the system's (a private CA, or a test's
  /// self-signed certificate); empty: the system's.
  std::string ca_file;
};

/// What a request sends.
struct HttpRequest {
  std::string method = "GET";
  Url url;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // sent when body_length is 0 and there is no provider
  std::string content_type;
  /// A body of body_length bytes written by `provider(offset, length, write)`; used when set.
  std::uint64_t body_length = 0;
  std::function<bool(std::uint64_t offset, std::uint64_t length,
                     const std::function<bool(const char*, std::size_t)>& write)>
      provider;
  Nanos connect_timeout = 10 * kSecond;
  Nanos read_timeout = 60 * kSecond;
};

/// What came back: the status, the headers (names as sent; look them up with Header), the body.
struct HttpResponse {
  int status = 0;
  std::multimap<std::string, std::string> headers;
  std::string body;

  /// The first value of a header, case-insensitively; empty when absent.
  std::string Header(const std::string& name) const;
};

/// Sends `request` and waits for the whole response. A transport failure (no connection, TLS, timeout)
/// is kUnavailable naming the method and URL; an HTTP error status is a response, not an error.
Result<HttpResponse> SendHttpRequest(const HttpRequest& request, const TlsOptions& tls);

/// application/x-www-form-urlencoded of the pairs, in order.
std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields);

/// Percent-encodes a query parameter's value (everything but unreserved characters).
std::string EncodeQueryValue(const std::string& value);

}  // namespace pflab
