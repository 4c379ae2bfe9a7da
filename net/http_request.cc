#include "net/http_request.h"

#include <httplib.h>

#include <algorithm>
#include <cctype>
#include <stdexcept>

namespace pflab {
namespace {

bool SameName(const std::string& a, const std::string& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](unsigned char x, unsigned char y) {
           return std::tolower(x) == std::tolower(y);
         });
}

std::string TransportError(httplib::Error error) {
  switch (error) {
    case httplib::Error::SSLServerVerification:
      return "the server's TLS certificate is not trusted (for a private certificate authority, pass its "
             "certificate with --ca-file)";
    case httplib::Error::SSLConnection: return "the TLS handshake failed";
    case httplib::Error::SSLLoadingCerts:
      return "the trusted certificates could not be loaded (is --ca-file a PEM file?)";
    case httplib::Error::Connection:
      return "could not connect (refused, unreachable, timed out, or the host name did not resolve)";
    default: return httplib::to_string(error);
  }
}

}  // namespace

Result<Url> Url::Parse(const std::string& text) {
  const auto scheme_end = text.find("://");
  if (scheme_end == std::string::npos) return InvalidArgument("URL '" + text + "': expected http:// or https://");
  const auto rest_start = scheme_end + 3;
  const auto target_start = text.find_first_of("/?", rest_start);
  auto endpoint = HttpEndpoint::Parse(text.substr(0, target_start));
  if (!endpoint) return InvalidArgument("URL '" + text + "': " + endpoint.error().message);
  Url url;
  url.endpoint = *endpoint;
  if (target_start != std::string::npos) {
    url.target = text.substr(target_start);
    if (url.target.front() == '?') url.target.insert(0, "/");
  }
  return url;
}

std::string HttpResponse::Header(const std::string& name) const {
  for (const auto& [key, value] : headers) {
    if (SameName(key, name)) return value;
  }
  return {};
}

Result<HttpResponse> SendHttpRequest(const HttpRequest& request, const TlsOptions& tls) {
  const std::string what = request.method + " " + request.url.ToString();
  httplib::Client client(request.url.endpoint.Url());
  client.set_connection_timeout(request.connect_timeout / kSecond, (request.connect_timeout % kSecond) / 1000);
  client.set_read_timeout(request.read_timeout / kSecond, (request.read_timeout % kSecond) / 1000);
  client.set_write_timeout(request.read_timeout / kSecond, (request.read_timeout % kSecond) / 1000);
  if (!tls.ca_file.empty()) client.set_ca_cert_path(tls.ca_file);
  httplib::Headers headers(request.headers.begin(), request.headers.end());
  httplib::Result result{nullptr, httplib::Error::Unknown};
  const std::string& target = request.url.target;
  httplib::ContentProvider provider;
  if (request.provider) {
    provider = [&request](std::size_t offset, std::size_t length, httplib::DataSink& sink) {
      return request.provider(offset, length, [&sink](const char* data, std::size_t n) { return sink.write(data, n); });
    };
  }
  if (request.method == "GET") {
    result = client.Get(target, headers);
  } else if (request.method == "DELETE") {
    result = client.Delete(target, headers);
  } else if (request.method == "POST" || request.method == "PUT") {
    const bool post = request.method == "POST";
    if (request.provider) {
      result = post ? client.Post(target, headers, static_cast<std::size_t>(request.body_length), provider,
                                  request.content_type)
                    : client.Put(target, headers, static_cast<std::size_t>(request.body_length), provider,
                                 request.content_type);
    } else {
      result = post ? client.Post(target, headers, request.body, request.content_type)
                    : client.Put(target, headers, request.body, request.content_type);
    }
  } else {
    throw std::logic_error("SendHttpRequest: unsupported method " + request.method);
  }
  if (!result) return Unavailable(what + ": " + TransportError(result.error()));
  HttpResponse response;
  response.status = result->status;
  for (const auto& [key, value] : result->headers) response.headers.emplace(key, value);
  response.body = std::move(result->body);
  return response;
}

std::string EncodeQueryValue(const std::string& value) {
  return EncodeObjectName(value);
}

std::string FormEncode(const std::vector<std::pair<std::string, std::string>>& fields) {
  std::string out;
  for (const auto& [key, value] : fields) {
    if (!out.empty()) out += '&';
    out += EncodeQueryValue(key) + "=" + EncodeQueryValue(value);
  }
  return out;
}

}  // namespace pflab
