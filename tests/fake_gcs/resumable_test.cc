// Resumable uploads over HTTP, as GCS runs them: a session from POST uploadType=resumable, chunks with
// Content-Range, 308 with the persisted Range, status queries, resent bytes skipped, gaps refused,
// faults that cut a chunk and the resume after them, cancel (499), preconditions at start and end,
// and sessions that expire or are evicted leaving no staging file. In memory and in a folder; every
// object's bytes are compared with what was sent.
#include <httplib.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <thread>

#include "fake_gcs/server.h"
#include "net/checksums.h"
#include "tests/support/files.h"

namespace pflab::fake_gcs {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

// Random bytes, eight per draw (a draw per byte is slow in the sanitizer build).
std::string RandomBytes(std::size_t n, std::uint64_t seed) {
  std::string out(n, '\0');
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < n; i += 8) {
    const std::uint64_t v = rng();
    std::memcpy(out.data() + i, &v, std::min<std::size_t>(8, n - i));
  }
  return out;
}

std::size_t CountStaging(const fs::path& folder) {
  std::size_t n = 0;
  for (const auto& e : fs::directory_iterator(folder))
    n += e.path().filename().string().rfind(".pflab-upload-", 0) == 0;
  return n;
}

// A server with an in-memory bucket `mem` and a directory-backed bucket `dir`.
struct Fixture {
  fs::path root = fs::temp_directory_path() / ("pflab-resumable-" + std::to_string(::getpid()));
  std::unique_ptr<FakeGcsServer> server;
  std::unique_ptr<httplib::Client> client;

  explicit Fixture(ServerOptions options = {}) {
    fs::remove_all(root);
    fs::create_directories(root / "dir");
    options.keep_request_log = true;
    server = std::make_unique<FakeGcsServer>(options);
    REQUIRE(server->store().SetRoot(root.string()).ok());
    server->store().CreateBucket("mem");
    REQUIRE(server->Start().ok());
    client = std::make_unique<httplib::Client>("127.0.0.1", server->port());
    client->set_url_encode(false);
    client->set_read_timeout(10, 0);
  }
  ~Fixture() {
    server.reset();
    fs::remove_all(root);
  }

  // Starts a session; returns the session URI's path and query.
  std::string Start(const std::string& bucket, const std::string& query, const std::string& body = "",
                    httplib::Headers headers = {}) {
    auto r = client->Post("/upload/storage/v1/b/" + bucket + "/o?uploadType=resumable&" + query, headers, body,
                          "application/json; charset=UTF-8");
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 200);
    const std::string location = r->get_header_value("Location");
    REQUIRE(location.rfind(server->endpoint() + "/upload/storage/v1/b/" + bucket + "/o?", 0) == 0);
    REQUIRE(location.find("upload_id=") != std::string::npos);
    return location.substr(server->endpoint().size());
  }
  httplib::Result Put(const std::string& session, const std::string& range, const std::string& body,
                      httplib::Headers headers = {}) {
    if (!range.empty()) headers.emplace("Content-Range", range);
    return client->Put(session, headers, body, "application/octet-stream");
  }
  std::string Media(const std::string& bucket, const std::string& name) {
    auto r = client->Get("/storage/v1/b/" + bucket + "/o/" + name + "?alt=media");
    REQUIRE(r);
    return r->status == 200 ? r->body : "<" + std::to_string(r->status) + ">";
  }
};

void Check308(const httplib::Result& r, std::optional<std::uint64_t> persisted) {
  REQUIRE(r);
  INFO(r->body);
  CHECK(r->status == 308);
  if (persisted) {
    CHECK(r->get_header_value("Range") == "bytes=0-" + std::to_string(*persisted - 1));
  } else {
    CHECK_FALSE(r->has_header("Range"));
  }
}

TEST_CASE("resumable: chunks, 308 and Range, status query, resent bytes, then the object appears at once",
          "[fake_gcs][resumable]") {
  Fixture f;
  for (const std::string bucket : {"mem", "dir"}) {
    INFO(bucket);
    const std::string data = RandomBytes(1'000'000, bucket.size());
    const std::string session = f.Start(bucket, "name=up%2Fbig.bin",
                                        R"({"contentType": "application/x-test", "metadata": {"k": "v"},)"
                                        R"( "cacheControl": "no-cache"})");
    Check308(f.Put(session, "bytes */*", ""), std::nullopt);  // nothing yet: no Range header
    Check308(f.Put(session, "bytes 0-262143/*", data.substr(0, 262144)), 262144);
    Check308(f.Put(session, "bytes */*", ""), 262144);
    // Bytes sent again are skipped (half of this chunk is old); a chunk past the persisted end is refused.
    Check308(f.Put(session, "bytes 131072-524287/*", data.substr(131072, 393216)), 524288);
    auto gap = f.Put(session, "bytes 600000-600009/*", data.substr(600000, 10));
    REQUIRE(gap);
    CHECK(gap->status == 400);
    auto mismatch = f.Put(session, "bytes 524288-524297/*", data.substr(524288, 5));  // body shorter than range
    REQUIRE(mismatch);
    CHECK(mismatch->status == 400);
    // Nothing is visible before the last byte.
    CHECK(f.Media(bucket, "up%2Fbig.bin") == "<404>");
    CHECK(json::parse(f.client->Get("/storage/v1/b/" + bucket + "/o")->body).value("items", json::array()).empty());
    if (bucket == "dir") {
      CHECK_FALSE(fs::exists(f.root / "dir" / "up"));
      CHECK(CountStaging(f.root / "dir") == 1);
    }
    auto done = f.Put(session, "bytes 524288-999999/1000000", data.substr(524288));
    REQUIRE(done);
    REQUIRE(done->status == 200);
    const json m = json::parse(done->body);
    CHECK(m["name"] == "up/big.bin");
    CHECK(m["size"] == "1000000");
    CHECK(m["contentType"] == "application/x-test");
    CHECK(m["metadata"]["k"] == "v");
    CHECK(m["cacheControl"] == "no-cache");
    CHECK(m["crc32c"] == Crc32cToBase64(Crc32cExtend(0, data.data(), data.size())));
    CHECK(f.Media(bucket, "up%2Fbig.bin") == data);
    if (bucket == "dir") {
      CHECK(testing::Slurp(f.root / "dir" / "up" / "big.bin") == data);
      CHECK(CountStaging(f.root / "dir") == 0);
    }
    // The last chunk sent again (its answer was lost) answers with the object; so does a status query.
    auto again = f.Put(session, "bytes 524288-999999/1000000", data.substr(524288));
    REQUIRE(again);
    CHECK(again->status == 200);
    CHECK(json::parse(again->body)["generation"] == m["generation"]);
    CHECK(f.Put(session, "bytes */*", "")->status == 200);
  }
}

TEST_CASE("resumable: the other ways to end a session", "[fake_gcs][resumable]") {
  Fixture f;
  // bytes */N once all N bytes are in; X-Upload-Content-Length ends it with the chunk that reaches it;
  // a PUT with no Content-Range is the whole object; bytes */0 is an empty object.
  std::string s = f.Start("dir", "name=a");
  Check308(f.Put(s, "bytes 0-9/*", "0123456789"), 10);
  Check308(f.Put(s, "bytes 10-19/*", "abcdefghij"), 20);
  CHECK(f.Put(s, "bytes */5", "")->status == 400);  // less than what is persisted
  CHECK(f.Put(s, "bytes */20", "")->status == 200);
  CHECK(f.Media("dir", "a") == "0123456789abcdefghij");
  // A status query that names the size declares it: the chunk reaching it ends the upload.
  s = f.Start("dir", "name=a2");
  Check308(f.Put(s, "bytes 0-9/*", "0123456789"), 10);
  Check308(f.Put(s, "bytes */20", ""), 10);
  CHECK(f.Put(s, "bytes 10-19/*", "abcdefghij")->status == 200);
  CHECK(f.Media("dir", "a2") == "0123456789abcdefghij");

  s = f.Start("mem", "name=b", "", {{"X-Upload-Content-Length", "6"}, {"X-Upload-Content-Type", "text/x-b"}});
  Check308(f.Put(s, "bytes 0-2/*", "abc"), 3);
  auto b = f.Put(s, "bytes 3-5/*", "def");
  REQUIRE(b);
  CHECK(b->status == 200);
  CHECK(json::parse(b->body)["contentType"] == "text/x-b");
  CHECK(f.Put(s, "bytes 6-6/*", "g")->status == 200);  // finished: the object, nothing appended
  CHECK(f.Media("mem", "b") == "abcdef");

  s = f.Start("mem", "", R"({"name": "c"})");
  CHECK(f.Put(s, "", "whole body")->status == 200);
  CHECK(f.Media("mem", "c") == "whole body");

  s = f.Start("dir", "name=empty");
  CHECK(f.Put(s, "bytes */0", "")->status == 200);
  CHECK(f.Media("dir", "empty").empty());
  CHECK(fs::file_size(f.root / "dir" / "empty") == 0);

  // Declared size and chunk disagree, a range past the total, a garbage Content-Range: 400.
  s = f.Start("mem", "name=d", "", {{"X-Upload-Content-Length", "4"}});
  CHECK(f.Put(s, "bytes 0-4/5", "abcde")->status == 400);
  CHECK(f.Put(s, "bytes 0-3/3", "abcd")->status == 400);
  CHECK(f.Put(s, "chars 0-3/4", "abcd")->status == 400);
  // No object name, a name in the body that disagrees, an unknown session: errors, no session.
  CHECK(f.client->Post("/upload/storage/v1/b/mem/o?uploadType=resumable", "", "application/json")->status == 400);
  CHECK(f.client->Post("/upload/storage/v1/b/mem/o?uploadType=resumable&name=x", R"({"name": "y"})", "application/json")
            ->status == 400);
  CHECK(f.Put("/upload/storage/v1/b/mem/o?uploadType=resumable&upload_id=nope", "bytes */*", "")->status == 404);
  // The X-GUploader-No-308 form: 200 with the 308 in a header.
  s = f.Start("mem", "name=e");
  auto no308 = f.Put(s, "bytes 0-1/*", "ab", {{"X-GUploader-No-308", "yes"}});
  REQUIRE(no308);
  CHECK(no308->status == 200);
  CHECK(no308->get_header_value("X-Http-Status-Code-Override") == "308");
  CHECK(no308->get_header_value("Range") == "bytes=0-1");
}

TEST_CASE("resumable: a fault cuts a chunk, the client asks where it stands and resumes",
          "[fake_gcs][resumable][faults]") {
  Fixture f;
  const std::string data = RandomBytes(800'000, 3);
  auto created = f.client->Post(
      "/retry_test",
      R"({"instructions": {"storage.objects.insert": ["return-503", "return-503-after-300K", "return-reset-connection"]}})",
      "application/json");
  REQUIRE(created);
  const std::string id = json::parse(created->body)["id"];
  const httplib::Headers test{{"x-retry-test-id", id}};
  for (const std::string bucket : {"dir", "mem"}) {
    INFO(bucket);
    const std::string session = f.Start(bucket, "name=cut");
    if (bucket == "dir") {
      // The plain return-503 fires on the first chunk, before anything is kept.
      auto first = f.Put(session, "bytes 0-262143/*", data.substr(0, 262144), test);
      REQUIRE(first);
      CHECK(first->status == 503);
      // return-503-after-300K waits for the chunk that reaches byte 300 KiB (a status query is no chunk).
      Check308(f.Put(session, "bytes */*", "", test), std::nullopt);
      Check308(f.Put(session, "bytes 0-262143/*", data.substr(0, 262144), test), 262144);
      auto cut = f.Put(session, "bytes 262144-524287/*", data.substr(262144, 262144), test);
      REQUIRE(cut);
      CHECK(cut->status == 503);
      // A reset: no answer at all, nothing kept.
      auto reset = f.Put(session, "bytes 307200-524287/*", data.substr(307200, 524288 - 307200), test);
      CHECK_FALSE(reset);
      // The bytes before the cut were kept: the client asks, and resends from there.
      Check308(f.Put(session, "bytes */*", "", test), 300 * 1024);
      Check308(f.Put(session, "bytes 262144-524287/*", data.substr(262144, 262144), test), 524288);
      auto done = f.Put(session, "bytes 524288-799999/800000", data.substr(524288), test);
      REQUIRE(done);
      CHECK(done->status == 200);
      CHECK(f.Media(bucket, "cut") == data);
      CHECK(json::parse(f.client->Get("/retry_test/" + id)->body)["completed"] == true);
    } else {
      // The testbench's classic return-503-after-256K, cutting exactly at the end of a 256 KiB chunk:
      // all of it is kept, then 503.
      auto t256 =
          f.client->Post("/retry_test", R"({"instructions": {"storage.objects.insert": ["return-503-after-256K"]}})",
                         "application/json");
      const httplib::Headers test256{{"x-retry-test-id", json::parse(t256->body)["id"].get<std::string>()}};
      auto cut = f.Put(session, "bytes 0-262143/*", data.substr(0, 262144), test256);
      REQUIRE(cut);
      CHECK(cut->status == 503);
      Check308(f.Put(session, "bytes */*", "", test256), 262144);
      CHECK(f.Put(session, "bytes 262144-799999/800000", data.substr(262144), test256)->status == 200);
      CHECK(f.Media(bucket, "cut") == data);
    }
  }
  // A single-request upload of at least Y KiB gets X and stores nothing.
  auto t2 = f.client->Post("/retry_test", R"({"instructions": {"storage.objects.insert": ["return-408-after-1K"]}})",
                           "application/json");
  const httplib::Headers test2{{"x-retry-test-id", json::parse(t2->body)["id"].get<std::string>()}};
  auto single = f.client->Post("/upload/storage/v1/b/mem/o?uploadType=media&name=single", test2, RandomBytes(2048, 1),
                               "application/octet-stream");
  REQUIRE(single);
  CHECK(single->status == 408);
  CHECK(f.Media("mem", "single") == "<404>");
}

TEST_CASE("resumable: the answer to the last chunk cut short, the object stored all the same",
          "[fake_gcs][resumable][faults]") {
  Fixture f;
  auto created = f.client->Post(
      "/retry_test", R"({"instructions": {"storage.objects.insert": ["return-broken-stream-final-chunk-after-10B"]}})",
      "application/json");
  const httplib::Headers test{{"x-retry-test-id", json::parse(created->body)["id"].get<std::string>()}};
  const std::string session = f.Start("dir", "name=final", "", test);
  Check308(f.Put(session, "bytes 0-3/*", "abcd", test), 4);  // not the last chunk: the fault waits
  auto last = f.Put(session, "bytes 4-7/8", "efgh", test);
  CHECK_FALSE(last);  // 10 bytes of a longer JSON body, then the connection closes
  auto status = f.Put(session, "bytes */*", "", test);
  REQUIRE(status);
  CHECK(status->status == 200);
  CHECK(json::parse(status->body)["size"] == "8");
  CHECK(f.Media("dir", "final") == "abcdefgh");
  auto log = f.server->request_log();
  CHECK(std::count_if(log.begin(), log.end(), [](const RequestRecord& r) {
          return r.fault == "return-broken-stream-final-chunk-after-10B" && r.status == 200 && r.body_bytes_sent == 10;
        }) == 1);
}

TEST_CASE("resumable: preconditions at the start and at the end", "[fake_gcs][resumable]") {
  Fixture f;
  REQUIRE(f.server->store().PutMemory("mem", "exists", "old").ok());
  auto refused = f.client->Post("/upload/storage/v1/b/mem/o?uploadType=resumable&name=exists&ifGenerationMatch=0", "",
                                "application/json");
  REQUIRE(refused);
  CHECK(refused->status == 412);
  // The object appears while the upload runs: the last chunk fails the condition, nothing is replaced,
  // and the session answers the same from then on.
  for (const std::string bucket : {"mem", "dir"}) {
    INFO(bucket);
    const std::string session = f.Start(bucket, "name=race&ifGenerationMatch=0");
    Check308(f.Put(session, "bytes 0-2/*", "new", {}), 3);
    REQUIRE(f.client->Post("/upload/storage/v1/b/" + bucket + "/o?uploadType=media&name=race", "winner", "text/plain")
                ->status == 200);
    auto last = f.Put(session, "bytes 3-5/6", "new");
    REQUIRE(last);
    CHECK(last->status == 412);
    CHECK(f.Put(session, "bytes */*", "")->status == 412);
    CHECK(f.Media(bucket, "race") == "winner");
  }
  CHECK(CountStaging(f.root / "dir") == 0);
}

TEST_CASE("resumable: cancel answers 499 and leaves nothing", "[fake_gcs][resumable]") {
  Fixture f;
  const std::string session = f.Start("dir", "name=cancelled");
  Check308(f.Put(session, "bytes 0-9/*", "0123456789"), 10);
  CHECK(CountStaging(f.root / "dir") == 1);
  auto cancel = f.client->Delete(session);
  REQUIRE(cancel);
  CHECK(cancel->status == 499);
  CHECK(CountStaging(f.root / "dir") == 0);
  CHECK(f.Put(session, "bytes */*", "")->status == 404);
  CHECK(f.client->Delete(session)->status == 404);
  CHECK(f.Media("dir", "cancelled") == "<404>");
  CHECK(f.server->upload_sessions().size() == 0);
}

TEST_CASE("resumable: abandoned sessions expire with their files", "[fake_gcs][resumable]") {
  ServerOptions options;
  options.upload_session_idle_timeout = std::chrono::milliseconds(150);
  Fixture f(options);
  const std::string a = f.Start("dir", "name=a");
  Check308(f.Put(a, "bytes 0-2/*", "abc"), 3);
  CHECK(CountStaging(f.root / "dir") == 1);
  // Nobody touches it: the server's own sweep drops it (well within a few timeouts).
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (f.server->upload_sessions().size() > 0 && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  CHECK(f.server->upload_sessions().size() == 0);
  CHECK(CountStaging(f.root / "dir") == 0);
  CHECK(f.Put(a, "bytes 3-5/6", "def")->status == 404);
  CHECK(f.Media("dir", "a") == "<404>");
}

TEST_CASE("resumable: past the session count the least recently used one goes, with its file",
          "[fake_gcs][resumable]") {
  ServerOptions options;
  options.max_upload_sessions = 2;
  Fixture f(options);
  const std::string s1 = f.Start("dir", "name=s1");
  const std::string s2 = f.Start("dir", "name=s2");
  Check308(f.Put(s1, "bytes 0-0/*", "x"), 1);  // s1 used after s2
  CHECK(CountStaging(f.root / "dir") == 2);
  f.Start("dir", "name=s3");
  CHECK(f.server->upload_sessions().size() == 2);
  CHECK(f.Put(s2, "bytes */*", "")->status == 404);
  Check308(f.Put(s1, "bytes */*", ""), 1);
  CHECK(CountStaging(f.root / "dir") == 2);
}

}  // namespace
}  // namespace pflab::fake_gcs
