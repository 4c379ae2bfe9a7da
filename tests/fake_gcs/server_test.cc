// The fake GCS server over real HTTP: every endpoint and header of shared/research/fake_gcs.md
// section 6, bad requests answered with GCS-shaped errors, and each fault instruction's wire effect.
#include "fake_gcs/server.h"

#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <thread>

#include "engine/synthetic_content.h"
#include "net/checksums.h"

namespace pflab::fake_gcs {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string SyntheticBytes(const std::string& bucket, const std::string& name, std::uint64_t offset, std::uint64_t size,
                           std::int64_t generation = 1) {
  std::string out(size, '\0');
  FillSynthetic(ObjectSeed(bucket, name, generation), offset, reinterpret_cast<std::byte*>(out.data()), size);
  return out;
}

struct Fixture {
  FakeGcsServer server;
  std::unique_ptr<httplib::Client> client;

  explicit Fixture(ServerOptions options = {}) : server(std::move(options)) {
    REQUIRE(server.store().PutMemory("bkt", "dir/hello.txt", "hello world", "text/plain").ok());
    REQUIRE(server.store().PutSynthetic("bkt", "big.bin", 3 << 20).ok());
    REQUIRE(server.store().PutMemory("bkt", "empty", "").ok());
    REQUIRE(server.store().PutMemory("bkt", "with space/caf\xc3\xa9+plus", "unicode").ok());
    auto port = server.Start();
    REQUIRE(port.ok());
    client = std::make_unique<httplib::Client>("127.0.0.1", *port);
    client->set_read_timeout(10, 0);
    client->set_url_encode(false);  // paths here are written encoded, as a GCS client sends them
  }
  httplib::Result Get(const std::string& path, httplib::Headers headers = {}) { return client->Get(path, headers); }
};

json JsonBody(const httplib::Result& r) {
  REQUIRE(r);
  json j = json::parse(r->body, nullptr, false);
  REQUIRE_FALSE(j.is_discarded());
  return j;
}

// The JSON API error model, with the reason GCS uses for the status.
void CheckJsonError(const httplib::Result& r, int status, const std::string& reason) {
  REQUIRE(r);
  CHECK(r->status == status);
  const json j = JsonBody(r);
  CHECK(j["error"]["code"] == status);
  CHECK(j["error"]["errors"][0]["reason"] == reason);
  CHECK(j["error"]["errors"][0]["domain"] == "global");
  CHECK_FALSE(j["error"]["message"].get<std::string>().empty());
}

TEST_CASE("fake gcs: health check and object metadata", "[fake_gcs][server]") {
  Fixture f;
  auto health = f.Get("/");
  REQUIRE(health);
  CHECK(health->body == "OK");
  const json m = JsonBody(f.Get("/storage/v1/b/bkt/o/dir%2Fhello.txt"));
  CHECK(m["kind"] == "storage#object");
  CHECK(m["name"] == "dir/hello.txt");
  CHECK(m["bucket"] == "bkt");
  CHECK(m["size"] == "11");  // int64 fields are strings
  CHECK(m["generation"].is_string());
  CHECK(m["metageneration"] == "1");
  CHECK(m["contentType"] == "text/plain");
  CHECK(m["md5Hash"] == "XrY7u+Ae7tCTyyK7j1rNww==");
  CHECK(m["crc32c"] == "yZRlqg==");
  CHECK(m["etag"].is_string());
  CHECK(m["updated"].get<std::string>().back() == 'Z');
  const std::string gen = m["generation"];
  CHECK(m["selfLink"] == f.server.endpoint() + "/storage/v1/b/bkt/o/dir%2Fhello.txt");
  CHECK(m["mediaLink"] ==
        f.server.endpoint() + "/download/storage/v1/b/bkt/o/dir%2Fhello.txt?generation=" + gen + "&alt=media");
  // alt=json is the same as no alt; other alts are refused.
  CHECK(JsonBody(f.Get("/storage/v1/b/bkt/o/dir%2Fhello.txt?alt=json"))["name"] == "dir/hello.txt");
  CheckJsonError(f.Get("/storage/v1/b/bkt/o/dir%2Fhello.txt?alt=proto"), 400, "invalid");
  // The mediaLink works as given.
  auto media = f.Get(m["mediaLink"].get<std::string>().substr(f.server.endpoint().size()));
  REQUIRE(media);
  CHECK(media->body == "hello world");
}

TEST_CASE("fake gcs: media downloads, ranges and headers", "[fake_gcs][server]") {
  Fixture f;
  const std::string path = "/storage/v1/b/bkt/o/big.bin?alt=media";
  auto whole = f.Get(path);
  REQUIRE(whole);
  CHECK(whole->status == 200);
  CHECK(whole->body == SyntheticBytes("bkt", "big.bin", 0, 3 << 20));
  CHECK(whole->get_header_value("x-goog-generation") == "1");
  CHECK(whole->get_header_value("x-goog-stored-content-length") == std::to_string(3 << 20));
  CHECK(whole->get_header_value("Accept-Ranges") == "bytes");
  CHECK_FALSE(whole->has_header("Content-Range"));
  // x-goog-hash: the whole object's hashes, on two lines by default.
  REQUIRE(whole->get_header_value_count("x-goog-hash") == 2);
  const std::string crc = *FindGoogHash(whole->get_header_value("x-goog-hash", 0), "crc32c");
  CHECK(crc == Crc32cToBase64(Crc32cExtend(0, whole->body.data(), whole->body.size())));

  auto part = f.Get(path, {{"Range", "bytes=1000-1999"}});
  REQUIRE(part);
  CHECK(part->status == 206);
  CHECK(part->get_header_value("Content-Range") == "bytes 1000-1999/" + std::to_string(3 << 20));
  CHECK(part->body == SyntheticBytes("bkt", "big.bin", 1000, 1000));
  CHECK(part->get_header_value_count("x-goog-hash") == 2);  // still the whole object's

  auto suffix = f.Get(path, {{"Range", "bytes=-10"}});
  REQUIRE(suffix);
  CHECK(suffix->status == 206);
  CHECK(suffix->body == SyntheticBytes("bkt", "big.bin", (3 << 20) - 10, 10));

  auto open_ended = f.Get("/download/storage/v1/b/bkt/o/big.bin?alt=media", {{"Range", "bytes=3145720-"}});
  REQUIRE(open_ended);
  CHECK(open_ended->status == 206);
  CHECK(open_ended->body.size() == 8);

  auto beyond = f.Get(path, {{"Range", "bytes=3145728-"}});
  REQUIRE(beyond);
  CHECK(beyond->status == 416);
  CHECK(beyond->get_header_value("Content-Range") == "bytes */3145728");
  CHECK(beyond->body.find("<Code>InvalidRange</Code>") != std::string::npos);
  auto empty = f.Get("/storage/v1/b/bkt/o/empty?alt=media", {{"Range", "bytes=0-"}});
  REQUIRE(empty);
  CHECK(empty->status == 416);
  auto empty_whole = f.Get("/storage/v1/b/bkt/o/empty?alt=media");
  REQUIRE(empty_whole);
  CHECK(empty_whole->status == 200);
  CHECK(empty_whole->body.empty());
  // A Range GCS cannot use is ignored: the whole object with 200.
  for (const char* bad : {"bytes=5-4", "bytes=abc", "pages=1-2", "bytes=0-1,4-5"}) {
    INFO(bad);
    auto r = f.Get("/storage/v1/b/bkt/o/dir%2Fhello.txt?alt=media", {{"Range", bad}});
    REQUIRE(r);
    CHECK(r->status == 200);
    CHECK(r->body == "hello world");
  }
}

TEST_CASE("fake gcs: x-goog-hash on one line when asked", "[fake_gcs][server]") {
  ServerOptions options;
  options.hash_header_one_line = true;
  Fixture f(options);
  auto r = f.Get("/storage/v1/b/bkt/o/dir%2Fhello.txt?alt=media");
  REQUIRE(r);
  REQUIRE(r->get_header_value_count("x-goog-hash") == 1);
  CHECK(r->get_header_value("x-goog-hash") == "crc32c=yZRlqg==,md5=XrY7u+Ae7tCTyyK7j1rNww==");
}

TEST_CASE("fake gcs: generations and preconditions", "[fake_gcs][server]") {
  Fixture f;
  REQUIRE(f.server.store().PutMemory("bkt", "v", "version two", "text/plain", 7).ok());
  auto ok = f.Get("/storage/v1/b/bkt/o/v?alt=media&generation=7");
  REQUIRE(ok);
  CHECK(ok->body == "version two");
  CheckJsonError(f.Get("/storage/v1/b/bkt/o/v?alt=media&generation=6"), 404, "notFound");
  CheckJsonError(f.Get("/storage/v1/b/bkt/o/v?alt=media&generation=x"), 400, "invalid");
  CheckJsonError(f.Get("/storage/v1/b/bkt/o/v?alt=media&ifGenerationMatch=6"), 412, "conditionNotMet");
  CHECK(f.Get("/storage/v1/b/bkt/o/v?alt=media&ifGenerationMatch=7")->status == 200);
  CHECK(f.Get("/storage/v1/b/bkt/o/v?ifMetagenerationMatch=1")->status == 200);
  CheckJsonError(f.Get("/storage/v1/b/bkt/o/v?ifMetagenerationMatch=2"), 412, "conditionNotMet");
  CHECK(f.Get("/storage/v1/b/bkt/o/v?alt=media&ifGenerationNotMatch=7")->status == 304);
  CHECK(f.Get("/storage/v1/b/bkt/o/v?alt=media&ifGenerationNotMatch=8")->status == 200);
  // XML API: preconditions are headers, errors are XML.
  CHECK(f.Get("/bkt/v", {{"x-goog-if-generation-match", "7"}})->status == 200);
  auto xml412 = f.Get("/bkt/v", {{"x-goog-if-generation-match", "8"}});
  REQUIRE(xml412);
  CHECK(xml412->status == 412);
  CHECK(xml412->body.find("<Error>") != std::string::npos);
}

TEST_CASE("fake gcs: XML API GET and HEAD, object names with slashes, spaces and unicode", "[fake_gcs][server]") {
  Fixture f;
  auto xml = f.Get("/bkt/dir/hello.txt", {{"Range", "bytes=6-10"}});
  REQUIRE(xml);
  CHECK(xml->status == 206);
  CHECK(xml->body == "world");
  auto head = f.client->Head("/bkt/dir/hello.txt");
  REQUIRE(head);
  CHECK(head->status == 200);
  CHECK(head->get_header_value("Content-Length") == "11");
  CHECK(head->body.empty());
  auto missing = f.Get("/bkt/nope");
  REQUIRE(missing);
  CHECK(missing->status == 404);
  CHECK(missing->body.find("<Code>NoSuchKey</Code>") != std::string::npos);
  // %2F and literal slashes name the same object; space, unicode and '+' survive a round trip.
  const std::string encoded = "with%20space%2Fcaf%C3%A9%2Bplus";
  CHECK(f.Get("/storage/v1/b/bkt/o/" + encoded + "?alt=media")->body == "unicode");
  CHECK(f.Get("/storage/v1/b/bkt/o/with%20space/caf%C3%A9%2Bplus?alt=media")->body == "unicode");
  CHECK(JsonBody(f.Get("/storage/v1/b/bkt/o/" + encoded))["name"] == "with space/caf\xc3\xa9+plus");
}

TEST_CASE("fake gcs: errors are GCS-shaped, never crashes", "[fake_gcs][server]") {
  Fixture f;
  CheckJsonError(f.Get("/storage/v1/b/nobucket/o/x"), 404, "notFound");
  CheckJsonError(f.Get("/storage/v1/b/nobucket"), 404, "notFound");
  CheckJsonError(f.Get("/storage/v1/b/nobucket/o"), 404, "notFound");
  CheckJsonError(f.Get("/storage/v1/b/bkt/o/nothing"), 404, "notFound");
  CheckJsonError(f.Get("/storage/v1/b/bkt/o/bad%zzname"), 400, "invalid");
  CheckJsonError(f.Get("/storage/v1/b/bkt/o?maxResults=0"), 400, "invalid");
  CheckJsonError(f.Get("/storage/v1/b/bkt/o?pageToken=%%%"), 400, "invalid");
  CheckJsonError(
      f.client->Post("/upload/storage/v1/b/bkt/o?uploadType=multipart", "garbage", "multipart/related; boundary=xyz"),
      400, "invalid");
  CheckJsonError(
      f.client->Post("/upload/storage/v1/b/bkt/o?uploadType=multipart",
                     "--xyz\r\nContent-Type: application/json\r\n\r\n{not json\r\n--xyz\r\n\r\ndata\r\n--xyz--",
                     "multipart/related; boundary=xyz"),
      400, "invalid");
  CheckJsonError(f.client->Post("/upload/storage/v1/b/bkt/o?uploadType=media", "x", "text/plain"), 400,
                 "invalid");  // no name
  CheckJsonError(f.client->Post("/upload/storage/v1/b/bkt/o?uploadType=weird&name=x", "x", "text/plain"), 400,
                 "invalid");
  CheckJsonError(f.client->Post("/upload/storage/v1/b/nobucket/o?uploadType=media&name=x", "x", "text/plain"), 404,
                 "notFound");
  auto xml = f.Get("/no/such/route/at/all/x");  // an XML API path: bucket "no"
  REQUIRE(xml);
  CHECK(xml->status == 404);
  CHECK(xml->body.find("<Code>NoSuchKey</Code>") != std::string::npos);
  CheckJsonError(f.client->Put("/storage/v1/b/bkt/o/x", "", "text/plain"), 405, "invalid");
  CheckJsonError(f.client->Post("/retry_test", "{bad", "application/json"), 400, "invalid");
  // A request that is not HTTP gets a 400 and the server keeps serving.
  httplib::Client raw("127.0.0.1", f.server.port());
  auto r = raw.Get("/storage/v1/b/bkt/o/dir%2Fhello.txt", {{"Range", std::string(100 << 10, 'x')}});
  REQUIRE(r);
  CHECK(r->status == 400);
  CHECK(f.Get("/")->body == "OK");
}

// Found by fuzz/fake_server_fuzz.cc: a request whose path held bytes that are not UTF-8 (raw, or
// percent-encoded as an object name) made the JSON error body throw as it was written; the exception
// ended the connection's coroutine silently and the client waited on an open connection forever.
// Object names must be UTF-8 (as in GCS), and every answer comes back.
TEST_CASE("fake gcs: names and paths that are not UTF-8 get an answer, not a hung connection", "[fake_gcs][server]") {
  Fixture f;
  f.client->set_read_timeout(5, 0);
  auto encoded = f.Get("/storage/v1/b/bkt/o/a%FFb");
  CheckJsonError(encoded, 400, "invalid");
  CHECK_THAT(JsonBody(encoded)["error"]["message"].get<std::string>(), Catch::Contains("is not valid UTF-8"));
  auto media = f.Get("/download/storage/v1/b/bkt/o/%C0%AF?alt=media");  // an overlong '/'
  CheckJsonError(media, 400, "invalid");
  auto raw_route = f.client->Delete(
      "/stora\xbc"
      "e/v1/b/bkt/o/empty");  // no route; the 404 quotes the path
  CheckJsonError(raw_route, 404, "notFound");
  auto xml = f.Get("/bkt/caf\xe9");
  REQUIRE(xml);
  CHECK(xml->status == 400);
  CHECK(xml->body.find("<Code>InvalidArgument</Code>") != std::string::npos);
  CheckJsonError(f.client->Post("/upload/storage/v1/b/bkt/o?uploadType=media&name=%FF", "x", "text/plain"), 400,
                 "invalid");
  CHECK(f.server.store().List("bkt", "").value().size() == 4);  // nothing stored
  CHECK(f.Get("/")->body == "OK");
}

// Found by fuzz/fake_server_fuzz.cc: the answer to a HEAD that failed (404, 400, ...) or asked for
// JSON metadata carried a body, which a keep-alive client reads as the start of its next response.
TEST_CASE("fake gcs: every answer to HEAD is headers only, so the connection stays in step", "[fake_gcs][server]") {
  Fixture f;
  httplib::Client c("127.0.0.1", f.server.port());
  c.set_keep_alive(true);
  c.set_read_timeout(5, 0);
  for (const std::string path : {"/bkt/nothing", "/storage/v1/b/bkt/o/dir%2Fhello.txt", "/storage/v1/b/bkt/o/nothing",
                                 "/storage/v1/b/bkt/o/dir%2Fhello.txt?alt=proto", "/bkt/dir/hello.txt"}) {
    INFO(path);
    auto head = c.Head(path);
    REQUIRE(head);
    CHECK(head->body.empty());
    auto next = c.Get("/");  // the same connection
    REQUIRE(next);
    CHECK(next->status == 200);
    CHECK(next->body == "OK");
  }
  CHECK(f.server.stats().connections == 1);  // all of it on one kept-alive connection
}

TEST_CASE("fake gcs: listing with prefix, delimiter, offsets and pages", "[fake_gcs][server]") {
  Fixture f;
  for (const char* name : {"l/a", "l/b", "l/c/1", "l/c/2", "l/d/", "l/e"}) {
    REQUIRE(f.server.store().PutMemory("lst", name, name).ok());
  }
  json all = JsonBody(f.Get("/storage/v1/b/lst/o"));
  CHECK(all["kind"] == "storage#objects");
  CHECK(all["items"].size() == 6);
  CHECK_FALSE(all.contains("nextPageToken"));
  json dirs = JsonBody(f.Get("/storage/v1/b/lst/o?prefix=l/&delimiter=/"));
  std::vector<std::string> items, prefixes;
  for (const auto& i : dirs["items"]) items.push_back(i["name"]);
  for (const auto& p : dirs["prefixes"]) prefixes.push_back(p);
  CHECK(items == std::vector<std::string>{"l/a", "l/b", "l/e"});
  CHECK(prefixes == std::vector<std::string>{"l/c/", "l/d/"});
  json trailing = JsonBody(f.Get("/storage/v1/b/lst/o?prefix=l/&delimiter=/&includeTrailingDelimiter=true"));
  CHECK(trailing["items"].size() == 4);  // l/d/ is an object too
  json offsets = JsonBody(f.Get("/storage/v1/b/lst/o?startOffset=l/b&endOffset=l/d"));
  CHECK(offsets["items"].size() == 3);  // l/b, l/c/1, l/c/2
  // Pages of 2 cover items and prefixes together, each once, in order.
  std::vector<std::string> seen;
  std::string token;
  int pages = 0;
  do {
    json page = JsonBody(f.Get("/storage/v1/b/lst/o?prefix=l/&delimiter=/&maxResults=2" +
                               (token.empty() ? "" : "&pageToken=" + httplib::detail::encode_query_param(token))));
    std::size_t n = 0;
    for (const auto& i : page.value("items", json::array())) seen.push_back(i["name"]), ++n;
    for (const auto& p : page.value("prefixes", json::array())) seen.push_back(p), ++n;
    CHECK(n <= 2);
    token = page.value("nextPageToken", "");
    ++pages;
  } while (!token.empty() && pages < 10);
  std::sort(seen.begin(), seen.end());
  CHECK(seen == std::vector<std::string>{"l/a", "l/b", "l/c/", "l/d/", "l/e"});
  CHECK(pages == 3);
  // Buckets.
  CHECK(JsonBody(f.Get("/storage/v1/b/lst"))["name"] == "lst");
  CHECK(JsonBody(f.Get("/storage/v1/b"))["items"].size() == 2);
}

TEST_CASE("fake gcs: media and multipart uploads, with ifGenerationMatch", "[fake_gcs][server]") {
  Fixture f;
  // '+' in a query string is a space.
  auto media = f.client->Post("/upload/storage/v1/b/bkt/o?uploadType=media&name=up/a+b", "payload one", "text/x-a");
  const json m = JsonBody(media);
  CHECK(media->status == 200);
  CHECK(m["name"] == "up/a b");
  CHECK(m["size"] == "11");
  CHECK(m["contentType"] == "text/x-a");
  CHECK(f.Get("/storage/v1/b/bkt/o/up%2Fa%20b?alt=media")->body == "payload one");
  const std::string gen = m["generation"];
  const std::string body =
      "--b0undary\r\nContent-Type: application/json; charset=UTF-8\r\n\r\n{\"name\": \"up/multi\", \"contentType\": "
      "\"application/x-test\"}\r\n--b0undary\r\nContent-Type: application/octet-stream\r\n\r\nmulti\r\npart "
      "bytes\r\n--b0undary--\r\n";
  auto multi =
      f.client->Post("/upload/storage/v1/b/bkt/o?uploadType=multipart", body, "multipart/related; boundary=b0undary");
  const json mm = JsonBody(multi);
  CHECK(mm["name"] == "up/multi");
  CHECK(mm["contentType"] == "application/x-test");
  CHECK(f.Get("/storage/v1/b/bkt/o/up%2Fmulti?alt=media")->body == "multi\r\npart bytes");
  // ifGenerationMatch=0: only when absent. The right generation: overwrite.
  CheckJsonError(
      f.client->Post("/upload/storage/v1/b/bkt/o?uploadType=media&name=up/a+b&ifGenerationMatch=0", "x", "text/plain"),
      412, "conditionNotMet");
  auto over = f.client->Post("/upload/storage/v1/b/bkt/o?uploadType=media&name=up/a+b&ifGenerationMatch=" + gen,
                             "payload two", "text/plain");
  CHECK(JsonBody(over)["generation"] != gen);
  CHECK(f.Get("/storage/v1/b/bkt/o/up%2Fa%20b?alt=media")->body == "payload two");
  // The old generation is gone: a reader pinned to it gets 404, never the new bytes.
  CHECK(f.Get("/storage/v1/b/bkt/o/up%2Fa%20b?alt=media&generation=" + gen)->status == 404);
  // Delete.
  CHECK(f.client->Delete("/storage/v1/b/bkt/o/up%2Fmulti")->status == 204);
  CHECK(f.Get("/storage/v1/b/bkt/o/up%2Fmulti")->status == 404);
}

TEST_CASE("fake gcs: a directory root serves folders as buckets and never lets a name escape", "[fake_gcs][server]") {
  const fs::path root = fs::temp_directory_path() / ("pflab-root-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "files" / "sub");
  std::ofstream(root / "files" / "sub" / "x.txt") << "file bytes";
  std::ofstream(root / "secret.txt") << "outside every bucket";
  {
    FakeGcsServer server;
    REQUIRE(server.store().SetRoot(root.string()).ok());
    REQUIRE(server.Start().ok());
    httplib::Client c("127.0.0.1", server.port());
    c.set_url_encode(false);
    CHECK(c.Get("/storage/v1/b/files/o/sub%2Fx.txt?alt=media")->body == "file bytes");
    CHECK(c.Get("/files/sub/x.txt", {{"Range", "bytes=5-"}})->body == "bytes");
    CHECK(json::parse(c.Get("/storage/v1/b/files/o")->body)["items"][0]["name"] == "sub/x.txt");
    for (const char* escape :
         {"/storage/v1/b/files/o/..%2Fsecret.txt?alt=media", "/files/../secret.txt",
          "/storage/v1/b/files/o/sub%2F..%2F..%2Fsecret.txt?alt=media", "/files/%2Fetc%2Fpasswd"}) {
      INFO(escape);
      auto r = c.Get(escape);
      REQUIRE(r);
      CHECK(r->status == 400);
      CHECK(r->body.find("outside every bucket") == std::string::npos);
    }
    auto up = c.Post("/upload/storage/v1/b/files/o?uploadType=media&name=new/dir/y.bin", "written", "text/plain");
    REQUIRE(up);
    CHECK(up->status == 200);
    std::ifstream in(root / "files" / "new" / "dir" / "y.bin");
    std::string content((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    CHECK(content == "written");
    CHECK(c.Post("/upload/storage/v1/b/files/o?uploadType=media&name=..%2Fevil", "x", "text/plain")->status == 400);
    CHECK_FALSE(fs::exists(root / "evil"));
  }
  fs::remove_all(root);
}

TEST_CASE("fake gcs: a 1 TiB synthetic object costs nothing and reads anywhere", "[fake_gcs][server]") {
  Fixture f;
  REQUIRE(f.server.store().PutSynthetic("bkt", "huge", 1ull << 40).ok());
  const json m = JsonBody(f.Get("/storage/v1/b/bkt/o/huge"));
  CHECK(m["size"] == std::to_string(1ull << 40));
  CHECK_FALSE(m.contains("md5Hash"));  // over the hash limit, like a composite object
  auto tail = f.Get("/storage/v1/b/bkt/o/huge?alt=media", {{"Range", "bytes=-4096"}});
  REQUIRE(tail);
  CHECK(tail->body == SyntheticBytes("bkt", "huge", (1ull << 40) - 4096, 4096));
  CHECK_FALSE(tail->has_header("x-goog-hash"));
}

// Posts a retry test and returns its id.
std::string CreateRetryTest(httplib::Client& c, const json& instructions) {
  auto r = c.Post("/retry_test", json{{"instructions", instructions}}.dump(), "application/json");
  REQUIRE(r);
  REQUIRE(r->status == 200);
  return json::parse(r->body)["id"];
}

TEST_CASE("fake gcs: the retry test API over HTTP", "[fake_gcs][faults][server]") {
  Fixture f;
  const std::string id = CreateRetryTest(
      *f.client, {{"storage.objects.get", {"return-503", "return-429"}}, {"storage.objects.list", {"return-408"}}});
  const httplib::Headers h{{"x-retry-test-id", id}};
  CheckJsonError(f.Get("/storage/v1/b/bkt/o/dir%2Fhello.txt?alt=media", h), 503, "backendError");
  CheckJsonError(f.Get("/bkt/dir/hello.txt", h), 429, "rateLimitExceeded");  // XML GET is objects.get too
  CHECK(f.Get("/storage/v1/b/bkt/o/dir%2Fhello.txt?alt=media", h)->body == "hello world");
  CHECK(json::parse(f.Get("/retry_test/" + id)->body)["completed"] == false);
  CheckJsonError(f.Get("/storage/v1/b/bkt/o", h), 408, "requestTimeout");
  CHECK(json::parse(f.Get("/retry_test/" + id)->body)["completed"] == true);
  CHECK(json::parse(f.Get("/retry_tests")->body)["retry_test"].size() == 1);
  // Without the header, nothing is injected.
  CHECK(f.Get("/storage/v1/b/bkt/o/dir%2Fhello.txt?alt=media")->status == 200);
  CHECK(f.client->Delete("/retry_test/" + id)->status == 200);
  CHECK(f.Get("/retry_test/" + id)->status == 404);
  CheckJsonError(f.Get("/storage/v1/b/bkt/o/dir%2Fhello.txt", h), 400, "invalid");  // unknown id
  auto bad =
      f.client->Post("/retry_test", R"({"instructions": {"storage.objects.get": ["explode"]}})", "application/json");
  REQUIRE(bad);
  CHECK(bad->status == 400);
  CHECK(bad->body.find("explode") != std::string::npos);
}

TEST_CASE("fake gcs: reset, broken stream, stall and corrupt byte on the wire", "[fake_gcs][faults][server]") {
  Fixture f;
  const std::string path = "/storage/v1/b/bkt/o/big.bin?alt=media";
  const std::string expected = SyntheticBytes("bkt", "big.bin", 0, 3 << 20);
  SECTION("return-reset-connection: no response at all") {
    const std::string id = CreateRetryTest(*f.client, {{"storage.objects.get", {"return-reset-connection"}}});
    auto r = f.Get(path, {{"x-retry-test-id", id}});
    CHECK_FALSE(r);
    CHECK(json::parse(f.Get("/retry_test/" + id)->body)["completed"] == true);
  }
  SECTION("return-broken-stream-after-256K: the body stops at 256 KiB of the promised length") {
    const std::string id = CreateRetryTest(*f.client, {{"storage.objects.get", {"return-broken-stream-after-256K"}}});
    std::string got;
    std::string length;
    auto r = f.client->Get(
        path, {{"x-retry-test-id", id}},
        [&](const httplib::Response& resp) {
          length = resp.get_header_value("Content-Length");
          return true;
        },
        [&](const char* data, std::size_t n) {
          got.append(data, n);
          return true;
        });
    CHECK_FALSE(r);  // the connection closed before Content-Length bytes
    CHECK(length == std::to_string(3 << 20));
    CHECK(got.size() == 256 * 1024);
    CHECK(got == expected.substr(0, got.size()));
  }
  SECTION("return-broken-stream: 4 bytes, then the close") {
    const std::string id = CreateRetryTest(*f.client, {{"storage.objects.get", {"return-broken-stream"}}});
    std::string got;
    auto r = f.client->Get(path, {{"x-retry-test-id", id}}, [&](const char* data, std::size_t n) {
      got.append(data, n);
      return true;
    });
    CHECK_FALSE(r);
    CHECK(got == expected.substr(0, 4));
  }
  SECTION("stall-for-1s-after-64K: the whole body, with a one-second pause") {
    const std::string id = CreateRetryTest(*f.client, {{"storage.objects.get", {"stall-for-1s-after-64K"}}});
    const auto start = std::chrono::steady_clock::now();
    auto r = f.Get(path, {{"x-retry-test-id", id}});
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    REQUIRE(r);
    CHECK(r->body == expected);
    CHECK(seconds >= 0.95);  // a lower bound only: the pause must have happened
  }
  SECTION("corrupt-byte: exactly one byte differs; the hash header still describes the true object") {
    const std::string id = CreateRetryTest(*f.client, {{"storage.objects.get", {"corrupt-byte"}}});
    auto r = f.Get(path, {{"x-retry-test-id", id}});
    REQUIRE(r);
    REQUIRE(r->body.size() == expected.size());
    int differing = 0;
    for (std::size_t i = 0; i < expected.size(); ++i) differing += r->body[i] != expected[i];
    CHECK(differing == 1);
    const std::string crc = *FindGoogHash(r->get_header_value("x-goog-hash", 0), "crc32c");
    CHECK(crc != Crc32cToBase64(Crc32cExtend(0, r->body.data(), r->body.size())));
  }
  // The server is still healthy after each fault.
  CHECK(f.Get(path)->body == expected);
}

TEST_CASE("fake gcs: shaping delays the first byte and paces the body", "[fake_gcs][server]") {
  ServerOptions options;
  options.shaping.latency_median_ns = 200 * kMillisecond;
  options.shaping.stream_bandwidth_bytes_per_s = 10e6;
  options.route_shaping["metadata"] = netmodel::NetworkProfile::Unshaped();
  Fixture f(options);
  auto timed = [&](const std::string& path, httplib::Headers h = {}) {
    const auto start = std::chrono::steady_clock::now();
    auto r = f.Get(path, h);
    REQUIRE(r);
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  // Lower bounds only: 200 ms of latency plus 2 MB at 10 MB/s is at least 0.4 s.
  CHECK(timed("/storage/v1/b/bkt/o/big.bin?alt=media", {{"Range", "bytes=0-1999999"}}) >= 0.39);
  CHECK(timed("/storage/v1/b/bkt/o/dir%2Fhello.txt?alt=media") >= 0.19);
  // The unshaped route answers without the latency (an upper bound with a wide margin).
  CHECK(timed("/storage/v1/b/bkt/o/dir%2Fhello.txt") < 0.19);
}

TEST_CASE("fake gcs: media downloads draw the simulator's first-byte latencies for a seed", "[fake_gcs][server]") {
  // pflab fidelity compares a run through the server with its simulated twin; with the same draws
  // the comparison is run by run, not only in medians over seeds.
  ServerOptions options;
  options.shaping.latency_median_ns = 200 * kMicrosecond;
  options.shaping.latency_p99_ns = 2 * kMillisecond;
  options.keep_request_log = true;
  Fixture f(options);
  auto draws = [&](std::uint64_t seed) {
    f.server.RestartLatencyDraws(seed);
    const std::size_t before = f.server.request_log().size();
    for (int i = 0; i < 6; ++i) {
      REQUIRE(f.Get("/storage/v1/b/bkt/o/big.bin?alt=media", {{"Range", "bytes=0-99"}}));
      if (i % 2 == 0) REQUIRE(f.Get("/storage/v1/b/bkt/o/big.bin"));  // metadata: a stream of its own
    }
    std::vector<Nanos> media;
    // A request is logged once its reply is written, which may be just after the client has it.
    auto log = f.server.request_log();
    for (int wait = 0; wait < 200 && log.size() < before + 9; ++wait) {
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
      log = f.server.request_log();
    }
    for (std::size_t i = before; i < log.size(); ++i) {
      if (log[i].target.find("alt=media") != std::string::npos) media.push_back(log[i].latency_ns);
    }
    return media;
  };
  for (std::uint64_t seed : {1, 7}) {
    INFO("seed " << seed);
    netmodel::LatencySampler simulator(options.shaping, seed);
    std::vector<Nanos> expected;
    for (int i = 0; i < 6; ++i) expected.push_back(simulator.Sample());
    CHECK(draws(seed) == expected);
  }
  CHECK(draws(1) != draws(7));
}

TEST_CASE("fake gcs: a fault profile injects seeded faults", "[fake_gcs][faults][server]") {
  ServerOptions options;
  auto profile =
      FaultProfile::Parse({{"seed", 3}, {"faults", {{{"instruction", "return-503"}, {"probability", 0.5}}}}}, "test");
  REQUIRE(profile);
  options.faults.emplace(*profile);
  Fixture f(options);
  int failed = 0;
  for (int i = 0; i < 200; ++i) failed += f.Get("/storage/v1/b/bkt/o/dir%2Fhello.txt?alt=media")->status == 503;
  CHECK(failed > 60);
  CHECK(failed < 140);
  CHECK(f.server.stats().faults_fired == static_cast<std::uint64_t>(failed));
}

}  // namespace
}  // namespace pflab::fake_gcs
