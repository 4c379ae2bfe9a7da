// The official Node.js GCS client (@google-cloud/storage, pinned by tests/fake_gcs/node_client's
// package-lock.json and installed there by scripts/setup.sh) against the fake server, through its own
// default code paths: a resumable upload in several chunks, a download the client checks against the
// object's hashes, a copy (objects.rewrite), a metadata patch read back, and a resumable upload cut by
// a Retry Test API fault that the client retries and resumes. Every byte is compared with the file sent.
// The test is skipped, saying why, only when node or the installed client is absent.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "fake_gcs/server.h"
#include "tests/support/files.h"

namespace pflab::fake_gcs {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

const fs::path kClientDir = fs::path(PFLAB_SOURCE_DIR) / "tests" / "fake_gcs" / "node_client";

struct Ran {
  int status;
  std::string out;
};

// Runs the client script; stdout is its answer, stderr goes to the test log when it fails.
Ran Node(const std::string& args, const fs::path& err) {
  const std::string command =
      "node '" + (kClientDir / "client.js").string() + "' " + args + " 2>'" + err.string() + "'";
  FILE* pipe = ::popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  std::string out;
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  if (status != 0) {
    std::ifstream in(err);
    UNSCOPED_INFO("node " << args << " failed: " << std::string(std::istreambuf_iterator<char>(in), {}));
  }
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string WriteRandom(const fs::path& path, std::size_t n, std::uint64_t seed) {
  std::string data(n, '\0');
  testing::FillRandom(data, seed);
  std::ofstream(path, std::ios::binary) << data;
  return data;
}

std::string ObjectBytes(ObjectStore& store, const std::string& bucket, const std::string& name) {
  auto object = store.Get(bucket, name);
  REQUIRE(object);
  std::string out((*object)->size, '\0');
  REQUIRE(store.Read(**object, 0, out.data(), out.size()).ok());
  return out;
}

std::size_t Count(const std::vector<RequestRecord>& log, const std::function<bool(const RequestRecord&)>& pred) {
  return static_cast<std::size_t>(std::count_if(log.begin(), log.end(), pred));
}

TEST_CASE("real clients: the official Node.js client uploads resumably, downloads, copies, patches and retries",
          "[fake_gcs][real_clients][node_client]") {
  if (std::system("command -v node >/dev/null 2>&1") != 0) {
    WARN("node is not installed (scripts/setup.sh needs it): skipped");
    return;
  }
  if (!fs::exists(kClientDir / "node_modules" / "@google-cloud" / "storage" / "package.json")) {
    WARN("@google-cloud/storage is not installed in " << kClientDir << " (scripts/setup.sh runs npm ci): skipped");
    return;
  }
  const fs::path tmp = fs::temp_directory_path() / ("pflab-node-" + std::to_string(::getpid()));
  fs::remove_all(tmp);
  fs::create_directories(tmp / "root" / "bk");
  const fs::path err = tmp / "node.err";
  ServerOptions options;
  options.keep_request_log = true;
  FakeGcsServer server(options);
  REQUIRE(server.store().SetRoot((tmp / "root").string()).ok());
  server.store().CreateBucket("mem");
  REQUIRE(server.Start().ok());
  const std::string url = server.endpoint();

  SECTION("upload in chunks, download, copy, patch") {
    const std::string payload = WriteRandom(tmp / "payload.bin", 5 * 1024 * 1024 + 12345, 11);
    auto up = Node(url + " upload bk dir/big.bin '" + (tmp / "payload.bin").string() + "' 1048576", err);
    REQUIRE(up.status == 0);
    const json uploaded = json::parse(up.out);
    CHECK(uploaded["name"] == "dir/big.bin");
    CHECK(uploaded["size"] == std::to_string(payload.size()));
    CHECK(uploaded["contentType"] == "application/x-pflab-test");
    CHECK(uploaded["metadata"]["origin"] == "node-client");
    CHECK(testing::Slurp(tmp / "root" / "bk" / "dir" / "big.bin") == payload);
    // It went the resumable way: one session, six chunks of at most 1 MiB.
    const auto log = server.request_log();
    CHECK(Count(log, [](const RequestRecord& r) {
            return r.method == "POST" && r.target.find("uploadType=resumable") != std::string::npos &&
                   r.target.find("upload_id") == std::string::npos && r.status == 200;
          }) == 1);
    CHECK(Count(log, [](const RequestRecord& r) {
            return r.method == "PUT" && r.target.find("upload_id=") != std::string::npos;
          }) == 6);

    auto down = Node(url + " download bk dir/big.bin '" + (tmp / "back.bin").string() + "'", err);
    REQUIRE(down.status == 0);
    CHECK(testing::Slurp(tmp / "back.bin") == payload);

    auto copy = Node(url + " copy bk dir/big.bin mem copied.bin", err);
    REQUIRE(copy.status == 0);
    CHECK(json::parse(copy.out)["size"] == std::to_string(payload.size()));
    CHECK(ObjectBytes(server.store(), "mem", "copied.bin") == payload);
    const auto after_copy = server.request_log();
    CHECK(Count(after_copy, [](const RequestRecord& r) {
            return r.target.find("/rewriteTo/b/mem/o/copied.bin") != std::string::npos && r.status == 200;
          }) >= 1);

    auto patch = Node(url + " patch bk dir/big.bin '{\"contentType\": \"text/x-patched\", \"cacheControl\": " +
                          "\"no-cache\", \"metadata\": {\"k\": \"v\"}}'",
                      err);
    REQUIRE(patch.status == 0);
    const json patched = json::parse(patch.out);
    CHECK(patched["contentType"] == "text/x-patched");
    CHECK(patched["cacheControl"] == "no-cache");
    CHECK(patched["metadata"]["k"] == "v");
    CHECK(patched["metadata"]["origin"] == "node-client");  // a patch merges the metadata map
    CHECK(patched["metageneration"] == "2");
    auto stored = server.store().Get("bk", "dir/big.bin");
    REQUIRE(stored);
    CHECK((*stored)->attributes.content_type == "text/x-patched");
    CHECK((*stored)->metageneration == 2);
  }

  SECTION("a resumable upload cut by a fault is retried and resumed by the client") {
    const std::string payload = WriteRandom(tmp / "cut.bin", 3 * 1024 * 1024 + 7, 12);
    // The second chunk (bytes 1 MiB to 2 MiB) is cut at 1.5 MiB: the server keeps 1.5 MiB and answers
    // 503; the client asks where the upload stands and sends the rest.
    auto created =
        server.retry_tests().Create({{"instructions", {{"storage.objects.insert", {"return-503-after-1536K"}}}}});
    REQUIRE(created);
    const std::string id = (*created)["id"];
    auto up = Node(url + " upload bk cut.bin '" + (tmp / "cut.bin").string() + "' 1048576 " + id, err);
    REQUIRE(up.status == 0);
    CHECK(json::parse(up.out)["size"] == std::to_string(payload.size()));
    CHECK(testing::Slurp(tmp / "root" / "bk" / "cut.bin") == payload);
    CHECK((*server.retry_tests().Get(id))["completed"] == true);
    const auto log = server.request_log();
    CHECK(Count(log, [](const RequestRecord& r) { return r.fault == "return-503-after-1536K" && r.status == 503; }) ==
          1);
    // Nothing left behind: no staging file, and the session is finished.
    for (const auto& e : fs::directory_iterator(tmp / "root" / "bk")) {
      CHECK(e.path().filename().string().rfind(".pflab-upload-", 0) != 0);
    }
  }
  server.Stop();
  fs::remove_all(tmp);
}

}  // namespace
}  // namespace pflab::fake_gcs
