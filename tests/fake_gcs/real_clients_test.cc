// The fake server with clients nobody here wrote: curl for ranges and uploads, rclone (its GCS backend,
// anonymous, pointed at our endpoint) to list, copy in (a large file through a resumable upload), read
// back and check objects. Bytes are compared with the synthetic content or the files copied in.
// `make test` installs both tools; the test is skipped, saying why, only when one is absent.
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>

#include "engine/synthetic_content.h"
#include "fake_gcs/server.h"
#include "tests/support/files.h"

namespace pflab::fake_gcs {
namespace {

namespace fs = std::filesystem;

bool HaveTool(const std::string& tool) {
  return std::system(("command -v " + tool + " >/dev/null 2>&1").c_str()) == 0;
}

// Runs a shell command, returning its exit status and stdout (stderr goes to the test log on failure).
struct Ran {
  int status;
  std::string out;
};
Ran Run(const std::string& command) {
  std::string out;
  // Per process (CTest runs test cases in parallel processes), and removed below.
  const std::string err_path = "/tmp/pflab-real-clients-" + std::to_string(::getpid()) + ".err";
  FILE* pipe = ::popen((command + " 2>" + err_path).c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buf[65536];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, pipe)) > 0) out.append(buf, n);
  const int status = ::pclose(pipe);
  if (status != 0) {
    std::ifstream err(err_path);
    std::string text((std::istreambuf_iterator<char>(err)), std::istreambuf_iterator<char>());
    UNSCOPED_INFO(command << " failed: " << text);
  }
  std::remove(err_path.c_str());
  return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

std::string Synthetic(const std::string& bucket, const std::string& name, std::uint64_t offset, std::uint64_t n) {
  std::string out(n, '\0');
  FillSynthetic(ObjectSeed(bucket, name, 1), offset, reinterpret_cast<std::byte*>(out.data()), n);
  return out;
}

struct TempDir {
  fs::path path;
  TempDir() : path(fs::temp_directory_path() / ("pflab-clients-" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
};

TEST_CASE("real clients: curl reads ranges and uploads", "[fake_gcs][real_clients]") {
  if (!HaveTool("curl")) {
    WARN("curl is not installed (scripts/setup.sh installs it): skipped");
    return;
  }
  FakeGcsServer server;
  REQUIRE(server.store().PutSynthetic("data", "dir/obj.bin", 5 << 20).ok());
  server.store().CreateBucket("uploads");
  REQUIRE(server.Start().ok());
  const std::string url = server.endpoint();
  TempDir tmp;

  auto ranged =
      Run("curl -sf -H 'Range: bytes=1000000-1999999' '" + url + "/storage/v1/b/data/o/dir%2Fobj.bin?alt=media'");
  REQUIRE(ranged.status == 0);
  CHECK(ranged.out == Synthetic("data", "dir/obj.bin", 1000000, 1000000));
  auto suffix = Run("curl -sf -r -4096 '" + url + "/data/dir/obj.bin'");  // XML API, curl's own range syntax
  REQUIRE(suffix.status == 0);
  CHECK(suffix.out == Synthetic("data", "dir/obj.bin", (5 << 20) - 4096, 4096));
  auto whole = Run("curl -sf '" + url + "/download/storage/v1/b/data/o/dir%2Fobj.bin?alt=media'");
  CHECK(whole.out == Synthetic("data", "dir/obj.bin", 0, 5 << 20));
  auto code = Run("curl -s -o /dev/null -w '%{http_code}' -r 99999999- '" + url + "/data/dir/obj.bin'");
  CHECK(code.out == "416");

  // Upload 3 MB with curl (it sends Expect: 100-continue for a body this size), then read it back.
  std::string payload(3'000'000, '\0');
  std::mt19937_64 rng(5);
  for (auto& c : payload) c = static_cast<char>(rng());
  std::ofstream(tmp.path / "payload.bin", std::ios::binary) << payload;
  auto up = Run("curl -sf -X POST --data-binary @" + (tmp.path / "payload.bin").string() +
                " -H 'Content-Type: application/x-test' '" + url +
                "/upload/storage/v1/b/uploads/o?uploadType=media&name=in/a+b.bin'");
  REQUIRE(up.status == 0);
  CHECK(up.out.find("\"name\":\"in/a b.bin\"") != std::string::npos);  // '+' in a query is a space
  auto back = Run("curl -sf '" + url + "/storage/v1/b/uploads/o/in%2Fa%20b.bin?alt=media'");
  CHECK(back.out == payload);
}

TEST_CASE("real clients: rclone lists, copies in, reads back and checks", "[fake_gcs][real_clients]") {
  if (!HaveTool("rclone")) {
    WARN("rclone is not installed (scripts/setup.sh installs it): skipped");
    return;
  }
  TempDir tmp;
  fs::create_directories(tmp.path / "root" / "bk");
  fs::create_directories(tmp.path / "src" / "sub dir");
  std::string big(2'500'000, '\0');
  std::mt19937_64 rng(9);
  for (auto& c : big) c = static_cast<char>(rng());
  std::ofstream(tmp.path / "src" / "sub dir" / "big.bin", std::ios::binary) << big;
  std::ofstream(tmp.path / "src" / "small.txt") << "small file\n";
  // Over the 16 MiB chunk of rclone's GCS library, so it uploads this one resumably, in two chunks.
  std::string huge(20'000'000, '\0');
  testing::FillRandom(huge, 10);
  std::ofstream(tmp.path / "src" / "huge.bin", std::ios::binary) << huge;

  ServerOptions options;
  options.keep_request_log = true;
  FakeGcsServer server(options);
  REQUIRE(server.store().SetRoot((tmp.path / "root").string()).ok());
  REQUIRE(server.store().PutSynthetic("syn", "a/obj", 3 << 20).ok());
  REQUIRE(server.store().PutSynthetic("syn", "b", 1234).ok());
  REQUIRE(server.Start().ok());
  // An empty config file so rclone reads nothing of the user's; anonymous GCS at our endpoint.
  std::ofstream(tmp.path / "rclone.conf") << "";
  const std::string rclone = "RCLONE_CONFIG=" + (tmp.path / "rclone.conf").string() +
                             " rclone --retries 1 --low-level-retries 1 --gcs-anonymous --gcs-endpoint " +
                             server.endpoint() + "/storage/v1/ ";

  auto listing = Run(rclone + "lsf -R --format ps :gcs:syn | sort");
  REQUIRE(listing.status == 0);
  CHECK(listing.out == "a/;-1\na/obj;3145728\nb;1234\n");
  auto cat = Run(rclone + "cat --offset 1000 --count 100000 :gcs:syn/a/obj");
  REQUIRE(cat.status == 0);
  CHECK(cat.out == Synthetic("syn", "a/obj", 1000, 100000));

  REQUIRE(Run(rclone + "copy '" + (tmp.path / "src").string() + "' :gcs:bk/in").status == 0);
  // Copied in through the server's uploads, into the bucket's folder.
  CHECK(testing::Slurp(tmp.path / "root" / "bk" / "in" / "sub dir" / "big.bin") == big);
  CHECK(testing::Slurp(tmp.path / "root" / "bk" / "in" / "huge.bin") == huge);
  // huge.bin went the resumable way: a session, then chunks (rclone's library POSTs them and asks for
  // 200 instead of 308 with X-GUploader-No-308).
  const auto log = server.request_log();
  CHECK(std::count_if(log.begin(), log.end(), [](const RequestRecord& r) {
          return r.target.find("uploadType=resumable") != std::string::npos &&
                 r.target.find("huge.bin") != std::string::npos && r.target.find("upload_id=") == std::string::npos;
        }) == 1);
  CHECK(std::count_if(log.begin(), log.end(), [](const RequestRecord& r) {
          return r.target.find("huge.bin") != std::string::npos && r.target.find("upload_id=") != std::string::npos &&
                 r.status == 200;
        }) == 2);
  REQUIRE(Run(rclone + "copy :gcs:bk/in '" + (tmp.path / "back").string() + "'").status == 0);
  CHECK(testing::Slurp(tmp.path / "back" / "sub dir" / "big.bin") == big);
  CHECK(testing::Slurp(tmp.path / "back" / "small.txt") == "small file\n");
  CHECK(testing::Slurp(tmp.path / "back" / "huge.bin") == huge);
  // rclone check compares sizes and MD5s (ours, from the metadata) of every file.
  CHECK(Run(rclone + "check '" + (tmp.path / "src").string() + "' :gcs:bk/in").status == 0);
}

}  // namespace
}  // namespace pflab::fake_gcs
