#include "fake_gcs/server.h"

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/experimental/as_tuple.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstring>
#include <random>
#include <set>
#include <system_error>

#include "engine/synthetic_content.h"
#include "engine/units.h"
#include "fake_gcs/protocol.h"
#include "net/checksums.h"

namespace pflab::fake_gcs {
namespace {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;
using asio::ip::tcp;
using nlohmann::json;
constexpr auto kNoThrow = asio::experimental::as_tuple(asio::use_awaitable);

constexpr std::size_t kChunk = 256 << 10;       // body bytes per write when not paced
constexpr std::size_t kFirstPacedPiece = 4096;  // a paced body's first write

// The response a handler decides on; Send() writes it, applying shaping and faults.
struct Reply {
  int status = 200;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string body;  // small bodies (JSON, XML, errors)
  ObjectPtr object;  // media bodies: bytes [begin, end) of the object
  std::uint64_t begin = 0;
  std::uint64_t end = 0;
  bool head = false;  // HEAD: headers only (Content-Length still the body's)
  std::optional<Fault> fault;
  std::string route = "other";
  std::string api_method;

  std::uint64_t body_size() const { return object ? end - begin : body.size(); }
};

Reply JsonReply(int status, const json& body) {
  Reply r;
  r.status = status;
  // Names from a directory-backed bucket are file names, which need not be UTF-8: replaced (U+FFFD).
  r.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
  r.headers.emplace_back("Content-Type", "application/json; charset=UTF-8");
  return r;
}

Reply ErrorReply(int status, const std::string& message) {
  Reply r;
  r.status = status;
  r.body = JsonError(status, message);
  r.headers.emplace_back("Content-Type", "application/json; charset=UTF-8");
  return r;
}

Reply ErrorReply(const Error& error) {
  return ErrorReply(StatusForError(error), error.message);
}

Reply XmlErrorReply(int status, const std::string& code, const std::string& message) {
  Reply r;
  r.status = status;
  r.body = XmlError(code, message);
  r.headers.emplace_back("Content-Type", "application/xml; charset=UTF-8");
  return r;
}

std::vector<std::string> SplitPath(std::string_view path) {
  std::vector<std::string> out;
  std::size_t pos = 1;  // skip the leading '/'
  while (pos <= path.size()) {
    std::size_t end = path.find('/', pos);
    if (end == std::string_view::npos) end = path.size();
    out.emplace_back(path.substr(pos, end - pos));
    pos = end + 1;
  }
  return out;
}

// Joins raw segments [from, end) with '/' and decodes once: the JSON API sends an object name as one
// segment with %2F, but lenient clients send literal slashes, and both mean the same name.
std::optional<std::string> ObjectNameFrom(const std::vector<std::string>& segments, std::size_t from) {
  std::string raw;
  for (std::size_t i = from; i < segments.size(); ++i) raw += (i > from ? "/" : "") + segments[i];
  return PercentDecode(raw, false);
}

// Digits only (no sign), up to 2^63-1: a 19-digit value above it is no number, not a wrapped one.
std::optional<std::int64_t> ParseInt64(const std::string& s) {
  if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos) return std::nullopt;
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

// The JSON API's preconditions from a query string: ifGenerationMatch and friends, or with a prefix
// (ifSourceGenerationMatch, ... for a copy's source).
Result<Preconditions> ParsePreconditions(const std::map<std::string, std::string>& query,
                                         const std::string& prefix = "") {
  Preconditions out;
  const std::pair<const char*, std::optional<std::int64_t> Preconditions::*> fields[] = {
      {"GenerationMatch", &Preconditions::if_generation_match},
      {"GenerationNotMatch", &Preconditions::if_generation_not_match},
      {"MetagenerationMatch", &Preconditions::if_metageneration_match},
      {"MetagenerationNotMatch", &Preconditions::if_metageneration_not_match},
  };
  for (const auto& [suffix, field] : fields) {
    const std::string key = "if" + prefix + suffix;
    auto it = query.find(key);
    if (it == query.end()) continue;
    auto v = ParseInt64(it->second);
    if (!v) return InvalidArgument(key + " must be an integer, not '" + it->second + "'");
    out.*field = *v;
  }
  return out;
}

// Precondition failures are 412 on writes (304 is only for reads).
Reply WriteErrorReply(const Error& error) {
  return ErrorReply(error.code == ErrorCode::kFailedPrecondition ? 412 : StatusForError(error), error.message);
}

}  // namespace

// Each route draws from its own stream. Media downloads, the requests the simulator models, draw from
// `seed` itself, the stream the simulator's transport draws from for the same seed, so a run through
// the server with seed S meets the first-byte latencies the simulator drew for seed S (in the order
// requests arrive); other routes from streams of their own, whatever order they are first used in.
std::uint64_t RouteSeed(std::uint64_t seed, const std::string& route) {
  if (route == "media") return seed;
  return seed ^ ObjectSeed("latency-route", route, 0);  // the project's one string hash
}

struct FakeGcsServer::Impl {
  using Request = http::request<http::string_body>;

  FakeGcsServer* owner;
  asio::io_context context;
  tcp::acceptor acceptor{context};
  std::vector<std::thread> threads;
  std::string endpoint;
  std::mutex mutex;  // guards the members below
  std::map<std::string, netmodel::LatencySampler> samplers;
  std::uint64_t latency_seed = 0;  // options().seed until RestartLatencyDraws
  std::set<std::shared_ptr<tcp::socket>> sockets;
  std::chrono::steady_clock::time_point link_free{};  // when the link has sent what was booked on it
  ServerStats stats;
  std::vector<RequestRecord> log;
  std::optional<FaultProfile> faults;
  bool stopped = false;

  const ServerOptions& options() const { return owner->options_; }
  ObjectStore& store() { return *owner->store_; }

  const netmodel::NetworkProfile& ShapingFor(const std::string& route) const {
    auto it = options().route_shaping.find(route);
    return it == options().route_shaping.end() ? options().shaping : it->second;
  }

  Nanos SampleLatency(const std::string& route) {
    const netmodel::NetworkProfile& s = ShapingFor(route);
    if (s.latency_median_ns <= 0 && s.latency_p99_ns <= 0) return 0;
    std::lock_guard lock(mutex);
    auto it = samplers.find(route);
    if (it == samplers.end()) {
      it = samplers.emplace(route, netmodel::LatencySampler(s, RouteSeed(latency_seed, route))).first;
    }
    return it->second.Sample();
  }

  // The fault for this request at this stage: the retry test named by the request first, then the
  // soak profile. An unknown test id becomes a 400 error reply.
  std::optional<Reply> TakeFault(const Request& req, const std::string& api_method,
                                 std::optional<std::uint64_t> body_size, std::optional<Fault>& out,
                                 bool final_upload_answer = false) {
    auto id = req.find("x-retry-test-id");
    if (id != req.end()) {
      auto taken = owner->retry_tests_.Take(std::string(id->value()), api_method, body_size, final_upload_answer);
      if (!taken) return ErrorReply(taken.error());
      if (*taken) {
        out = std::move(**taken);
        return std::nullopt;
      }
    }
    if (faults) out = faults->Draw(api_method, body_size, final_upload_answer);
    return std::nullopt;
  }

  // The fault of the request at a stage, as a reply when it answers the request by itself (return-X,
  // reset), else nullopt with the fault (if any) left in `fault`.
  std::optional<Reply> StageFault(const Request& req, const std::string& api_method,
                                  std::optional<std::uint64_t> body_size, std::optional<Fault>& fault) {
    if (auto error = TakeFault(req, api_method, body_size, fault)) return error;
    if (!fault) return std::nullopt;
    if (fault->kind == Fault::Kind::kReturnStatus) {
      Reply r = ErrorReply(fault->status, "injected by fault '" + fault->instruction + "'");
      r.fault = fault;  // recorded; Send treats kReturnStatus as already applied
      return r;
    }
    if (fault->kind == Fault::Kind::kResetConnection) {
      Reply r;
      r.fault = fault;
      return r;
    }
    return std::nullopt;
  }

  // This server's URL as the client reached it (for session URIs), else the one it listens on.
  std::string BaseUrl(const Request& req) const {
    auto host = req.find(http::field::host);
    if (host == req.end() || host->value().empty()) return endpoint;
    return "http://" + std::string(host->value());
  }

  Reply Handle(const Request& req);
  Reply HandleObjectRead(const Request& req, const std::string& bucket, const std::string& name,
                         const std::map<std::string, std::string>& query, bool xml, bool force_media);
  Reply HandleList(const std::string& bucket, const std::map<std::string, std::string>& query);
  Reply HandleUpload(const Request& req, const std::string& bucket, const std::map<std::string, std::string>& query);
  Reply HandleResumableStart(const Request& req, const std::string& bucket,
                             const std::map<std::string, std::string>& query);
  Reply HandleResumableChunk(const Request& req, const std::string& bucket,
                             const std::map<std::string, std::string>& query);
  Reply HandlePatch(const Request& req, const std::string& bucket, const std::string& name,
                    const std::map<std::string, std::string>& query);
  Reply HandleRewrite(const Request& req, const std::string& src_bucket, const std::string& src_name,
                      const std::string& dst_bucket, const std::string& dst_name,
                      const std::map<std::string, std::string>& query, bool copy);
  Reply HandleRetryTest(const Request& req, const std::vector<std::string>& segments);

  awaitable<void> Accept();
  awaitable<void> ExpireUploadSessions();
  awaitable<void> Session(std::shared_ptr<tcp::socket> socket);
  // What becomes of the connection once a reply is written.
  enum class AfterReply { kKeepOpen, kClose, kReset };
  awaitable<AfterReply> Send(tcp::socket& socket, Reply& reply, bool keep_alive, std::vector<char>& buffer,
                             RequestRecord& record);
};

// Decides the reply of one request. Faults that fire before the handler (return-X, reset) are taken
// here; faults on the body are taken once its size is known.
Reply FakeGcsServer::Impl::Handle(const Request& req) {
  const std::string target(req.target());
  const std::size_t qmark = target.find('?');
  const std::string path = target.substr(0, qmark);
  auto query = ParseQuery(qmark == std::string::npos ? std::string_view() : std::string_view(target).substr(qmark + 1));
  if (!query) return ErrorReply(400, "malformed query string in " + target);
  const auto segments = SplitPath(path);
  const auto verb = req.method();
  const bool get = verb == http::verb::get || verb == http::verb::head;

  auto with_method = [&](Reply r, const std::string& api_method) {
    r.api_method = api_method;
    return r;
  };
  // Immediate faults of the retry test API and the profile.
  auto immediate = [&](const std::string& api_method,
                       std::optional<std::uint64_t> upload_size) -> std::optional<Reply> {
    std::optional<Fault> fault;
    return StageFault(req, api_method, upload_size, fault);
  };

  if (path == "/" && get) {
    Reply r;
    r.body = "OK";
    r.headers.emplace_back("Content-Type", "text/plain");
    return r;
  }
  if (segments.size() >= 1 && segments[0] == "retry_test") return HandleRetryTest(req, segments);
  if (path == "/retry_tests" && get) return JsonReply(200, owner->retry_tests_.List());

  // JSON API: /storage/v1/b[/B[/o[/O...]]] and /download/storage/v1/b/B/o/O...
  const bool download = segments.size() >= 1 && segments[0] == "download";
  const std::size_t base = download ? 1 : 0;
  if (segments.size() >= base + 3 && segments[base] == "storage" && segments[base + 1] == "v1" &&
      segments[base + 2] == "b") {
    if (segments.size() == base + 3) {  // /storage/v1/b
      if (get) {
        if (auto r = immediate("storage.buckets.list", std::nullopt)) return with_method(*r, "storage.buckets.list");
        json items = json::array();
        for (const auto& b : store().Buckets()) items.push_back(BucketJson(b, endpoint));
        return with_method(JsonReply(200, {{"kind", "storage#buckets"}, {"items", items}}), "storage.buckets.list");
      }
      if (verb == http::verb::post) {
        if (auto r = immediate("storage.buckets.insert", std::nullopt)) return *r;
        json body = json::parse(req.body(), nullptr, false);
        if (body.is_discarded() || !body.is_object() || !body.contains("name") || !body["name"].is_string()) {
          return ErrorReply(400, "bucket insert needs a JSON body with \"name\"");
        }
        const std::string name = body["name"];
        if (auto created = store().InsertBucket(name); !created) {
          const Error& e = created.error();
          return ErrorReply(e.code == ErrorCode::kFailedPrecondition ? 409 : StatusForError(e), e.message);
        }
        return with_method(JsonReply(200, BucketJson(name, endpoint)), "storage.buckets.insert");
      }
      return ErrorReply(405, "method not allowed on " + path);
    }
    auto bucket = PercentDecode(segments[base + 3], false);
    if (!bucket) return ErrorReply(400, "malformed bucket name in " + path);
    if (segments.size() == base + 4) {  // /storage/v1/b/B
      if (!get) return ErrorReply(405, "method not allowed on " + path);
      if (auto r = immediate("storage.buckets.get", std::nullopt)) return with_method(*r, "storage.buckets.get");
      if (!store().HasBucket(*bucket)) return ErrorReply(404, "bucket " + *bucket + " not found");
      return with_method(JsonReply(200, BucketJson(*bucket, endpoint)), "storage.buckets.get");
    }
    if (segments[base + 4] != "o") return ErrorReply(404, "no such route: " + path);
    if (segments.size() == base + 5 || (segments.size() == base + 6 && segments[base + 5].empty())) {
      if (!get) return ErrorReply(405, "method not allowed on " + path);
      if (auto r = immediate("storage.objects.list", std::nullopt)) return with_method(*r, "storage.objects.list");
      return with_method(HandleList(*bucket, *query), "storage.objects.list");
    }
    // objects.rewrite and objects.copy: /b/SB/o/SO.../rewriteTo|copyTo/b/DB/o/DO...
    if (verb == http::verb::post && !download) {
      for (std::size_t i = base + 6; i + 4 < segments.size(); ++i) {
        if ((segments[i] != "rewriteTo" && segments[i] != "copyTo") || segments[i + 1] != "b" ||
            segments[i + 3] != "o") {
          continue;
        }
        const bool copy = segments[i] == "copyTo";
        const std::string api_method = copy ? "storage.objects.copy" : "storage.objects.rewrite";
        std::vector<std::string> source(segments.begin(), segments.begin() + static_cast<std::ptrdiff_t>(i));
        auto src_name = ObjectNameFrom(source, base + 5);
        auto dst_bucket = PercentDecode(segments[i + 2], false);
        auto dst_name = ObjectNameFrom(segments, i + 4);
        if (!src_name || !dst_bucket || !dst_name) return ErrorReply(400, "malformed object name in " + path);
        if (auto r = immediate(api_method, std::nullopt)) return with_method(*r, api_method);
        return with_method(HandleRewrite(req, *bucket, *src_name, *dst_bucket, *dst_name, *query, copy), api_method);
      }
    }
    auto name = ObjectNameFrom(segments, base + 5);
    if (!name) return ErrorReply(400, "malformed object name in " + path);
    if (verb == http::verb::patch && !download) {
      if (auto r = immediate("storage.objects.patch", std::nullopt)) return with_method(*r, "storage.objects.patch");
      return with_method(HandlePatch(req, *bucket, *name, *query), "storage.objects.patch");
    }
    if (verb == http::verb::delete_) {
      if (auto r = immediate("storage.objects.delete", std::nullopt)) return *r;
      auto status = store().Delete(*bucket, *name);
      if (!status) return ErrorReply(status.error());
      Reply r;
      r.status = 204;
      return with_method(r, "storage.objects.delete");
    }
    if (!get) return ErrorReply(405, "method not allowed on " + path);
    if (auto r = immediate("storage.objects.get", std::nullopt)) return with_method(*r, "storage.objects.get");
    return with_method(HandleObjectRead(req, *bucket, *name, *query, false, download), "storage.objects.get");
  }
  // Uploads: POST /upload/storage/v1/b/B/o starts one (media, multipart, or a resumable session);
  // PUT (or POST) with upload_id sends a session its bytes or asks where it stands; DELETE cancels it.
  if (segments.size() == 6 && segments[0] == "upload" && segments[1] == "storage" && segments[2] == "v1" &&
      segments[3] == "b" && segments[5] == "o") {
    auto bucket = PercentDecode(segments[4], false);
    if (!bucket) return ErrorReply(400, "malformed bucket name in " + path);
    const auto type = query->find("uploadType");
    const bool session = query->count("upload_id") > 0;
    if (verb == http::verb::delete_ && session) {
      // The testbench files a session's cancel under objects.delete.
      if (auto r = immediate("storage.objects.delete", std::nullopt)) return with_method(*r, "storage.objects.delete");
      if (auto s = owner->uploads_->Cancel(query->at("upload_id"), *bucket); !s) {
        return with_method(ErrorReply(s.error()), "storage.objects.delete");
      }
      Reply r;
      r.status = 499;  // what GCS answers a cancelled session
      r.route = "upload";
      return with_method(r, "storage.objects.delete");
    }
    if ((verb == http::verb::put || verb == http::verb::post) && session) {
      return with_method(HandleResumableChunk(req, *bucket, *query), "storage.objects.insert");
    }
    if (verb == http::verb::post && type != query->end() && type->second == "resumable") {
      if (auto r = immediate("storage.objects.insert", std::nullopt)) return with_method(*r, "storage.objects.insert");
      return with_method(HandleResumableStart(req, *bucket, *query), "storage.objects.insert");
    }
    if (verb == http::verb::post) {
      if (auto r = immediate("storage.objects.insert", req.body().size()))
        return with_method(*r, "storage.objects.insert");
      return with_method(HandleUpload(req, *bucket, *query), "storage.objects.insert");
    }
    return ErrorReply(405, "method not allowed on " + path + (session ? "" : " (no upload_id)"));
  }
  // XML API, path style: /B/O...
  if (segments.size() >= 2 && get && !segments[0].empty()) {
    auto bucket = PercentDecode(segments[0], false);
    auto name = ObjectNameFrom(segments, 1);
    if (!bucket || !name) return XmlErrorReply(400, "InvalidURI", "malformed path " + path);
    if (auto r = immediate("storage.objects.get", std::nullopt)) return with_method(*r, "storage.objects.get");
    return with_method(HandleObjectRead(req, *bucket, *name, *query, true, true), "storage.objects.get");
  }
  return ErrorReply(404, "no such route: " + std::string(req.method_string()) + " " + path);
}

Reply FakeGcsServer::Impl::HandleObjectRead(const Request& req, const std::string& bucket, const std::string& name,
                                            const std::map<std::string, std::string>& query, bool xml,
                                            bool force_media) {
  auto fail = [&](int status, const std::string& code, const std::string& message) {
    return xml ? XmlErrorReply(status, code, message) : ErrorReply(status, message);
  };
  std::optional<std::int64_t> generation;
  auto param = [&](const char* key) -> const std::string* {
    auto it = query.find(key);
    return it == query.end() ? nullptr : &it->second;
  };
  if (const auto* g = param("generation")) {
    generation = ParseInt64(*g);
    if (!generation) return fail(400, "InvalidArgument", "generation must be an integer, not '" + *g + "'");
  }
  std::string alt = "json";
  if (const auto* a = param("alt")) alt = *a;
  if (alt != "json" && alt != "media") return fail(400, "InvalidArgument", "alt must be json or media, not " + alt);
  const bool media = force_media || alt == "media";

  auto object = store().Get(bucket, name, generation);
  if (!object) {
    if (object.error().code == ErrorCode::kNotFound) return fail(404, "NoSuchKey", object.error().message);
    return fail(StatusForError(object.error()), "InvalidArgument", object.error().message);
  }
  const StoredObject& o = **object;

  // Preconditions: JSON query parameters, XML headers.
  auto check = [&](const std::string* value, std::int64_t actual, bool match,
                   const char* what) -> std::optional<Reply> {
    if (!value) return std::nullopt;
    auto v = ParseInt64(*value);
    if (!v) return fail(400, "InvalidArgument", std::string(what) + " must be an integer");
    if (match && *v != actual) {
      return fail(412, "PreconditionFailed",
                  std::string(what) + "=" + *value + " but the object has " + std::to_string(actual));
    }
    if (!match && *v == actual) {
      Reply r;
      r.status = 304;
      return r;
    }
    return std::nullopt;
  };
  std::string xml_gen, xml_meta;
  if (xml) {
    if (auto h = req.find("x-goog-if-generation-match"); h != req.end()) xml_gen = std::string(h->value());
    if (auto h = req.find("x-goog-if-metageneration-match"); h != req.end()) xml_meta = std::string(h->value());
  }
  if (auto r = check(xml ? (xml_gen.empty() ? nullptr : &xml_gen) : param("ifGenerationMatch"), o.generation, true,
                     "ifGenerationMatch")) {
    return *r;
  }
  if (auto r = check(xml ? (xml_meta.empty() ? nullptr : &xml_meta) : param("ifMetagenerationMatch"), o.metageneration,
                     true, "ifMetagenerationMatch")) {
    return *r;
  }
  if (!xml) {
    if (auto r = check(param("ifGenerationNotMatch"), o.generation, false, "ifGenerationNotMatch")) return *r;
    if (auto r = check(param("ifMetagenerationNotMatch"), o.metageneration, false, "ifMetagenerationNotMatch")) {
      return *r;
    }
  }

  const ObjectHashes hashes = store().Hashes(o);
  Reply r;
  r.route = media ? "media" : "metadata";
  if (!media) {
    r = JsonReply(200, ObjectJson(o, hashes, endpoint));
    r.route = "metadata";
  } else {
    std::optional<std::string_view> range_header;
    if (auto h = req.find(http::field::range); h != req.end()) range_header = std::string_view(h->value());
    const ResolvedRange range = ResolveRange(range_header, o.size);
    if (range.kind == ResolvedRange::Kind::kUnsatisfiable) {
      r = XmlErrorReply(416, "InvalidRange", "The requested range cannot be satisfied.");
      r.headers.emplace_back("Content-Range", "bytes */" + std::to_string(o.size));
      return r;
    }
    r.status = range.kind == ResolvedRange::Kind::kPartial ? 206 : 200;
    r.object = *object;
    r.begin = range.begin;
    r.end = range.end;
    r.head = req.method() == http::verb::head;
    r.headers.emplace_back("Content-Type", o.attributes.content_type);
    if (!o.attributes.cache_control.empty()) r.headers.emplace_back("Cache-Control", o.attributes.cache_control);
    if (!o.attributes.content_disposition.empty()) {
      r.headers.emplace_back("Content-Disposition", o.attributes.content_disposition);
    }
    if (!o.attributes.content_language.empty()) {
      r.headers.emplace_back("Content-Language", o.attributes.content_language);
    }
    r.headers.emplace_back("Accept-Ranges", "bytes");
    if (r.status == 206) {
      r.headers.emplace_back("Content-Range", "bytes " + std::to_string(range.begin) + "-" +
                                                  std::to_string(range.end - 1) + "/" + std::to_string(o.size));
    }
    r.headers.emplace_back("Last-Modified", HttpDate(o.created_unix_ms));
    r.headers.emplace_back("x-goog-stored-content-length", std::to_string(o.size));
    r.headers.emplace_back("x-goog-stored-content-encoding", "identity");
  }
  r.headers.emplace_back("ETag", "\"" + Base64Encode(std::to_string(o.generation)) + "\"");
  r.headers.emplace_back("x-goog-generation", std::to_string(o.generation));
  r.headers.emplace_back("x-goog-metageneration", std::to_string(o.metageneration));
  r.headers.emplace_back("x-goog-storage-class", "STANDARD");
  if (media && hashes.crc32c) {
    const std::string crc = "crc32c=" + Crc32cToBase64(*hashes.crc32c);
    const std::string md5 = hashes.md5_base64 ? "md5=" + *hashes.md5_base64 : "";
    if (options().hash_header_one_line || md5.empty()) {
      r.headers.emplace_back("x-goog-hash", md5.empty() ? crc : crc + "," + md5);
    } else {
      r.headers.emplace_back("x-goog-hash", crc);
      r.headers.emplace_back("x-goog-hash", md5);
    }
  }
  // Faults on the body.
  std::optional<Fault> fault;
  if (auto error = TakeFault(req, "storage.objects.get", r.head ? 0 : r.body_size(), fault)) return *error;
  r.fault = fault;
  return r;
}

Reply FakeGcsServer::Impl::HandleList(const std::string& bucket, const std::map<std::string, std::string>& query) {
  auto get = [&](const char* key) {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  };
  const std::string prefix = get("prefix"), delimiter = get("delimiter"), token = get("pageToken");
  const std::string start_offset = get("startOffset"), end_offset = get("endOffset");
  const bool trailing = get("includeTrailingDelimiter") == "true";
  std::uint64_t max_results = 1000;
  if (!get("maxResults").empty()) {
    auto v = ParseInt64(get("maxResults"));
    if (!v || *v <= 0) return ErrorReply(400, "maxResults must be a positive integer");
    max_results = std::min<std::uint64_t>(static_cast<std::uint64_t>(*v), 1000);
  }
  std::string after;  // the page token is the last key of the previous page, base64'd so it is opaque
  if (!token.empty()) {
    auto decoded = Base64Decode(token);
    if (!decoded) return ErrorReply(400, "invalid pageToken");
    after = *decoded;
  }
  auto objects = store().List(bucket, prefix);
  if (!objects) return ErrorReply(objects.error());
  // Entries in name order: objects, and prefixes (each listed once), paged together.
  std::map<std::string, ObjectPtr> entries;  // null object: a prefix
  for (const auto& o : *objects) {
    if (!start_offset.empty() && o->name < start_offset) continue;
    if (!end_offset.empty() && o->name >= end_offset) continue;
    if (!delimiter.empty()) {
      const std::size_t d = o->name.find(delimiter, prefix.size());
      if (d != std::string::npos) {
        const std::string p = o->name.substr(0, d + delimiter.size());
        entries.emplace(p + '\x01', nullptr);  // sorts right after an object named exactly p
        if (trailing && o->name == p) entries[o->name] = o;
        continue;
      }
    }
    entries[o->name] = o;
  }
  json items = json::array(), prefixes = json::array();
  std::uint64_t count = 0;
  std::string last;
  bool more = false;
  for (auto it = after.empty() ? entries.begin() : entries.upper_bound(after); it != entries.end(); ++it) {
    if (count == max_results) {
      more = true;
      break;
    }
    if (it->second) {
      items.push_back(ObjectJson(*it->second, store().Hashes(*it->second), endpoint));
    } else {
      prefixes.push_back(it->first.substr(0, it->first.size() - 1));
    }
    last = it->first;
    ++count;
  }
  json body = {{"kind", "storage#objects"}};
  if (!items.empty()) body["items"] = items;
  if (!prefixes.empty()) body["prefixes"] = prefixes;
  if (more) body["nextPageToken"] = Base64Encode(last);
  Reply r = JsonReply(200, body);
  r.route = "list";
  return r;
}

Reply FakeGcsServer::Impl::HandleUpload(const Request& req, const std::string& bucket,
                                        const std::map<std::string, std::string>& query) {
  auto get = [&](const char* key) {
    auto it = query.find(key);
    return it == query.end() ? std::string() : it->second;
  };
  const std::string type = get("uploadType");
  std::string name = get("name");
  std::string content_type = "application/octet-stream";
  if (auto h = req.find(http::field::content_type); h != req.end()) content_type = std::string(h->value());
  std::string data;
  ObjectAttributes attributes;
  if (type == "media") {
    data = req.body();
    attributes.content_type = content_type;
  } else if (type == "multipart") {
    // multipart/related: a JSON metadata part, then the media part.
    const std::string ct = content_type;
    const std::size_t b = ct.find("boundary=");
    if (b == std::string::npos) return ErrorReply(400, "multipart upload without a boundary in Content-Type");
    std::string boundary = ct.substr(b + 9);
    if (const std::size_t semi = boundary.find(';'); semi != std::string::npos) boundary.resize(semi);
    if (boundary.size() >= 2 && boundary.front() == '"' && boundary.back() == '"') {
      boundary = boundary.substr(1, boundary.size() - 2);
    }
    const std::string delim = "--" + boundary;
    const std::string& body = req.body();
    std::vector<std::string_view> parts;
    std::size_t pos = body.find(delim);
    while (pos != std::string::npos) {
      std::size_t start = pos + delim.size();
      if (body.compare(start, 2, "--") == 0) break;
      if (body.compare(start, 2, "\r\n") == 0) start += 2;
      const std::size_t next = body.find("\r\n" + delim, start);
      if (next == std::string::npos) break;
      parts.emplace_back(body.data() + start, next - start);
      pos = next + 2;
    }
    if (parts.size() != 2)
      return ErrorReply(400, "multipart upload needs exactly 2 parts, got " + std::to_string(parts.size()));
    auto split = [](std::string_view part, std::string& headers) {
      if (part.substr(0, 2) == "\r\n") {  // a part with no headers at all
        headers.clear();
        return part.substr(2);
      }
      const std::size_t end = part.find("\r\n\r\n");
      if (end == std::string_view::npos) {
        headers.clear();
        return part;
      }
      headers = std::string(part.substr(0, end));
      return part.substr(end + 4);
    };
    std::string meta_headers, media_headers;
    const std::string_view meta_text = split(parts[0], meta_headers);
    data = std::string(split(parts[1], media_headers));
    json meta = json::parse(meta_text, nullptr, false);
    if (meta.is_discarded() || !meta.is_object())
      return ErrorReply(400, "multipart upload metadata is not a JSON object");
    if (meta.contains("name") && meta["name"].is_string() && name.empty()) name = meta["name"];
    if (meta.contains("contentType") && meta["contentType"].is_string()) {
      content_type = meta["contentType"];
    } else {
      content_type = "application/octet-stream";
      std::string lower = media_headers;
      std::transform(lower.begin(), lower.end(), lower.begin(), [](unsigned char c) { return std::tolower(c); });
      if (const std::size_t c = lower.find("content-type:"); c != std::string::npos) {
        std::size_t e = media_headers.find("\r\n", c);
        content_type = media_headers.substr(c + 13, e == std::string::npos ? std::string::npos : e - c - 13);
        while (!content_type.empty() && content_type.front() == ' ') content_type.erase(0, 1);
      }
    }
    if (auto s = ApplyObjectResource(meta, attributes); !s) return ErrorReply(s.error());
    attributes.content_type = content_type;
  } else {
    return ErrorReply(400, "uploadType must be media, multipart or resumable, not '" + type + "'");
  }
  if (name.empty()) return ErrorReply(400, "upload needs an object name (name= or metadata \"name\")");
  auto conditions = ParsePreconditions(query);
  if (!conditions) return ErrorReply(conditions.error());
  auto object = store().Upload(bucket, name, std::move(data), std::move(attributes), *conditions);
  if (!object) return WriteErrorReply(object.error());
  Reply r = JsonReply(200, ObjectJson(**object, store().Hashes(**object), endpoint));
  r.route = "upload";
  return r;
}

Reply FakeGcsServer::Impl::HandleResumableStart(const Request& req, const std::string& bucket,
                                                const std::map<std::string, std::string>& query) {
  // The body, when there is one, is the object resource: its name and metadata.
  ObjectAttributes attributes;
  std::string name;
  if (auto it = query.find("name"); it != query.end()) name = it->second;
  if (!req.body().empty()) {
    json meta = json::parse(req.body(), nullptr, false);
    if (meta.is_discarded() || !meta.is_object()) {
      return ErrorReply(400, "the body of a resumable upload's start must be the object resource (JSON)");
    }
    if (meta.contains("name") && meta["name"].is_string()) {
      const std::string in_body = meta["name"];
      if (!name.empty() && in_body != name) {
        return ErrorReply(400, "name '" + in_body + "' in the body does not agree with name '" + name + "'");
      }
      name = in_body;
    }
    if (auto s = ApplyObjectResource(meta, attributes); !s) return ErrorReply(s.error());
    if (!meta.contains("contentType")) attributes.content_type.clear();
  } else {
    attributes.content_type.clear();
  }
  if (attributes.content_type.empty()) {
    auto h = req.find("x-upload-content-type");
    attributes.content_type =
        h != req.end() && !h->value().empty() ? std::string(h->value()) : ObjectAttributes().content_type;
  }
  if (name.empty()) return ErrorReply(400, "upload needs an object name (name= or the body's \"name\")");
  std::optional<std::uint64_t> declared;
  if (auto h = req.find("x-upload-content-length"); h != req.end()) {
    auto v = ParseInt64(std::string(h->value()));
    if (!v) return ErrorReply(400, "X-Upload-Content-Length must be a number, not '" + std::string(h->value()) + "'");
    declared = static_cast<std::uint64_t>(*v);
  }
  auto conditions = ParsePreconditions(query);
  if (!conditions) return ErrorReply(conditions.error());
  // Preconditions are checked now, so a doomed upload fails before its bytes are sent, and again at
  // the end, when they decide.
  auto live = store().Get(bucket, name);
  if (!live && live.error().code != ErrorCode::kNotFound) return ErrorReply(live.error());
  if (!live && !store().HasBucket(bucket)) return ErrorReply(live.error());
  if (auto s = CheckPreconditions(*conditions, live ? live->get() : nullptr, "gs://" + bucket + "/" + name); !s) {
    return WriteErrorReply(s.error());
  }
  auto id = owner->uploads_->Start(bucket, name, std::move(attributes), *conditions, declared);
  if (!id) return ErrorReply(id.error());
  Reply r;
  r.status = 200;
  r.route = "upload";
  r.headers.emplace_back("Location", BaseUrl(req) + "/upload/storage/v1/b/" + EncodePathSegment(bucket) +
                                         "/o?uploadType=resumable&name=" + EncodePathSegment(name) +
                                         "&upload_id=" + *id);
  r.headers.emplace_back("X-GUploader-UploadID", *id);
  return r;
}

Reply FakeGcsServer::Impl::HandleResumableChunk(const Request& req, const std::string& bucket,
                                                const std::map<std::string, std::string>& query) {
  const std::string& id = query.at("upload_id");
  const std::string& body = req.body();
  UploadContentRange range;
  if (auto h = req.find(http::field::content_range); h != req.end()) {
    auto parsed = ParseUploadContentRange(h->value());
    if (!parsed) return ErrorReply(parsed.error());
    range = *parsed;
  } else {
    // No Content-Range: the body is the whole object.
    range.has_bytes = !body.empty();
    range.last = body.empty() ? 0 : body.size() - 1;
    range.total = body.size();
  }
  if (!range.has_bytes && !body.empty()) {
    return ErrorReply(400, "a Content-Range without bytes (bytes */N) must come with an empty body");
  }
  if (range.has_bytes && body.size() != range.last - range.first + 1) {
    return ErrorReply(400, "Content-Range covers " + std::to_string(range.last - range.first + 1) +
                               " bytes but the body has " + std::to_string(body.size()));
  }
  // Faults: a chunk's by the object offset it reaches (return-X-after-YK cuts what is kept there); a
  // status query's only the immediate ones.
  std::optional<Fault> fault;
  if (auto r = StageFault(req, "storage.objects.insert",
                          range.has_bytes ? std::optional<std::uint64_t>(range.last + 1) : std::nullopt, fault)) {
    if (!r->fault || r->fault->after_bytes == 0 || !range.has_bytes) return *r;
    // return-X-after-YK: the bytes before the cut are persisted, then X.
    auto kept = owner->uploads_->Put(id, bucket, range.first, body, range.total, r->fault->after_bytes);
    if (!kept) return WriteErrorReply(kept.error());
    return *r;
  }
  Result<UploadState> state = range.has_bytes || range.total
                                  ? owner->uploads_->Put(id, bucket, range.first, body, range.total)
                                  : owner->uploads_->Query(id, bucket);
  if (!state) return WriteErrorReply(state.error());
  Reply r;
  r.route = "upload";
  if (state->object) {
    r = JsonReply(200, ObjectJson(*state->object, store().Hashes(*state->object), endpoint));
    r.route = "upload";
    std::optional<Fault> final_fault;
    if (auto error = TakeFault(req, "storage.objects.insert", r.body.size(), final_fault, true)) return *error;
    r.fault = final_fault;  // return-broken-stream-final-chunk-after-YB: the object is stored, its answer cut
    return r;
  }
  // 308 Resume Incomplete, with the persisted range (none yet: no Range header), or for clients that
  // cannot take a 308, 200 saying so in a header.
  if (auto h = req.find("x-guploader-no-308"); h != req.end() && h->value() == "yes") {
    r.status = 200;
    r.headers.emplace_back("X-Http-Status-Code-Override", "308");
  } else {
    r.status = 308;
  }
  if (state->persisted > 0) r.headers.emplace_back("Range", "bytes=0-" + std::to_string(state->persisted - 1));
  return r;
}

Reply FakeGcsServer::Impl::HandlePatch(const Request& req, const std::string& bucket, const std::string& name,
                                       const std::map<std::string, std::string>& query) {
  json body = json::parse(req.body(), nullptr, false);
  if (body.is_discarded() || !body.is_object()) return ErrorReply(400, "a patch's body must be a JSON object");
  std::optional<std::int64_t> generation;
  if (auto it = query.find("generation"); it != query.end()) {
    generation = ParseInt64(it->second);
    if (!generation) return ErrorReply(400, "generation must be an integer, not '" + it->second + "'");
  }
  auto conditions = ParsePreconditions(query);
  if (!conditions) return ErrorReply(conditions.error());
  auto patched = store().Patch(bucket, name, generation, *conditions,
                               [&](ObjectAttributes& attributes) { return ApplyObjectResource(body, attributes); });
  if (!patched) return WriteErrorReply(patched.error());
  return JsonReply(200, ObjectJson(**patched, store().Hashes(**patched), endpoint));
}

Reply FakeGcsServer::Impl::HandleRewrite(const Request& req, const std::string& src_bucket, const std::string& src_name,
                                         const std::string& dst_bucket, const std::string& dst_name,
                                         const std::map<std::string, std::string>& query, bool copy) {
  auto param = [&](const char* key) -> const std::string* {
    auto it = query.find(key);
    return it == query.end() ? nullptr : &it->second;
  };
  json resource;
  if (!req.body().empty()) {
    resource = json::parse(req.body(), nullptr, false);
    if (resource.is_discarded() || !resource.is_object()) {
      return ErrorReply(400, "the body must be the destination's object resource (JSON)");
    }
  }
  std::optional<std::int64_t> source_generation;
  if (const auto* g = param("sourceGeneration")) {
    source_generation = ParseInt64(*g);
    if (!source_generation) return ErrorReply(400, "sourceGeneration must be an integer, not '" + *g + "'");
  }
  // A rewrite in progress is pinned to the source generation it started from; its token says which,
  // and how far it got. The token is ours to read only: clients pass it back as they got it.
  std::uint64_t done_before = 0;
  const std::string route = src_bucket + "/" + src_name + ">" + dst_bucket + "/" + dst_name;
  if (const auto* token = param("rewriteToken"); token && !copy) {
    auto decoded = Base64Decode(*token);
    json state = decoded ? json::parse(*decoded, nullptr, false) : json();
    if (!state.is_object() || state.value("route", "") != route || !state["generation"].is_number_integer() ||
        !state["done"].is_number_unsigned()) {
      return ErrorReply(400, "rewriteToken does not belong to this rewrite");
    }
    source_generation = state["generation"].get<std::int64_t>();
    done_before = state["done"].get<std::uint64_t>();
  }
  auto source_conditions = ParsePreconditions(query, "Source");
  if (!source_conditions) return ErrorReply(source_conditions.error());
  auto conditions = ParsePreconditions(query);
  if (!conditions) return ErrorReply(conditions.error());
  auto source = store().Get(src_bucket, src_name, source_generation);
  if (!source) return ErrorReply(source.error());
  if (auto s = CheckPreconditions(*source_conditions, source->get(), "source gs://" + src_bucket + "/" + src_name);
      !s) {
    return WriteErrorReply(s.error());
  }
  const std::uint64_t size = (*source)->size;
  if (!copy) {
    std::uint64_t per_call = options().rewrite_bytes_per_call;
    if (const auto* m = param("maxBytesRewrittenPerCall")) {
      auto v = ParseInt64(*m);
      if (!v || *v <= 0 || *v % (1 << 20) != 0) {
        return ErrorReply(400,
                          "maxBytesRewrittenPerCall must be a positive multiple of 1 MiB (1048576), not '" + *m + "'");
      }
      per_call = static_cast<std::uint64_t>(*v);
    }
    const std::uint64_t done = std::min(size, done_before + per_call);
    if (done < size) {
      json state = {{"route", route}, {"generation", (*source)->generation}, {"done", done}};
      return JsonReply(200, {{"kind", "storage#rewriteResponse"},
                             {"totalBytesRewritten", std::to_string(done)},
                             {"objectSize", std::to_string(size)},
                             {"done", false},
                             {"rewriteToken", Base64Encode(state.dump())}});
    }
  }
  // The destination gets the source's metadata, with the request's resource applied over it.
  ObjectAttributes attributes = (*source)->attributes;
  if (!resource.is_null()) {
    if (auto s = ApplyObjectResource(resource, attributes); !s) return ErrorReply(s.error());
  }
  auto copied =
      store().Copy(**source, dst_bucket, dst_name, std::move(attributes), *conditions, options().max_upload_bytes);
  if (!copied) return WriteErrorReply(copied.error());
  json object = ObjectJson(**copied, store().Hashes(**copied), endpoint);
  if (copy) return JsonReply(200, object);
  return JsonReply(200, {{"kind", "storage#rewriteResponse"},
                         {"totalBytesRewritten", std::to_string(size)},
                         {"objectSize", std::to_string(size)},
                         {"done", true},
                         {"resource", object}});
}

Reply FakeGcsServer::Impl::HandleRetryTest(const Request& req, const std::vector<std::string>& segments) {
  if (segments.size() == 1 && req.method() == http::verb::post) {
    json body = json::parse(req.body(), nullptr, false);
    if (body.is_discarded()) return ErrorReply(400, "retry_test body is not JSON");
    auto created = owner->retry_tests_.Create(body);
    if (!created) return ErrorReply(created.error());
    return JsonReply(200, *created);
  }
  if (segments.size() == 2) {
    if (req.method() == http::verb::get) {
      auto test = owner->retry_tests_.Get(segments[1]);
      if (!test) return ErrorReply(test.error());
      return JsonReply(200, *test);
    }
    if (req.method() == http::verb::delete_) {
      auto status = owner->retry_tests_.Delete(segments[1]);
      if (!status) return ErrorReply(status.error());
      return JsonReply(200, json::object());
    }
  }
  return ErrorReply(405, "retry_test supports POST /retry_test, GET and DELETE /retry_test/ID");
}

awaitable<void> FakeGcsServer::Impl::Accept() {
  for (;;) {
    auto socket = std::make_shared<tcp::socket>(context);
    auto [ec] = co_await acceptor.async_accept(*socket, kNoThrow);
    if (ec) {
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      continue;  // e.g. EMFILE: keep serving the connections we have
    }
    socket->set_option(tcp::no_delay(true));
    {
      std::lock_guard lock(mutex);
      if (stopped) co_return;
      sockets.insert(socket);
      ++stats.connections;
    }
    asio::co_spawn(context, Session(socket), asio::detached);
  }
}

// Abandoned upload sessions go (with their staged bytes) within about half their idle timeout, even
// when no other upload comes to sweep them.
awaitable<void> FakeGcsServer::Impl::ExpireUploadSessions() {
  const auto period = std::clamp<std::chrono::milliseconds>(options().upload_session_idle_timeout / 2,
                                                            std::chrono::milliseconds(10), std::chrono::minutes(1));
  asio::steady_timer timer(context);
  for (;;) {
    timer.expires_after(period);
    auto [ec] = co_await timer.async_wait(kNoThrow);
    if (ec) co_return;
    owner->uploads_->Expire();
  }
}

awaitable<void> FakeGcsServer::Impl::Session(std::shared_ptr<tcp::socket> socket) {
  beast::flat_buffer buffer;
  std::vector<char> body_buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(options().max_upload_bytes);
    parser.header_limit(64 << 10);
    auto [ec, n] = co_await http::async_read_header(*socket, buffer, parser, kNoThrow);
    Reply reply;
    bool keep_alive = false;
    if (!ec && parser.get()[http::field::expect] == "100-continue") {
      static constexpr char kContinue[] = "HTTP/1.1 100 Continue\r\n\r\n";
      auto [wec, wn] = co_await asio::async_write(*socket, asio::buffer(kContinue, sizeof kContinue - 1), kNoThrow);
      ec = wec;
    }
    if (!ec && !parser.is_done()) std::tie(ec, n) = co_await http::async_read(*socket, buffer, parser, kNoThrow);
    RequestRecord record;
    if (ec) {
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
          ec == asio::error::operation_aborted || ec == asio::error::bad_descriptor || !socket->is_open()) {
        break;
      }
      reply = ec == http::error::body_limit ? ErrorReply(413, "request body exceeds the server's upload limit")
                                            : ErrorReply(400, "malformed HTTP request: " + ec.message());
      record.method = "?";
    } else {
      const auto& req = parser.get();
      keep_alive = req.keep_alive();
      record.method = std::string(req.method_string());
      record.target = std::string(req.target());
      try {
        reply = Handle(req);
      } catch (const std::exception& e) {
        // An exception would end this detached coroutine silently and leave the client waiting on a
        // connection nobody serves; a bug gets a 500 that says what it was instead.
        reply = ErrorReply(500, std::string("internal error: ") + e.what());
      }
      // The answer to any HEAD, an error or metadata included, is headers only: a body would be read
      // as the start of the next response on this connection.
      if (req.method() == http::verb::head) reply.head = true;
    }
    {
      // Counted before the reply goes out, so a client that has its answer sees it counted.
      std::lock_guard lock(mutex);
      ++stats.requests;
      if (reply.fault) ++stats.faults_fired;
    }
    const AfterReply after = co_await Send(*socket, reply, keep_alive, body_buffer, record);
    {
      // Logged before a faulted connection is cut, so a client that has seen the cut sees it logged.
      std::lock_guard lock(mutex);
      stats.body_bytes_sent += record.body_bytes_sent;
      if (options().keep_request_log) log.push_back(std::move(record));
    }
    if (after == AfterReply::kReset) {
      // SO_LINGER 0 then close: the kernel sends RST (and no FIN first), as the testbench does.
      beast::error_code ignored;
      socket->set_option(asio::socket_base::linger(true, 0), ignored);
      socket->close(ignored);
    }
    if (after != AfterReply::kKeepOpen) break;
  }
  beast::error_code ignored;
  if (socket->is_open()) socket->shutdown(tcp::socket::shutdown_both, ignored);
  socket->close(ignored);
  std::lock_guard lock(mutex);
  sockets.erase(socket);
}

// Writes a reply: latency, headers, then the body in chunks, paced to the bandwidth, cut or stalled or
// corrupted as the fault says. Returns what becomes of the connection: the caller cuts it, after
// logging the request.
awaitable<FakeGcsServer::Impl::AfterReply> FakeGcsServer::Impl::Send(tcp::socket& socket, Reply& reply, bool keep_alive,
                                                                     std::vector<char>& buffer, RequestRecord& record) {
  record.status = reply.status;
  record.api_method = reply.api_method;
  record.range_begin = reply.begin;
  record.range_end = reply.end;
  asio::steady_timer timer(socket.get_executor());
  if (reply.fault) record.fault = reply.fault->instruction;
  if (reply.fault && reply.fault->kind == Fault::Kind::kResetConnection) co_return AfterReply::kReset;
  const Nanos latency = SampleLatency(reply.route);
  record.latency_ns = latency;
  if (latency > 0) {
    timer.expires_after(std::chrono::nanoseconds(latency));
    co_await timer.async_wait(kNoThrow);
  }
  const std::uint64_t total = reply.body_size();
  std::string head = "HTTP/1.1 " + std::to_string(reply.status) + " " + ReasonPhrase(reply.status) + "\r\n";
  for (const auto& [k, v] : reply.headers) head += k + ": " + v + "\r\n";
  if (reply.status != 204 && reply.status != 304) head += "Content-Length: " + std::to_string(total) + "\r\n";
  head += "Server: pflab-fake-gcs\r\n";
  if (!keep_alive) head += "Connection: close\r\n";
  head += "\r\n";
  const bool has_body = !reply.head && reply.status != 204 && reply.status != 304 && total > 0;
  if (!has_body) {
    auto [ec, n] = co_await asio::async_write(socket, asio::buffer(head), kNoThrow);
    co_return !ec && keep_alive ? AfterReply::kKeepOpen : AfterReply::kClose;
  }

  const double bandwidth = ShapingFor(reply.route).stream_bandwidth_bytes_per_s;
  // Paced writes are small so the rate holds over short intervals (about 2 ms of data each).
  const double link = options().link_bandwidth_bytes_per_s;
  const double pace = bandwidth > 0 && link > 0 ? std::min(bandwidth, link) : std::max(bandwidth, link);
  const std::size_t chunk =
      pace > 0 ? std::clamp<std::size_t>(static_cast<std::size_t>(pace / 500), 4096, kChunk) : kChunk;
  const Fault* fault = reply.fault ? &*reply.fault : nullptr;
  std::uint64_t limit = total;  // bytes to send before a broken stream's close
  if (fault && fault->kind == Fault::Kind::kBrokenStream) limit = std::min(total, fault->after_bytes);
  bool stalled = !(fault && fault->kind == Fault::Kind::kStall);
  const std::uint64_t corrupt_at = (fault && fault->kind == Fault::Kind::kCorruptByte) ? total / 2 : ~0ull;
  if (buffer.size() < chunk) buffer.resize(chunk);

  const auto start = std::chrono::steady_clock::now();
  std::uint64_t sent = 0;
  bool first = true;
  while (sent < limit) {
    if (!stalled && sent >= fault->after_bytes) {
      stalled = true;
      if (first) {  // headers go out before a stall, as the testbench streams them first
        auto [ec, n] = co_await asio::async_write(socket, asio::buffer(head), kNoThrow);
        if (ec) co_return AfterReply::kClose;
        first = false;
      }
      timer.expires_after(std::chrono::nanoseconds(fault->stall));
      co_await timer.async_wait(kNoThrow);
    }
    // The first paced piece is small, so the first byte is not held back by a whole piece's time.
    std::uint64_t n = std::min<std::uint64_t>(pace > 0 && sent == 0 ? kFirstPacedPiece : chunk, limit - sent);
    if (!stalled) n = std::min<std::uint64_t>(n, fault->after_bytes - sent);
    if (reply.object) {
      if (!store().Read(*reply.object, reply.begin + sent, buffer.data(), n))
        co_return AfterReply::kClose;  // cut: file changed
    } else {
      std::memcpy(buffer.data(), reply.body.data() + sent, n);
    }
    if (corrupt_at >= sent && corrupt_at < sent + n) buffer[corrupt_at - sent] ^= 0x5a;
    if (pace > 0) {
      // Each piece goes out when the modelled transfer would have delivered its last byte, never
      // before: pacing after the write instead sent a response shorter than one piece at once, so a
      // small read finished faster than its profile allows.
      const auto now = std::chrono::steady_clock::now();
      auto due = bandwidth > 0 ? start + std::chrono::nanoseconds(
                                             static_cast<std::int64_t>(static_cast<double>(sent + n) / bandwidth * 1e9))
                               : now;
      if (link > 0) {
        // Book these bytes on the shared link after whatever is booked already (or from now, if idle).
        std::lock_guard lock(mutex);
        link_free = std::max(link_free, now) +
                    std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(n) / link * 1e9));
        due = std::max(due, link_free);
      }
      if (due > now) {
        timer.expires_at(due);
        co_await timer.async_wait(kNoThrow);
      }
    }
    std::array<asio::const_buffer, 2> buffers{asio::buffer(head), asio::buffer(buffer.data(), n)};
    auto [ec, written] = co_await asio::async_write(
        socket, first ? std::span<asio::const_buffer>(buffers) : std::span<asio::const_buffer>(buffers).subspan(1),
        kNoThrow);
    if (ec) co_return AfterReply::kClose;
    first = false;
    sent += n;
    record.body_bytes_sent = sent;
  }
  if (limit < total) {  // broken stream: a plain close after part of the promised body
    if (first) co_await asio::async_write(socket, asio::buffer(head), kNoThrow);  // cut at byte 0
    co_return AfterReply::kClose;
  }
  co_return keep_alive ? AfterReply::kKeepOpen : AfterReply::kClose;
}

FakeGcsServer::FakeGcsServer(ServerOptions options, std::shared_ptr<ObjectStore> store)
    : options_(std::move(options)), store_(store ? std::move(store) : std::make_shared<ObjectStore>()) {
  UploadSessionOptions sessions;
  sessions.max_sessions = std::max<std::size_t>(1, options_.max_upload_sessions);
  sessions.idle_timeout = options_.upload_session_idle_timeout;
  sessions.max_bytes = options_.max_upload_bytes;
  uploads_ = std::make_unique<UploadSessions>(*store_, sessions);
}

FakeGcsServer::~FakeGcsServer() {
  Stop();
}

Status ValidateServerOptions(const ServerOptions& options) {
  if (options.port < 0 || options.port > 65535) {
    return InvalidArgument("port " + std::to_string(options.port) +
                           " is not a TCP port (0 to 65535; 0 picks a free one)");
  }
  if (options.threads < 1 || options.threads > kMaxServerThreads) {
    return InvalidArgument("threads " + std::to_string(options.threads) + " is not in 1 to " +
                           std::to_string(kMaxServerThreads) +
                           " (more I/O threads than cores only add contention; each reserves a stack)");
  }
  auto check_shaping = [](const netmodel::NetworkProfile& s, const std::string& route) -> Status {
    const std::string where = route.empty() ? "" : " (route " + route + ")";
    for (Nanos latency : {s.latency_median_ns, s.latency_p99_ns, s.latency_min_ns}) {
      if (latency < 0 || latency > kMaxServerLatency) {
        return InvalidArgument("latency" + where + " of " + std::to_string(latency) +
                               " ns is not in 0 to 1 hour (a longer wait is a stall: use the stall-for-Ts fault)");
      }
    }
    if (!(s.stream_bandwidth_bytes_per_s >= 0) || !std::isfinite(s.stream_bandwidth_bytes_per_s)) {
      return InvalidArgument("bandwidth" + where + " must be a non-negative number of bytes per second");
    }
    return OkStatus();
  };
  if (!(options.link_bandwidth_bytes_per_s >= 0) || !std::isfinite(options.link_bandwidth_bytes_per_s)) {
    return InvalidArgument("link-bandwidth must be a non-negative number of bytes per second");
  }
  if (auto st = check_shaping(options.shaping, ""); !st) return st;
  for (const auto& [route, shaping] : options.route_shaping) {
    if (auto st = check_shaping(shaping, route); !st) return st;
  }
  return OkStatus();
}

Result<int> FakeGcsServer::Start() {
  if (impl_) return Internal("server already started");
  if (auto valid = ValidateServerOptions(options_); !valid) return valid.error();
  auto impl = std::make_unique<Impl>();
  impl->owner = this;
  impl->latency_seed = options_.seed;
  if (options_.faults) impl->faults.emplace(*options_.faults);
  beast::error_code ec;
  auto address = asio::ip::make_address(options_.host, ec);
  if (ec) return InvalidArgument("--host " + options_.host + ": not an IP address");
  const tcp::endpoint ep(address, static_cast<unsigned short>(options_.port));
  impl->acceptor.open(ep.protocol(), ec);
  if (!ec) impl->acceptor.set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) impl->acceptor.bind(ep, ec);
  if (!ec) impl->acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec)
    return Unavailable("cannot listen on " + options_.host + ":" + std::to_string(options_.port) + ": " + ec.message());
  port_ = impl->acceptor.local_endpoint().port();
  impl->endpoint = "http://" + options_.host + ":" + std::to_string(port_);
  asio::co_spawn(impl->context, impl->Accept(), asio::detached);
  asio::co_spawn(impl->context, impl->ExpireUploadSessions(), asio::detached);
  const unsigned threads = std::max(1u, options_.threads);
  try {
    for (unsigned i = 0; i < threads; ++i) {
      impl->threads.emplace_back([ctx = &impl->context] { ctx->run(); });
    }
  } catch (const std::system_error& e) {  // the process or user thread limit, below kMaxServerThreads
    impl->context.stop();
    for (auto& t : impl->threads) t.join();
    return Unavailable("cannot start " + std::to_string(threads) + " server threads: " + e.what());
  }
  impl_ = std::move(impl);
  return port_;
}

void FakeGcsServer::Stop() {
  if (!impl_) return;
  {
    std::lock_guard lock(impl_->mutex);
    impl_->stopped = true;
  }
  // Destroying the context after the threads stop closes every socket and drops every suspended
  // session, latency wait and stall with it.
  impl_->context.stop();
  for (auto& t : impl_->threads) t.join();
  impl_.reset();
}

std::string FakeGcsServer::endpoint() const {
  return "http://" + options_.host + ":" + std::to_string(port_);
}

void FakeGcsServer::RestartLatencyDraws(std::uint64_t seed) {
  if (!impl_) return;
  std::lock_guard lock(impl_->mutex);
  impl_->latency_seed = seed;
  impl_->samplers.clear();
}

ServerStats FakeGcsServer::stats() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mutex);
  return impl_->stats;
}

std::vector<RequestRecord> FakeGcsServer::request_log() const {
  if (!impl_) return {};
  std::lock_guard lock(impl_->mutex);
  return impl_->log;
}

Status ParseLatency(const std::string& text, netmodel::NetworkProfile& shaping) {
  const std::size_t colon = text.find(':');
  auto median = ParseDuration(text.substr(0, colon));
  if (!median) return InvalidArgument("latency '" + text + "': " + median.error().message);
  if (*median > kMaxServerLatency) {
    return InvalidArgument("latency '" + text +
                           "': above 1 hour, the limit (a longer wait is a stall: use the "
                           "stall-for-Ts fault)");
  }
  shaping.latency_median_ns = *median;
  shaping.latency_p99_ns = 0;
  shaping.latency_min_ns = 0;
  if (colon != std::string::npos) {
    auto p99 = ParseDuration(text.substr(colon + 1));
    if (!p99) return InvalidArgument("latency '" + text + "': " + p99.error().message);
    if (*p99 < *median) return InvalidArgument("latency '" + text + "': p99 is below the median");
    if (*p99 > kMaxServerLatency) return InvalidArgument("latency '" + text + "': p99 above 1 hour, the limit");
    shaping.latency_p99_ns = *p99;
  }
  return OkStatus();
}

Result<double> ParseBandwidth(const std::string& text) {
  if (text == "0") return 0.0;
  auto rate = ParseRate(text);
  if (!rate) return InvalidArgument("bandwidth '" + text + "': " + rate.error().message);
  return *rate;
}

}  // namespace pflab::fake_gcs
