// objects.patch, objects.rewrite and objects.copy over HTTP: metadata changes and their metageneration
// and preconditions, rewrites in several calls with a token (maxBytesRewrittenPerCall), copies into
// memory and into folders with every byte compared to the source.
#include <httplib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "engine/synthetic_content.h"
#include "fake_gcs/server.h"
#include "tests/support/files.h"

namespace pflab::fake_gcs {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::string SyntheticBytes(const std::string& bucket, const std::string& name, std::uint64_t size) {
  std::string out(size, '\0');
  FillSynthetic(ObjectSeed(bucket, name, 1), 0, reinterpret_cast<std::byte*>(out.data()), size);
  return out;
}

struct Fixture {
  fs::path root = fs::temp_directory_path() / ("pflab-objops-" + std::to_string(::getpid()));
  FakeGcsServer server;
  std::unique_ptr<httplib::Client> client;

  Fixture() {
    fs::remove_all(root);
    fs::create_directories(root / "dir");
    std::ofstream(root / "dir" / "file.txt") << "file content";
    REQUIRE(server.store().SetRoot(root.string()).ok());
    REQUIRE(server.store().PutMemory("mem", "obj", "memory content", "text/plain").ok());
    REQUIRE(server.store().PutSynthetic("syn", "five", 5 << 20).ok());
    REQUIRE(server.Start().ok());
    client = std::make_unique<httplib::Client>("127.0.0.1", server.port());
    client->set_url_encode(false);
    client->set_read_timeout(10, 0);
  }
  ~Fixture() {
    server.Stop();
    fs::remove_all(root);
  }
  httplib::Result Patch(const std::string& path, const std::string& body) {
    return client->Patch(path, body, "application/json");
  }
  json Ok(const httplib::Result& r) {
    REQUIRE(r);
    INFO(r->body);
    REQUIRE(r->status == 200);
    return json::parse(r->body);
  }
  std::string Media(const std::string& bucket, const std::string& name) {
    auto r = client->Get("/storage/v1/b/" + bucket + "/o/" + name + "?alt=media");
    REQUIRE(r);
    return r->status == 200 ? r->body : "<" + std::to_string(r->status) + ">";
  }
};

TEST_CASE("patch: metadata changes, metageneration goes up, preconditions hold", "[fake_gcs][object_ops]") {
  Fixture f;
  for (const std::string path : {"/storage/v1/b/mem/o/obj", "/storage/v1/b/dir/o/file.txt"}) {
    INFO(path);
    const json before = f.Ok(f.client->Get(path));
    CHECK(before["metageneration"] == "1");
    const json patched = f.Ok(f.Patch(path, R"({"contentType": "application/x-patched", "cacheControl": "no-store",
        "metadata": {"a": "1", "b": "2"}, "name": "ignored, read-only"})"));
    CHECK(patched["metageneration"] == "2");
    CHECK(patched["generation"] == before["generation"]);  // same bytes, same generation
    CHECK(patched["contentType"] == "application/x-patched");
    CHECK(patched["cacheControl"] == "no-store");
    CHECK(patched["metadata"] == json({{"a", "1"}, {"b", "2"}}));
    CHECK(patched["etag"] != before["etag"]);
    // Read back, and on the media response.
    const json back = f.Ok(f.client->Get(path));
    CHECK(back["metadata"]["b"] == "2");
    auto media = f.client->Get(path + "?alt=media");
    CHECK(media->get_header_value("Content-Type") == "application/x-patched");
    CHECK(media->get_header_value("Cache-Control") == "no-store");
    CHECK(media->get_header_value("x-goog-metageneration") == "2");
    // A null removes a key; preconditions on the metageneration and generation.
    CHECK(f.Patch(path + "?ifMetagenerationMatch=1", R"({"metadata": {"a": null}})")->status == 412);
    const json removed =
        f.Ok(f.Patch(path + "?ifMetagenerationMatch=2&ifGenerationMatch=" + before["generation"].get<std::string>(),
                     R"({"metadata": {"a": null}})"));
    CHECK(removed["metadata"] == json({{"b", "2"}}));
    CHECK(removed["metageneration"] == "3");
    CHECK(f.Patch(path + "?ifGenerationNotMatch=" + before["generation"].get<std::string>(), "{}")->status == 412);
    CHECK(f.Patch(path + "?generation=12345", "{}")->status == 404);
    CHECK(f.Patch(path, R"({"metadata": {"a": 5}})")->status == 400);
    CHECK(f.Patch(path, "not json")->status == 400);
  }
  CHECK(f.Patch("/storage/v1/b/mem/o/missing", "{}")->status == 404);
  // A new version of a file starts again from its own metadata.
  REQUIRE(f.client->Post("/upload/storage/v1/b/dir/o?uploadType=media&name=file.txt", "new", "text/x-new")->status ==
          200);
  const json fresh = f.Ok(f.client->Get("/storage/v1/b/dir/o/file.txt"));
  CHECK(fresh["metageneration"] == "1");
  CHECK(fresh["contentType"] == "text/x-new");
  CHECK_FALSE(fresh.contains("metadata"));
}

TEST_CASE("rewrite: several calls with a token, then the copy; copyTo in one call", "[fake_gcs][object_ops]") {
  Fixture f;
  const std::string five = SyntheticBytes("syn", "five", 5 << 20);
  // 1 MiB per call: 1, 2, 3, 4 MiB with a token, then done with the resource.
  const std::string base = "/storage/v1/b/syn/o/five/rewriteTo/b/dir/o/copies%2Ffive?maxBytesRewrittenPerCall=1048576";
  std::string token;
  int calls = 0;
  json last;
  for (;;) {
    last =
        f.Ok(f.client->Post(base + (token.empty() ? "" : "&rewriteToken=" + httplib::detail::encode_query_param(token)),
                            "", "application/json"));
    ++calls;
    CHECK(last["kind"] == "storage#rewriteResponse");
    CHECK(last["objectSize"] == std::to_string(5 << 20));
    if (last["done"] == true) break;
    CHECK(last["totalBytesRewritten"] == std::to_string(calls << 20));
    CHECK(f.Media("dir", "copies%2Ffive") == "<404>");  // nothing at the destination before the end
    token = last["rewriteToken"];
    REQUIRE(calls < 10);
  }
  CHECK(calls == 5);
  CHECK(last["totalBytesRewritten"] == std::to_string(5 << 20));
  CHECK(last["resource"]["name"] == "copies/five");
  CHECK(testing::Slurp(f.root / "dir" / "copies" / "five") == five);
  CHECK(f.Media("dir", "copies%2Ffive") == five);
  // A token is for its own rewrite only; maxBytesRewrittenPerCall is a multiple of 1 MiB.
  auto first = f.Ok(f.client->Post(base, "", "application/json"));
  auto other =
      f.client->Post("/storage/v1/b/syn/o/five/rewriteTo/b/mem/o/x?maxBytesRewrittenPerCall=1048576&rewriteToken=" +
                         httplib::detail::encode_query_param(first["rewriteToken"].get<std::string>()),
                     "", "application/json");
  CHECK(other->status == 400);
  CHECK(f.client
            ->Post("/storage/v1/b/syn/o/five/rewriteTo/b/mem/o/x?maxBytesRewrittenPerCall=1000", "", "application/json")
            ->status == 400);
  // The source changes between calls: the rewrite was pinned to the old generation, which is gone.
  REQUIRE(f.server.store().PutMemory("syn", "five", "replaced").ok());
  auto stale = f.client->Post(
      base + "&rewriteToken=" + httplib::detail::encode_query_param(first["rewriteToken"].get<std::string>()), "",
      "application/json");
  CHECK(stale->status == 404);

  // Small objects in one call; a body's metadata goes over the source's; destination preconditions.
  const json one =
      f.Ok(f.client->Post("/storage/v1/b/mem/o/obj/rewriteTo/b/mem/o/copy1",
                          R"({"contentType": "text/x-copied", "metadata": {"m": "1"}})", "application/json"));
  CHECK(one["done"] == true);
  CHECK(one["resource"]["contentType"] == "text/x-copied");
  CHECK(one["resource"]["metadata"]["m"] == "1");
  CHECK(f.Media("mem", "copy1") == "memory content");
  CHECK(f.client->Post("/storage/v1/b/mem/o/obj/rewriteTo/b/mem/o/copy1?ifGenerationMatch=0", "", "application/json")
            ->status == 412);
  CHECK(f.client
            ->Post("/storage/v1/b/mem/o/obj/rewriteTo/b/mem/o/copy2?ifSourceGenerationMatch=1", "", "application/json")
            ->status == 412);
  CHECK(f.client->Post("/storage/v1/b/mem/o/missing/rewriteTo/b/mem/o/copy2", "", "application/json")->status == 404);
  CHECK(f.client->Post("/storage/v1/b/mem/o/obj/rewriteTo/b/nobucket/o/copy2", "", "application/json")->status == 404);

  // copyTo: a file into memory, memory into a folder, each in one call returning the object.
  const json c1 = f.Ok(f.client->Post("/storage/v1/b/dir/o/file.txt/copyTo/b/mem/o/from-file", "", "application/json"));
  CHECK(c1["kind"] == "storage#object");
  CHECK(c1["size"] == "12");
  CHECK(f.Media("mem", "from-file") == "file content");
  f.Ok(f.client->Post("/storage/v1/b/mem/o/obj/copyTo/b/dir/o/sub%2Ffrom-mem", "", "application/json"));
  CHECK(testing::Slurp(f.root / "dir" / "sub" / "from-mem") == "memory content");
}

TEST_CASE("rewrite of a large object takes several calls by default; a synthetic copy costs nothing",
          "[fake_gcs][object_ops]") {
  Fixture f;
  REQUIRE(f.server.store().PutSynthetic("syn", "huge", 1ull << 40).ok());
  const std::string path = "/storage/v1/b/syn/o/huge/rewriteTo/b/syn/o/huge-copy";
  const json first = f.Ok(f.client->Post(path, "", "application/json"));
  CHECK(first["done"] == false);
  CHECK(first["totalBytesRewritten"] == std::to_string(256ull << 20));  // ServerOptions::rewrite_bytes_per_call
  // Into memory the copy shares the source's content function, so the last call is instant too.
  REQUIRE(f.server.store().PutSynthetic("syn", "small", 300ull << 20).ok());
  const json a = f.Ok(f.client->Post("/storage/v1/b/syn/o/small/rewriteTo/b/syn/o/small-copy", "", "application/json"));
  REQUIRE(a["done"] == false);
  const json b = f.Ok(f.client->Post("/storage/v1/b/syn/o/small/rewriteTo/b/syn/o/small-copy?rewriteToken=" +
                                         httplib::detail::encode_query_param(a["rewriteToken"].get<std::string>()),
                                     "", "application/json"));
  CHECK(b["done"] == true);
  auto tail = f.client->Get("/storage/v1/b/syn/o/small-copy?alt=media", {{"Range", "bytes=-4096"}});
  REQUIRE(tail);
  std::string expected(4096, '\0');
  FillSynthetic(ObjectSeed("syn", "small", 1), (300ull << 20) - 4096, reinterpret_cast<std::byte*>(expected.data()),
                4096);
  CHECK(tail->body == expected);
}

TEST_CASE("patch, rewrite and copy take retry test faults under their own methods", "[fake_gcs][object_ops][faults]") {
  Fixture f;
  auto created = f.client->Post("/retry_test",
                                R"({"instructions": {"storage.objects.patch": ["return-503"],
                                    "storage.objects.rewrite": ["return-429"], "storage.objects.copy": ["return-500"]}})",
                                "application/json");
  REQUIRE(created);
  REQUIRE(created->status == 200);
  const httplib::Headers test{{"x-retry-test-id", json::parse(created->body)["id"].get<std::string>()}};
  CHECK(f.client->Patch("/storage/v1/b/mem/o/obj", test, "{}", "application/json")->status == 503);
  CHECK(f.client->Post("/storage/v1/b/mem/o/obj/rewriteTo/b/mem/o/c", test, "", "application/json")->status == 429);
  CHECK(f.client->Post("/storage/v1/b/mem/o/obj/copyTo/b/mem/o/c", test, "", "application/json")->status == 500);
  // Each fired once: the same requests now succeed.
  CHECK(f.client->Patch("/storage/v1/b/mem/o/obj", test, "{}", "application/json")->status == 200);
  CHECK(f.client->Post("/storage/v1/b/mem/o/obj/copyTo/b/mem/o/c", test, "", "application/json")->status == 200);
}

}  // namespace
}  // namespace pflab::fake_gcs
