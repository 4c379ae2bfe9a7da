// The directory-backed store never reads, writes, lists or removes anything outside its root through a
// symbolic link: a link to a file, to a folder, a bucket that is a link to `/`, a chain of links, `..`
// segments, uploads and deletes through links, listings that would descend through one. Every link is
// refused, even one that stays inside the root (the documented choice: no link is ever followed).
#include <httplib.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "fake_gcs/server.h"
#include "tests/support/files.h"

namespace pflab::fake_gcs {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

std::vector<std::string> StagingFiles(const fs::path& folder) {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(folder)) {
    if (e.path().filename().string().rfind(".pflab-upload-", 0) == 0) out.push_back(e.path().filename().string());
  }
  return out;
}

// A root with one bucket `bk` holding real files and every kind of link, beside an `outside` folder
// whose bytes must never come back, and a bucket `evil` that is a link to `/`.
struct LinkedRoot {
  fs::path base = fs::temp_directory_path() / ("pflab-confine-" + std::to_string(::getpid()));
  fs::path root = base / "root";
  fs::path outside = base / "outside";
  FakeGcsServer server;
  std::unique_ptr<httplib::Client> client;

  LinkedRoot() {
    fs::remove_all(base);
    fs::create_directories(root / "bk" / "sub");
    fs::create_directories(outside / "dir");
    std::ofstream(root / "bk" / "real.txt") << "inside";
    std::ofstream(root / "bk" / "sub" / "a.txt") << "inside too";
    std::ofstream(outside / "secret.txt") << "OUTSIDE SECRET";
    std::ofstream(outside / "dir" / "s2.txt") << "OUTSIDE SECRET 2";
    fs::create_symlink(outside / "secret.txt", root / "bk" / "filelink");
    fs::create_directory_symlink(outside / "dir", root / "bk" / "dirlink");
    fs::create_directory_symlink("/", root / "evil");
    fs::create_symlink(root / "bk" / "chain2", root / "bk" / "chain1");
    fs::create_symlink(outside / "secret.txt", root / "bk" / "chain2");
    fs::create_symlink("real.txt", root / "bk" / "inlink");  // stays inside: still not followed
    fs::create_directory_symlink("sub", root / "bk" / "insub");
    REQUIRE(server.store().SetRoot(root.string()).ok());
    REQUIRE(server.Start().ok());
    client = std::make_unique<httplib::Client>("127.0.0.1", server.port());
    client->set_url_encode(false);
    client->set_read_timeout(10, 0);
  }
  ~LinkedRoot() {
    server.Stop();
    fs::remove_all(base);
  }
  // The outside world is as it was.
  void CheckOutsideUntouched() {
    CHECK(testing::Slurp(outside / "secret.txt") == "OUTSIDE SECRET");
    CHECK(testing::Slurp(outside / "dir" / "s2.txt") == "OUTSIDE SECRET 2");
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(outside / "dir")) names.push_back(e.path().filename().string());
    CHECK(names == std::vector<std::string>{"s2.txt"});
    CHECK(fs::is_symlink(root / "bk" / "filelink"));
    CHECK(fs::is_symlink(root / "bk" / "dirlink"));
  }
};

void CheckNotServed(const httplib::Result& r, int status = 404) {
  REQUIRE(r);
  CHECK(r->status == status);
  CHECK(r->body.find("OUTSIDE") == std::string::npos);
  CHECK(r->body.find("root:") == std::string::npos);  // /etc/passwd
}

TEST_CASE("confinement: reads through a file link, a folder link, a link chain or `..` are refused",
          "[fake_gcs][confinement]") {
  LinkedRoot f;
  // The real files are served.
  CHECK(f.client->Get("/storage/v1/b/bk/o/real.txt?alt=media")->body == "inside");
  CHECK(f.client->Get("/bk/sub/a.txt")->body == "inside too");
  for (const char* path : {"/storage/v1/b/bk/o/filelink?alt=media", "/storage/v1/b/bk/o/filelink", "/bk/filelink",
                           "/download/storage/v1/b/bk/o/filelink?alt=media", "/storage/v1/b/bk/o/dirlink%2Fs2.txt",
                           "/storage/v1/b/bk/o/dirlink%2Fs2.txt?alt=media", "/bk/dirlink/s2.txt",
                           "/storage/v1/b/bk/o/chain1?alt=media", "/storage/v1/b/bk/o/chain2?alt=media",
                           "/storage/v1/b/bk/o/inlink?alt=media", "/storage/v1/b/bk/o/insub%2Fa.txt?alt=media"}) {
    INFO(path);
    CheckNotServed(f.client->Get(path));
  }
  // The 404 says why.
  auto why = f.client->Get("/storage/v1/b/bk/o/dirlink%2Fs2.txt");
  CHECK(json::parse(why->body)["error"]["message"].get<std::string>().find("'dirlink' is a symbolic link") !=
        std::string::npos);
  // `..` never reaches the file system.
  for (const char* path :
       {"/storage/v1/b/bk/o/..%2F..%2Foutside%2Fsecret.txt?alt=media", "/bk/../../outside/secret.txt",
        "/storage/v1/b/bk/o/sub%2F..%2F..%2F..%2Foutside%2Fsecret.txt?alt=media"}) {
    INFO(path);
    CheckNotServed(f.client->Get(path), 400);
  }
}

TEST_CASE("confinement: a bucket that is a link to / is no bucket", "[fake_gcs][confinement]") {
  LinkedRoot f;
  CheckNotServed(f.client->Get("/storage/v1/b/evil"));
  CheckNotServed(f.client->Get("/storage/v1/b/evil/o/etc%2Fpasswd?alt=media"));
  CheckNotServed(f.client->Get("/evil/etc/passwd"));
  CheckNotServed(f.client->Get("/storage/v1/b/evil/o"));
  std::vector<std::string> buckets;
  const json listed = json::parse(f.client->Get("/storage/v1/b")->body);
  for (const auto& b : listed["items"]) buckets.push_back(b["name"]);
  CHECK(buckets == std::vector<std::string>{"bk"});
  // Creating it, or uploading into it, does not go through the link either.
  auto insert = f.client->Post("/storage/v1/b", R"({"name": "evil"})", "application/json");
  REQUIRE(insert);
  CHECK(insert->status == 409);
  auto up = f.client->Post("/upload/storage/v1/b/evil/o?uploadType=media&name=tmp%2Fpflab-evil", "x", "text/plain");
  CheckNotServed(up);
  CHECK_FALSE(fs::exists("/tmp/pflab-evil"));
  auto start = f.client->Post("/upload/storage/v1/b/evil/o?uploadType=resumable&name=tmp%2Fpflab-evil", "", "");
  CheckNotServed(start);
  CHECK(f.client->Delete("/storage/v1/b/evil/o/tmp%2Fpflab-evil")->status == 404);
  // A new bucket is a real folder in the root.
  auto created = f.client->Post("/storage/v1/b", R"({"name": "fresh"})", "application/json");
  REQUIRE(created);
  CHECK(created->status == 200);
  CHECK(fs::is_directory(f.root / "fresh"));
  CHECK_FALSE(fs::is_symlink(f.root / "fresh"));
}

TEST_CASE("confinement: uploads and deletes through links touch nothing outside", "[fake_gcs][confinement]") {
  LinkedRoot f;
  // Single-request uploads: into a linked folder, over a file link, over a chain.
  for (const char* name : {"dirlink%2Fnew.txt", "dirlink%2Fs2.txt", "filelink", "chain1", "insub%2Fb.txt"}) {
    INFO(name);
    CheckNotServed(
        f.client->Post(std::string("/upload/storage/v1/b/bk/o?uploadType=media&name=") + name, "PWNED", "text/plain"));
  }
  // A resumable upload through a linked folder: its bytes are staged in the bucket, and the commit
  // refuses the link; the staging file goes.
  auto start = f.client->Post("/upload/storage/v1/b/bk/o?uploadType=resumable&name=dirlink%2Fresumed.txt", "", "");
  REQUIRE(start);
  REQUIRE(start->status == 200);
  const std::string location = start->get_header_value("Location");
  const std::string session = location.substr(location.find("/upload/"));
  auto put = f.client->Put(session, {{"Content-Range", "bytes 0-4/5"}}, "PWNED", "application/octet-stream");
  CheckNotServed(put);
  CHECK(StagingFiles(f.root / "bk").empty());
  // Deletes: a file link, a file behind a folder link, a chain. The links and their targets stay.
  for (const char* name : {"filelink", "dirlink%2Fs2.txt", "chain1", "inlink"}) {
    INFO(name);
    CheckNotServed(f.client->Delete(std::string("/storage/v1/b/bk/o/") + name));
  }
  CHECK(fs::is_symlink(f.root / "bk" / "chain1"));
  CHECK(fs::is_symlink(f.root / "bk" / "inlink"));
  CHECK(testing::Slurp(f.root / "bk" / "real.txt") == "inside");
  f.CheckOutsideUntouched();
  // Writes that stay inside still work, and create real folders.
  auto ok = f.client->Post("/upload/storage/v1/b/bk/o?uploadType=media&name=sub%2Fnew%2Fc.txt", "fine", "text/plain");
  REQUIRE(ok);
  CHECK(ok->status == 200);
  CHECK(testing::Slurp(f.root / "bk" / "sub" / "new" / "c.txt") == "fine");
  CHECK(f.client->Delete("/storage/v1/b/bk/o/sub%2Fnew%2Fc.txt")->status == 204);
  CHECK_FALSE(fs::exists(f.root / "bk" / "sub" / "new" / "c.txt"));
}

TEST_CASE("confinement: listings never descend through a link or show one", "[fake_gcs][confinement]") {
  LinkedRoot f;
  auto names = [&](const std::string& query) {
    std::vector<std::string> out;
    const json page = json::parse(f.client->Get("/storage/v1/b/bk/o" + query)->body);
    for (const auto& i : page.value("items", json::array())) out.push_back(i["name"]);
    for (const auto& p : page.value("prefixes", json::array())) out.push_back(p);
    return out;
  };
  CHECK(names("") == std::vector<std::string>{"real.txt", "sub/a.txt"});
  CHECK(names("?prefix=dirlink/").empty());
  CHECK(names("?prefix=insub").empty());
  CHECK(names("?delimiter=/") == std::vector<std::string>{"real.txt", "sub/"});
  // A FIFO is not an object, and asking for it does not hang the server.
  REQUIRE(::mkfifo((f.root / "bk" / "fifo").c_str(), 0644) == 0);
  CheckNotServed(f.client->Get("/storage/v1/b/bk/o/fifo?alt=media"));
  CHECK(names("") == std::vector<std::string>{"real.txt", "sub/a.txt"});
}

TEST_CASE("confinement: what is read is the file that was resolved, never a link swapped in later",
          "[fake_gcs][confinement]") {
  LinkedRoot f;
  ObjectStore& store = f.server.store();
  // An object from Get reads through the descriptor opened when it was resolved: replacing the file
  // by a link afterwards changes nothing it serves.
  auto got = store.Get("bk", "real.txt");
  REQUIRE(got);
  fs::rename(f.root / "bk" / "real.txt", f.root / "bk" / "moved.txt");
  fs::create_symlink(f.outside / "secret.txt", f.root / "bk" / "real.txt");
  std::string bytes(6, '\0');
  REQUIRE(store.Read(**got, 0, bytes.data(), 6).ok());
  CHECK(bytes == "inside");
  // A listed object carries no descriptor: when it is read, the path is resolved again without links,
  // and it must still be the file that was listed.
  auto listed = store.List("bk", "sub/");
  REQUIRE(listed);
  REQUIRE(listed->size() == 1);
  fs::remove(f.root / "bk" / "sub" / "a.txt");
  fs::create_symlink(f.outside / "secret.txt", f.root / "bk" / "sub" / "a.txt");
  std::string buffer(10, '\0');
  auto read = store.Read(*(*listed)[0], 0, buffer.data(), 10);
  REQUIRE_FALSE(read.ok());
  CHECK(buffer.find("OUTSIDE") == std::string::npos);
  CHECK(store.Hashes(*(*listed)[0]).crc32c == std::nullopt);
  f.CheckOutsideUntouched();
}

TEST_CASE("confinement: staging files are hidden, and a dead server's leftovers are removed at start",
          "[fake_gcs][confinement]") {
  const fs::path root = fs::temp_directory_path() / ("pflab-staging-" + std::to_string(::getpid()));
  fs::remove_all(root);
  fs::create_directories(root / "bk");
  // pid 999999999 exceeds any pid_max: that server is gone. pid 1 always runs: its file stays.
  std::ofstream(root / "bk" / ".pflab-upload-999999999-dead") << "partial";
  std::ofstream(root / "bk" / ".pflab-upload-1-alive") << "partial";
  std::ofstream(root / "bk" / "obj") << "object";
  {
    FakeGcsServer server;
    REQUIRE(server.store().SetRoot(root.string()).ok());
    CHECK_FALSE(fs::exists(root / "bk" / ".pflab-upload-999999999-dead"));
    CHECK(fs::exists(root / "bk" / ".pflab-upload-1-alive"));
    REQUIRE(server.Start().ok());
    httplib::Client c("127.0.0.1", server.port());
    c.set_url_encode(false);
    const json list = json::parse(c.Get("/storage/v1/b/bk/o")->body);
    REQUIRE(list["items"].size() == 1);
    CHECK(list["items"][0]["name"] == "obj");
    CHECK(c.Get("/storage/v1/b/bk/o/.pflab-upload-1-alive?alt=media")->status == 404);
    CHECK(c.Post("/upload/storage/v1/b/bk/o?uploadType=media&name=.pflab-upload-1-x", "x", "text/plain")->status ==
          400);
  }
  fs::remove_all(root);
}

}  // namespace
}  // namespace pflab::fake_gcs
