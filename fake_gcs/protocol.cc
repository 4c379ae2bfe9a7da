#include "fake_gcs/protocol.h"

#include <cctype>
#include <ctime>
#include <limits>

#include "engine/text.h"
#include "net/checksums.h"

namespace pflab::fake_gcs {
namespace {

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// HTTP's optional white space (RFC 9110 section 5.6.3).
constexpr std::string_view kOws = " \t";

// Digits only, no sign. HTTP allows any number of digits (leading zeros included); a value past 2^64-1
// saturates there, which lies past the end of any object, as the value does.
std::optional<std::uint64_t> ParseDigits(std::string_view s) {
  if (s.empty()) return std::nullopt;
  constexpr std::uint64_t kMax = std::numeric_limits<std::uint64_t>::max();
  std::uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    const auto digit = static_cast<std::uint64_t>(c - '0');
    v = v > (kMax - digit) / 10 ? kMax : v * 10 + digit;
  }
  return v;
}

std::string FormatTime(std::int64_t unix_ms, const char* format, bool millis) {
  const std::time_t seconds = static_cast<std::time_t>(unix_ms / 1000);
  std::tm tm{};
  gmtime_r(&seconds, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, format, &tm);
  std::string out = buf;
  if (millis) {
    char ms[8];
    std::snprintf(ms, sizeof ms, ".%03dZ", static_cast<int>(unix_ms % 1000));
    out += ms;
  }
  return out;
}

}  // namespace

std::optional<std::string> PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%') {
      if (i + 2 >= text.size()) return std::nullopt;
      const int hi = HexValue(text[i + 1]), lo = HexValue(text[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      out += static_cast<char>(hi * 16 + lo);
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out += ' ';
    } else {
      out += c;
    }
  }
  return out;
}

std::optional<std::map<std::string, std::string>> ParseQuery(std::string_view query) {
  std::map<std::string, std::string> out;
  std::size_t pos = 0;
  while (pos < query.size()) {
    std::size_t end = query.find('&', pos);
    if (end == std::string_view::npos) end = query.size();
    const std::string_view item = query.substr(pos, end - pos);
    pos = end + 1;
    if (item.empty()) continue;
    const std::size_t eq = item.find('=');
    auto key = PercentDecode(item.substr(0, eq), true);
    auto value = PercentDecode(eq == std::string_view::npos ? std::string_view() : item.substr(eq + 1), true);
    if (!key || !value) return std::nullopt;
    out.emplace(std::move(*key), std::move(*value));
  }
  return out;
}

ResolvedRange ResolveRange(std::optional<std::string_view> header, std::uint64_t size) {
  ResolvedRange whole{ResolvedRange::Kind::kWhole, 0, size};
  if (!header) return whole;
  std::string_view h = Trim(*header, kOws);
  if (h.size() < 6 || h.substr(0, 6) != "bytes=") return whole;
  h = Trim(h.substr(6), kOws);
  if (h.find(',') != std::string_view::npos) return whole;
  const std::size_t dash = h.find('-');
  if (dash == std::string_view::npos) return whole;
  const std::string_view first = Trim(h.substr(0, dash), kOws), last = Trim(h.substr(dash + 1), kOws);
  ResolvedRange unsatisfiable{ResolvedRange::Kind::kUnsatisfiable, 0, 0};
  if (first.empty()) {  // bytes=-n: the last n bytes
    auto n = ParseDigits(last);
    if (!n) return whole;
    if (*n == 0 || size == 0) return unsatisfiable;
    return {ResolvedRange::Kind::kPartial, size - std::min(*n, size), size};
  }
  auto a = ParseDigits(first);
  if (!a) return whole;
  if (last.empty()) {
    if (*a >= size) return unsatisfiable;
    return {ResolvedRange::Kind::kPartial, *a, size};
  }
  auto b = ParseDigits(last);
  if (!b || *b < *a) return whole;
  if (*a >= size) return unsatisfiable;
  return {ResolvedRange::Kind::kPartial, *a, std::min(*b, size - 1) + 1};
}

Result<UploadContentRange> ParseUploadContentRange(std::string_view header) {
  auto bad = [&](const char* why) {
    return InvalidArgument("Content-Range '" + std::string(header) + "': " + why +
                           " (expected bytes a-b/N, bytes a-b/*, bytes */N or bytes */*)");
  };
  std::string_view h = Trim(header);
  if (h.substr(0, 6) != "bytes ") return bad("not a byte range");
  h = Trim(h.substr(6));
  const std::size_t slash = h.find('/');
  if (slash == std::string_view::npos) return bad("no '/'");
  const std::string_view range = Trim(h.substr(0, slash)), total = Trim(h.substr(slash + 1));
  UploadContentRange out;
  if (total != "*") {
    auto n = ParseDigits(total);
    if (!n) return bad("the total is not a number");
    out.total = *n;
  }
  if (range == "*") return out;
  const std::size_t dash = range.find('-');
  if (dash == std::string_view::npos) return bad("no '-' in the range");
  auto a = ParseDigits(Trim(range.substr(0, dash))), b = ParseDigits(Trim(range.substr(dash + 1)));
  if (!a || !b) return bad("the range is not two numbers");
  if (*b < *a) return bad("the range ends before it starts");
  if (out.total && *b >= *out.total) return bad("the range ends past the total");
  out.has_bytes = true;
  out.first = *a;
  out.last = *b;
  return out;
}

const char* ErrorReason(int status) {
  switch (status) {
    case 400: return "invalid";
    case 401: return "required";
    case 403: return "forbidden";
    case 404: return "notFound";
    case 408: return "requestTimeout";
    case 409: return "conflict";
    case 412: return "conditionNotMet";
    case 413: return "uploadTooLarge";
    case 416: return "requestedRangeNotSatisfiable";
    case 429: return "rateLimitExceeded";
    case 500: return "internalError";
    case 503: return "backendError";
    default: return status >= 500 ? "backendError" : "invalid";
  }
}

const char* ReasonPhrase(int status) {
  switch (status) {
    case 200: return "OK";
    case 204: return "No Content";
    case 206: return "Partial Content";
    case 308: return "Resume Incomplete";
    case 304: return "Not Modified";
    case 400: return "Bad Request";
    case 401: return "Unauthorized";
    case 403: return "Forbidden";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 408: return "Request Timeout";
    case 409: return "Conflict";
    case 412: return "Precondition Failed";
    case 413: return "Payload Too Large";
    case 416: return "Requested Range Not Satisfiable";
    case 429: return "Too Many Requests";
    case 499: return "Client Closed Request";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    default: return "Status";
  }
}

std::string JsonError(int status, const std::string& message) {
  nlohmann::json j = {{"error",
                       {{"code", status},
                        {"message", message},
                        {"errors", {{{"domain", "global"}, {"reason", ErrorReason(status)}, {"message", message}}}}}}};
  // A message may quote a request's bytes, which need not be UTF-8: replaced (U+FFFD), not thrown on.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

std::string XmlError(const std::string& code, const std::string& message) {
  std::string escaped;
  for (char c : message) {
    switch (c) {
      case '<': escaped += "&lt;"; break;
      case '>': escaped += "&gt;"; break;
      case '&': escaped += "&amp;"; break;
      default: escaped += c;
    }
  }
  return "<?xml version='1.0' encoding='UTF-8'?><Error><Code>" + code + "</Code><Message>" + escaped +
         "</Message></Error>";
}

int StatusForError(const Error& error) {
  switch (error.code) {
    case ErrorCode::kInvalidArgument: return 400;
    case ErrorCode::kNotFound: return 404;
    case ErrorCode::kOutOfRange: return 416;
    case ErrorCode::kFailedPrecondition: return 412;
    case ErrorCode::kPermissionDenied: return 403;
    case ErrorCode::kUnavailable: return 503;
    default: return 500;
  }
}

std::string Rfc3339(std::int64_t unix_ms) {
  return FormatTime(unix_ms, "%Y-%m-%dT%H:%M:%S", true);
}
std::string HttpDate(std::int64_t unix_ms) {
  return FormatTime(unix_ms, "%a, %d %b %Y %H:%M:%S GMT", false);
}

std::string EncodePathSegment(std::string_view text) {
  static const char* kHex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : text) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

nlohmann::json ObjectJson(const StoredObject& o, const ObjectHashes& hashes, const std::string& endpoint) {
  const std::string gen = std::to_string(o.generation);
  const std::string path = "/b/" + EncodePathSegment(o.bucket) + "/o/" + EncodePathSegment(o.name);
  nlohmann::json j = {
      {"kind", "storage#object"},
      {"id", o.bucket + "/" + o.name + "/" + gen},
      {"selfLink", endpoint + "/storage/v1" + path},
      {"mediaLink", endpoint + "/download/storage/v1" + path + "?generation=" + gen + "&alt=media"},
      {"name", o.name},
      {"bucket", o.bucket},
      {"generation", gen},
      {"metageneration", std::to_string(o.metageneration)},
      {"contentType", o.attributes.content_type},
      {"storageClass", "STANDARD"},
      {"size", std::to_string(o.size)},
      {"etag", Base64Encode(gen + "/" + std::to_string(o.metageneration))},
      {"timeCreated", Rfc3339(o.created_unix_ms)},
      {"updated", Rfc3339(o.updated_unix_ms)},
      {"timeStorageClassUpdated", Rfc3339(o.created_unix_ms)},
  };
  const ObjectAttributes& a = o.attributes;
  if (!a.content_encoding.empty()) j["contentEncoding"] = a.content_encoding;
  if (!a.content_disposition.empty()) j["contentDisposition"] = a.content_disposition;
  if (!a.content_language.empty()) j["contentLanguage"] = a.content_language;
  if (!a.cache_control.empty()) j["cacheControl"] = a.cache_control;
  if (!a.metadata.empty()) j["metadata"] = a.metadata;
  if (hashes.crc32c) j["crc32c"] = Crc32cToBase64(*hashes.crc32c);
  if (hashes.md5_base64) j["md5Hash"] = *hashes.md5_base64;
  return j;
}

Status ApplyObjectResource(const nlohmann::json& resource, ObjectAttributes& attributes) {
  if (!resource.is_object()) return InvalidArgument("the object resource must be a JSON object");
  const std::pair<const char*, std::string ObjectAttributes::*> strings[] = {
      {"contentType", &ObjectAttributes::content_type},
      {"contentEncoding", &ObjectAttributes::content_encoding},
      {"contentDisposition", &ObjectAttributes::content_disposition},
      {"contentLanguage", &ObjectAttributes::content_language},
      {"cacheControl", &ObjectAttributes::cache_control},
  };
  for (const auto& [key, field] : strings) {
    auto it = resource.find(key);
    if (it == resource.end()) continue;
    if (it->is_null()) {
      attributes.*field = field == &ObjectAttributes::content_type ? ObjectAttributes().content_type : "";
    } else if (it->is_string()) {
      attributes.*field = it->get<std::string>();
    } else {
      return InvalidArgument(std::string(key) + " must be a string, not " + it->dump());
    }
  }
  if (auto it = resource.find("metadata"); it != resource.end()) {
    if (it->is_null()) {
      attributes.metadata.clear();
    } else if (!it->is_object()) {
      return InvalidArgument("metadata must be an object of strings, not " + it->dump());
    } else {
      for (const auto& [key, value] : it->items()) {
        if (value.is_null()) {
          attributes.metadata.erase(key);
        } else if (value.is_string()) {
          attributes.metadata[key] = value.get<std::string>();
        } else {
          return InvalidArgument("metadata." + key + " must be a string, not " + value.dump());
        }
      }
    }
  }
  return OkStatus();
}

nlohmann::json BucketJson(const std::string& bucket, const std::string& endpoint) {
  return {{"kind", "storage#bucket"},
          {"id", bucket},
          {"name", bucket},
          {"selfLink", endpoint + "/storage/v1/b/" + EncodePathSegment(bucket)},
          {"projectNumber", "0"},
          {"metageneration", "1"},
          {"location", "US-CENTRAL1"},
          {"locationType", "region"},
          {"storageClass", "STANDARD"},
          {"etag", "CAE="},
          {"timeCreated", Rfc3339(0)},
          {"updated", Rfc3339(0)}};
}

}  // namespace pflab::fake_gcs
