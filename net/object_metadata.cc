#include "net/object_metadata.h"

#include <httplib.h>

#include <charconv>
#include <nlohmann/json.hpp>

#include "net/plain_http.h"

namespace pflab {
namespace {

Result<std::uint64_t> ParseCount(const nlohmann::json& value, const std::string& field, const std::string& what) {
  // The JSON API sends int64 and uint64 fields as decimal strings.
  if (!value.contains(field) || !value[field].is_string()) {
    return InvalidArgument(what + ": the metadata has no '" + field + "' string");
  }
  const std::string text = value[field].get<std::string>();
  std::uint64_t n = 0;
  const auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || end != text.data() + text.size() || text.empty()) {
    return InvalidArgument(what + ": '" + field + "' is '" + text + "', not a count");
  }
  return n;
}

}  // namespace

Result<ObjectMetadata> GetObjectMetadata(const HttpEndpoint& endpoint, const HttpTransportOptions& options,
                                         const std::string& bucket, const std::string& object) {
  const std::string what = "gs://" + bucket + "/" + object + " at " + endpoint.Url();
  const std::string target = "/storage/v1/b/" + EncodeObjectName(bucket) + "/o/" + EncodeObjectName(object);
  std::vector<std::pair<std::string, std::string>> headers = options.extra_headers;
  if (!options.bearer_token.empty()) headers.emplace_back("Authorization", "Bearer " + options.bearer_token);
  int status = 0;
  std::string body;
  constexpr std::size_t kMaxBody = 1 << 20;  // metadata is a few KiB; more is not a metadata reply
  if (endpoint.scheme == "http") {
    PlainHttpConnection connection(endpoint.host, endpoint.port, options.connect_timeout, options.read_timeout);
    const std::string wire = connection.Get(
        target, headers,
        [&](const ResponseHead& head) {
          status = head.status;
          return true;
        },
        [&](const char* data, std::size_t length) {
          body.append(data, length);
          return body.size() <= kMaxBody;
        });
    if (!wire.empty()) return Unavailable(what + ": metadata request failed: " + wire);
  } else {
    httplib::Client client(endpoint.Url());
    const auto seconds = [](Nanos n) { return static_cast<time_t>(n / kSecond); };
    client.set_connection_timeout(seconds(options.connect_timeout), 0);
    client.set_read_timeout(seconds(options.read_timeout), 0);
    auto result = client.Get(target, httplib::Headers(headers.begin(), headers.end()));
    if (!result) return Unavailable(what + ": metadata request failed: " + httplib::to_string(result.error()));
    status = result->status;
    body = result->body.substr(0, kMaxBody);
  }
  if (status != 200) {
    return Error{status == 404 ? ErrorCode::kNotFound : ErrorCode::kUnavailable,
                 what + ": metadata request answered HTTP " + std::to_string(status) + ": " + body.substr(0, 300),
                 status >= 500 || status == 429, status};
  }
  auto json = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (json.is_discarded() || !json.is_object()) return InvalidArgument(what + ": the metadata is not a JSON object");
  auto size = ParseCount(json, "size", what);
  if (!size) return size.error();
  ObjectMetadata out;
  out.size = *size;
  if (json.contains("generation")) {
    auto generation = ParseCount(json, "generation", what);
    if (!generation) return generation.error();
    out.generation = static_cast<std::int64_t>(*generation);
  }
  return out;
}

}  // namespace pflab
