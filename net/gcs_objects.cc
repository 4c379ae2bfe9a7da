#include "net/gcs_objects.h"

#include <nlohmann/json.hpp>
#include <utility>
#include <vector>

#include "engine/synthetic_content.h"
#include "net/checksums.h"

namespace pflab {
namespace {

using nlohmann::json;

std::string ObjectUrl(const std::string& bucket, const std::string& name) {
  return "gs://" + bucket + "/" + name;
}

// The JSON API's "message", else the status alone.
std::string ErrorMessage(const std::string& body) {
  const json reply = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (reply.is_object() && reply.contains("error") && reply["error"].is_object() &&
      reply["error"].contains("message") && reply["error"]["message"].is_string()) {
    return reply["error"]["message"].get<std::string>();
  }
  return "";
}

// int64 fields come as strings in the JSON API.
std::optional<std::uint64_t> NumberField(const json& object, const char* name) {
  if (!object.contains(name)) return std::nullopt;
  const json& v = object[name];
  if (v.is_number_unsigned()) return v.get<std::uint64_t>();
  if (!v.is_string()) return std::nullopt;
  const std::string text = v.get<std::string>();
  if (text.empty() || text.find_first_not_of("0123456789") != std::string::npos || text.size() > 19) {
    return std::nullopt;
  }
  return std::stoull(text);
}

Result<GcsObject> ParseObject(const std::string& body, const std::string& what) {
  const json reply = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!reply.is_object()) return Internal(what + ": the reply is not a JSON object");
  const auto size = NumberField(reply, "size");
  const auto generation = NumberField(reply, "generation");
  if (!size || !generation) return Internal(what + ": the reply has no size or generation");
  GcsObject object;
  object.bucket = reply.value("bucket", "");
  object.name = reply.value("name", "");
  object.size = *size;
  object.generation = static_cast<std::int64_t>(*generation);
  object.crc32c = reply.value("crc32c", "");
  return object;
}

}  // namespace

GcsObjectClient::GcsObjectClient(HttpEndpoint endpoint, TlsOptions tls, std::shared_ptr<Credentials> credentials)
    : endpoint_(std::move(endpoint)), tls_(std::move(tls)), credentials_(std::move(credentials)) {}

Result<HttpResponse> GcsObjectClient::Send(HttpRequest request) {
  const auto plain_headers = request.headers;
  for (int attempt = 0;; ++attempt) {
    std::string authorization;
    request.headers = plain_headers;
    if (credentials_) {
      auto header = credentials_->AuthorizationHeader();
      if (!header) return header.error();
      authorization = std::move(*header);
      if (!authorization.empty()) request.headers.emplace_back("Authorization", authorization);
    }
    auto response = SendHttpRequest(request, tls_);
    if (!response || response->status != 401 || attempt > 0 || !credentials_ ||
        !credentials_->Rejected(authorization)) {
      return response;
    }
  }
}

Error GcsObjectClient::Failure(const std::string& what, const HttpResponse& response) const {
  std::string message = what + ": HTTP " + std::to_string(response.status);
  if (const std::string detail = ErrorMessage(response.body); !detail.empty()) message += ": " + detail;
  Error error{ErrorCode::kInternal, message, false, response.status};
  switch (response.status) {
    case 404: error.code = ErrorCode::kNotFound; break;
    case 401:
    case 403:
      error.code = ErrorCode::kPermissionDenied;
      error.message += " (credentials: " + (credentials_ ? credentials_->Describe() : std::string("none")) + ")";
      break;
    case 412: error.code = ErrorCode::kFailedPrecondition; break;
    default:
      if (response.status == 408 || response.status == 429 || response.status >= 500) {
        error.code = ErrorCode::kUnavailable;
        error.retryable = true;
      }
  }
  return error;
}

Result<GcsObject> GcsObjectClient::Get(const std::string& bucket, const std::string& name) {
  const std::string what = "metadata of " + ObjectUrl(bucket, name);
  HttpRequest request;
  request.url.endpoint = endpoint_;
  request.url.target = "/storage/v1/b/" + EncodeObjectName(bucket) + "/o/" + EncodeObjectName(name);
  auto response = Send(std::move(request));
  if (!response)
    return Error{response.error().code, what + ": " + response.error().message, response.error().retryable};
  if (response->status != 200) return Failure(what, *response);
  return ParseObject(response->body, what);
}

Result<GcsObject> GcsObjectClient::CreateSynthetic(const std::string& bucket, const std::string& name,
                                                   std::uint64_t size, std::uint64_t seed) {
  const std::string what = "creating " + ObjectUrl(bucket, name);
  HttpRequest request;
  request.method = "POST";
  request.url.endpoint = endpoint_;
  request.url.target = "/upload/storage/v1/b/" + EncodeObjectName(bucket) +
                       "/o?uploadType=media&ifGenerationMatch=0&name=" + EncodeQueryValue(name);
  request.content_type = "application/octet-stream";
  request.body_length = size;
  // The CRC32C of what was sent, for checking the reply; the body is written in order, once (a provider
  // asked for an offset out of order, as on a resend, leaves it unknown and then unchecked).
  std::uint32_t crc = 0;
  std::uint64_t next = 0;
  bool crc_known = true;
  request.provider = [&](std::uint64_t offset, std::uint64_t length,
                         const std::function<bool(const char*, std::size_t)>& write) {
    const std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(length, 1 << 20));
    std::vector<std::byte> buffer(n);
    FillSynthetic(seed, offset, buffer.data(), n);
    if (offset == next) {
      crc = Crc32cExtend(crc, buffer.data(), n);
      next += n;
    } else {
      crc_known = false;
    }
    return write(reinterpret_cast<const char*>(buffer.data()), n);
  };
  if (size == 0) request.provider = nullptr;  // an empty body; no provider call would come
  request.read_timeout = 300 * kSecond;
  auto response = Send(std::move(request));
  if (!response)
    return Error{response.error().code, what + ": " + response.error().message, response.error().retryable};
  if (response->status == 412) {
    Error error = Failure(what, *response);
    error.message = what + ": an object of that name exists already (it is never overwritten)";
    return error;
  }
  if (response->status != 200) return Failure(what, *response);
  auto object = ParseObject(response->body, what);
  if (!object) return object;
  if (object->size != size) {
    return Internal(what + ": the server stored " + std::to_string(object->size) + " bytes, not " +
                    std::to_string(size));
  }
  if (crc_known && next == size && !object->crc32c.empty() && object->crc32c != Crc32cToBase64(crc)) {
    return Error{ErrorCode::kDataLoss,
                 what + ": the stored object's CRC32C " + object->crc32c + " is not that of the bytes sent (" +
                     Crc32cToBase64(crc) + ")",
                 false};
  }
  return object;
}

Status GcsObjectClient::Delete(const std::string& bucket, const std::string& name, std::int64_t generation) {
  const std::string what = "deleting " + ObjectUrl(bucket, name) + " (generation " + std::to_string(generation) + ")";
  HttpRequest request;
  request.method = "DELETE";
  request.url.endpoint = endpoint_;
  request.url.target = "/storage/v1/b/" + EncodeObjectName(bucket) + "/o/" + EncodeObjectName(name) +
                       "?generation=" + std::to_string(generation);
  auto response = Send(std::move(request));
  if (!response)
    return Error{response.error().code, what + ": " + response.error().message, response.error().retryable};
  if (response->status != 204 && response->status != 200) return Failure(what, *response);
  return OkStatus();
}

}  // namespace pflab
