// `compare --transport http` against live-GCS stand-ins: HTTPS with a test certificate (--ca-file), a
// service account's token from a fake token endpoint, objects mapped with --object or created in a
// writable bucket and deleted after, and no token ever in anything the command prints or writes.
#include <catch2/catch.hpp>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "fake_gcs/server.h"
#include "tests/support/auth_fakes.h"
#include "tests/support/cli_runner.h"
#include "traces/trace_io.h"

namespace {

namespace fs = std::filesystem;
using pflab::testing::FreshTempDir;
using pflab::testing::RunPflab;
using pflab::testing::Slurp;

constexpr char kEmail[] = "runner@pflab-test.iam.gserviceaccount.com";

// Nothing of the environment's own credentials reaches the command, and no metadata server is found.
std::string IsolatedEnv(const fs::path& dir) {
  return "PFLAB_GCS_TOKEN= GOOGLE_APPLICATION_CREDENTIALS= CLOUDSDK_CONFIG= HOME=" + (dir / "home").string() +
         " GCE_METADATA_HOST=127.0.0.1:1";
}

pflab::testing::CliOptions Isolated(const fs::path& dir, const std::string& extra = "") {
  pflab::testing::CliOptions options;
  options.env = IsolatedEnv(dir) + (extra.empty() ? "" : " " + extra);
  return options;
}

// Every file under `dir` (and the command's output) as one text, to search for secrets.
std::string EverythingWritten(const fs::path& dir) {
  std::string all;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) all += Slurp(entry.path()) + "\n";
  }
  return all;
}

TEST_CASE("cli live: a service account over HTTPS reads a mapped object; no token is printed or written",
          "[cli][live][auth]") {
  const fs::path dir = FreshTempDir("pflab_live_cli_sa");
  const fs::path out = dir / "out";
  fs::create_directories(out);
  fs::create_directories(dir / "pki");  // apart from `out`, which is searched for secrets
  const pflab::testing::TestPki pki(dir / "pki");
  pflab::testing::FakeTokenEndpoint tokens(pki, kEmail);
  const std::string key = pki.WriteServiceAccountKey(kEmail, tokens.uri());
  pflab::testing::HttpsObjectServer server(pki, {{"live-bucket/dataset/shard-0", {3 << 20, 1733300000123456}}},
                                           [&] { return tokens.issued(); });
  const std::string trace = (out / "seq.jsonl").string();
  REQUIRE(RunPflab("gen sequential --object-size 2MiB --read-size 128KiB --count 16 -o " + trace, out).exit_code == 0);
  const std::string json = (out / "r.json").string();
  const std::string args = "compare " + trace + " --policies fsspec-readahead --transport http --endpoint " +
                           server.url() + " --ca-file " + pki.server_cert +
                           " --object o0=gs://live-bucket/dataset/shard-0 --connections 2 --json " + json + " --md " +
                           (out / "r.md").string() + " --events " + (out / "events").string();
  auto run = RunPflab(args, out, Isolated(dir, "GOOGLE_APPLICATION_CREDENTIALS=" + key));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.err, Catch::Contains(std::string("auth: service account ") + kEmail + " (key " + key +
                                      " from $GOOGLE_APPLICATION_CREDENTIALS)"));
  CHECK_THAT(run.err, Catch::Contains("object o0 (sequential.bin) -> gs://live-bucket/dataset/shard-0 (generation "
                                      "1733300000123456, 3MiB; the trace reads its first 2MiB)"));
  const auto results = nlohmann::json::parse(Slurp(json));
  CHECK(results["config"]["live"]["auth"] == "service_account");
  CHECK(results["config"]["live"]["objects"]["o0 (sequential.bin)"]["url"] == "gs://live-bucket/dataset/shard-0");
  CHECK(results["config"]["live"]["objects"]["o0 (sequential.bin)"]["created"] == false);
  for (const auto& r : results["runs"]) {
    CHECK(r["metrics"]["reads"] == 16);
    CHECK(r["metrics"]["reads_failed"] == 0);
  }
  CHECK(server.unauthorized() == 0);
  CHECK(server.requests() > 16);  // the metadata GET and the reads of both runs
  // No token, assertion or key material in anything printed or written.
  const std::string written = EverythingWritten(out) + run.out + run.err;
  REQUIRE_FALSE(tokens.issued().empty());
  for (const auto& token : tokens.issued()) CHECK(written.find(token) == std::string::npos);
  CHECK(written.find(tokens.last_assertion()) == std::string::npos);
  CHECK(written.find("PRIVATE KEY") == std::string::npos);
  CHECK(written.find("ya29.") == std::string::npos);
  // The search can fail: the token is in what the token endpoint handed out.
  CHECK((*tokens.issued().begin()).find("ya29.") == 0);

  // Anonymous: the server refuses (401), the object's metadata cannot be read, nothing runs.
  auto anonymous = RunPflab(args + " --anonymous", out, Isolated(dir));
  CHECK(anonymous.exit_code == 1);
  CHECK_THAT(anonymous.err, Catch::Contains("auth: anonymous (--anonymous)"));
  CHECK_THAT(anonymous.err, Catch::Contains("--object o0: metadata of gs://live-bucket/dataset/shard-0: HTTP 401: "
                                            "Invalid Credentials (credentials: anonymous (--anonymous))"));
  // A key the token endpoint refuses: the grant's error, before anything runs, without the key.
  const std::string other =
      pki.WriteServiceAccountKey("intruder@elsewhere.iam.gserviceaccount.com", tokens.uri(), "other.json");
  auto refused = RunPflab(args + " --credentials " + other, out, Isolated(dir));
  CHECK(refused.exit_code == 1);
  CHECK_THAT(refused.err, Catch::Contains("credentials: service account intruder@elsewhere.iam.gserviceaccount.com"));
  CHECK_THAT(refused.err, Catch::Contains("answered HTTP 400: invalid_grant: bad JWT claims"));
  CHECK(refused.err.find("PRIVATE KEY") == std::string::npos);
  // Without --ca-file the test's certificate is not trusted, and the message says what to pass.
  auto untrusted = RunPflab(
      "compare " + trace + " --policies none --transport http --endpoint " + server.url() + " --credentials " + key,
      out, Isolated(dir));
  CHECK(untrusted.exit_code == 1);
  CHECK_THAT(untrusted.err, Catch::Contains("--ca-file"));
  fs::remove_all(dir);
}

TEST_CASE("cli live: on GCE the metadata server's token is used when nothing else is given", "[cli][live][auth]") {
  const fs::path dir = FreshTempDir("pflab_live_cli_gce");
  const fs::path out = dir / "out";
  fs::create_directories(out);
  fs::create_directories(dir / "pki");
  const pflab::testing::TestPki pki(dir / "pki");
  pflab::testing::FakeMetadataServer metadata;
  pflab::testing::HttpsObjectServer server(pki, {{"vm-bucket/obj", {1 << 20, 5}}}, [&] { return metadata.issued(); });
  const std::string trace = (out / "seq.jsonl").string();
  REQUIRE(RunPflab("gen sequential --object-size 1MiB --read-size 64KiB --count 8 -o " + trace, out).exit_code == 0);
  const std::string json = (out / "r.json").string();
  auto run =
      RunPflab("compare " + trace + " --policies none --transport http --endpoint " + server.url() + " --ca-file " +
                   pki.server_cert + " --object o0=gs://vm-bucket/obj --connections 2 --json " + json,
               out, Isolated(dir, "GCE_METADATA_HOST=" + metadata.host()));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.err, Catch::Contains("auth: the GCE metadata server at " + metadata.host()));
  CHECK(nlohmann::json::parse(Slurp(json))["config"]["live"]["auth"] == "metadata");
  CHECK(server.unauthorized() == 0);
  REQUIRE(metadata.grants() >= 1);
  const std::string written = EverythingWritten(out) + run.out + run.err;
  for (const auto& token : metadata.issued()) CHECK(written.find(token) == std::string::npos);
  fs::remove_all(dir);
}

TEST_CASE("cli live: --create-objects makes synthetic objects, checks every byte, and deletes them after",
          "[cli][live]") {
  const fs::path dir = FreshTempDir("pflab_live_cli_create");
  pflab::fake_gcs::FakeGcsServer server;
  server.store().CreateBucket("scratch");
  REQUIRE(server.Start().ok());
  const std::string trace = (dir / "rnd.jsonl").string();
  REQUIRE(RunPflab("gen random --object-size 3MiB --read-size 64KiB --count 20 -o " + trace, dir).exit_code == 0);
  const std::string json = (dir / "r.json").string();
  const std::string base = "compare " + trace + " --policies fsspec-readahead --transport http --endpoint " +
                           server.endpoint() + " --connections 2 --verify-bytes --create-objects gs://scratch/t1/";
  auto run = RunPflab(base + " --json " + json, dir, Isolated(dir));
  INFO(run.err);
  REQUIRE(run.exit_code == 0);
  CHECK_THAT(run.err, Catch::Contains("auth: anonymous (none given, and the endpoint is not https)"));
  CHECK_THAT(run.err, Catch::Contains("object o0 (random.bin) -> created gs://scratch/t1/random.bin (generation "));
  CHECK_THAT(run.err, Catch::Contains("deleted gs://scratch/t1/random.bin (created for the run)"));
  const auto results = nlohmann::json::parse(Slurp(json));
  CHECK(results["config"]["live"]["objects"]["o0 (random.bin)"]["created"] == true);
  CHECK(results["config"]["live"]["objects"]["o0 (random.bin)"]["size"] == 3 << 20);
  for (const auto& r : results["runs"]) {
    CHECK(r["metrics"]["reads_failed"] == 0);
    CHECK(r["metrics"]["reads_wrong"] == 0);
  }
  CHECK_FALSE(server.store().Get("scratch", "t1/random.bin").ok());

  auto kept = RunPflab(base + " --keep-objects", dir, Isolated(dir));
  INFO(kept.err);
  REQUIRE(kept.exit_code == 0);
  CHECK_THAT(kept.err, Catch::Contains("kept gs://scratch/t1/random.bin (--keep-objects)"));
  CHECK(server.store().Get("scratch", "t1/random.bin").ok());
  // A second run finds the kept object and will not overwrite it.
  auto again = RunPflab(base, dir, Isolated(dir));
  CHECK(again.exit_code == 1);
  CHECK_THAT(again.err, Catch::Contains("creating gs://scratch/t1/random.bin: an object of that name exists already"));
  fs::remove_all(dir);
}

TEST_CASE("cli live: the live options are usage errors where they do not apply", "[cli][live]") {
  const fs::path dir = FreshTempDir("pflab_live_cli_usage");
  const std::string trace = (dir / "seq.jsonl").string();
  REQUIRE(RunPflab("gen sequential --object-size 1MiB --read-size 64KiB --count 4 -o " + trace, dir).exit_code == 0);
  auto err = [&](const std::string& args) {
    auto r = RunPflab("compare " + trace + " --policies none " + args, dir, Isolated(dir));
    CHECK(r.exit_code == 1);
    return r.err;
  };
  CHECK(err("--object o0=gs://b/x") == "pflab: --object is for --transport http (the transport is sim)\n");
  CHECK(err("--transport fake --anonymous") == "pflab: --anonymous is for --transport http (the transport is fake)\n");
  const std::string http = "--transport http --endpoint http://127.0.0.1:1 ";
  CHECK_THAT(err(http + "--keep-objects"), Catch::Contains("--keep-objects is for --create-objects"));
  CHECK_THAT(err(http + "--verify-bytes --object o0=gs://b/x"),
             Catch::Contains("--verify-bytes checks the synthetic content"));
  CHECK_THAT(err(http + "--object o0=gs://b"), Catch::Contains("--object o0: 'gs://b' has no object name"));
  CHECK_THAT(err(http + "--token-file " + (dir / "missing").string()),
             Catch::Contains("credentials: --token-file: cannot read " + (dir / "missing").string()));
  CHECK_THAT(err(http + "--anonymous --credentials x.json"), Catch::Contains("--anonymous sends no credentials"));
  CHECK_THAT(err(http + "--ca-file " + (dir / "nope.pem").string()), Catch::Contains("--ca-file"));
  fs::remove_all(dir);
}

}  // namespace
