// Which objects a live run reads: trace objects mapped onto existing objects (sizes checked, generation
// pinned) or created as synthetic objects in a writable bucket and deleted after, against the fake GCS
// server over HTTP, with every byte of created objects checked.
#include "replay/live_objects.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "engine/units.h"
#include "fake_gcs/server.h"
#include "replay/live.h"
#include "tests/support/auth_fakes.h"
#include "tests/support/cli_runner.h"
#include "tests/support/ports.h"
#include "tests/support/run_config.h"

namespace pflab::replay {
namespace {

// Two objects read in turn by one stream.
traces::Trace TwoObjects(std::uint64_t size0 = 3 * kMiB + 77, std::uint64_t size1 = kMiB + 5) {
  traces::Trace trace;
  trace.name = "two";
  trace.objects = {{"o0", "", "data/first.bin", size0}, {"o1", "", "second.bin", size1}};
  for (std::uint32_t i = 0; i < 12; ++i) {
    const std::uint32_t object = i % 2;
    const std::uint64_t size = trace.objects[object].size;
    trace.records.push_back({static_cast<Nanos>(i) * kMillisecond, 0, object, (i / 2) * 256 * kKiB % size, 200 * kKiB});
  }
  return trace;
}

// What the trace's reads return: each read clipped at its object's end.
std::uint64_t BytesRead(const traces::Trace& trace) {
  std::uint64_t total = 0;
  for (const auto& r : trace.records) {
    const std::uint64_t size = trace.objects[r.object].size;
    total += std::min(r.length, size - std::min(r.offset, size));
  }
  return total;
}

struct Fixture {
  fake_gcs::FakeGcsServer server;
  std::unique_ptr<GcsObjectClient> client;
  std::vector<std::string> notes;
  std::function<void(const std::string&)> note = [this](const std::string& line) { notes.push_back(line); };

  Fixture() {
    server.store().CreateBucket("scratch");
    REQUIRE(server.store().PutSynthetic("data", "big", 5 * kMiB, 1700000000000001).ok());
    REQUIRE(server.store().PutSynthetic("data", "small", kMiB).ok());
    REQUIRE(server.Start().ok());
    client = std::make_unique<GcsObjectClient>(Endpoint(), TlsOptions{}, nullptr);
  }
  HttpEndpoint Endpoint() const { return *HttpEndpoint::Parse(server.endpoint()); }
  bool Exists(const std::string& bucket, const std::string& name) { return server.store().Get(bucket, name).ok(); }
};

LiveObjectsOptions Create(const std::string& url) {
  LiveObjectsOptions options;
  options.create = *GcsUrl::Parse(url, false);
  return options;
}

TEST_CASE("live objects: created synthetic objects serve the trace's bytes and are deleted after", "[replay][live]") {
  Fixture f;
  const traces::Trace trace = TwoObjects();
  auto objects = LiveObjects::Prepare({&trace}, Create("gs://scratch/run1/"), *f.client, f.note);
  REQUIRE(objects.ok());
  REQUIRE(objects->objects().size() == 2);
  for (const auto& [key, object] : objects->objects()) {
    CHECK(object.created);
    CHECK(object.ref.bucket == "scratch");
    CHECK(object.ref.generation != 0);
  }
  CHECK(f.Exists("scratch", "run1/data/first.bin"));
  CHECK(f.Exists("scratch", "run1/second.bin"));
  CHECK(objects->Refs().at("pflab/data/first.bin").size == 3 * kMiB + 77);
  LiveOptions live;
  live.endpoint = f.Endpoint();
  live.http.connections = 4;
  live.objects = objects->Refs();
  for (const std::string policy : {"none", "fsspec-readahead", "concurrent(parts=4,min=64KiB,rule=v795)"}) {
    INFO(policy);
    auto result = RunLive(testing::RunConfig(trace, policy), live);  // verify_bytes: every byte checked
    REQUIRE(result.ok());
    CHECK(result->metrics.reads == 12);
    CHECK(result->metrics.reads_failed == 0);
    CHECK(result->metrics.reads_wrong == 0);
    CHECK(result->metrics.bytes_read == BytesRead(trace));
  }
  // The checks can fail: the same objects read as named (not created there) are not found.
  auto unmapped = RunLive(testing::RunConfig(trace, "none"), LiveOptions{f.Endpoint(), {}, {}, 0});
  REQUIRE(unmapped.ok());
  CHECK(unmapped->metrics.reads_failed == 12);
  REQUIRE(objects->DeleteCreated(*f.client, f.note).ok());
  CHECK_FALSE(f.Exists("scratch", "run1/data/first.bin"));
  CHECK_FALSE(f.Exists("scratch", "run1/second.bin"));
  CHECK(f.notes.size() == 4);                             // two created, two deleted
  CHECK(objects->DeleteCreated(*f.client, f.note).ok());  // nothing left to delete
}

TEST_CASE("live objects: an existing object is never overwritten; what was created is deleted again",
          "[replay][live]") {
  Fixture f;
  const traces::Trace trace = TwoObjects();
  REQUIRE(f.server.store().PutSynthetic("scratch", "run2/second.bin", 10).ok());  // o1's name is taken
  auto objects = LiveObjects::Prepare({&trace}, Create("gs://scratch/run2/"), *f.client, f.note);
  REQUIRE_FALSE(objects.ok());
  CHECK_THAT(objects.error().message,
             Catch::Contains("creating gs://scratch/run2/second.bin: an object of that name exists already"));
  CHECK_FALSE(f.Exists("scratch", "run2/data/first.bin"));  // created first, then deleted
  auto kept = f.server.store().Get("scratch", "run2/second.bin");
  REQUIRE(kept.ok());
  CHECK((*kept)->size == 10);
}

TEST_CASE("live objects: --object maps a trace object onto an existing one, checking its size", "[replay][live]") {
  Fixture f;
  const traces::Trace trace = TwoObjects(3 * kMiB + 77, kMiB - 3);  // o1 fits in data/small
  LiveObjectsOptions options;
  options.mappings = {*ObjectMapping::Parse("o0=gs://data/big"), *ObjectMapping::Parse("second.bin=gs://data/small")};
  auto objects = LiveObjects::Prepare({&trace}, options, *f.client, f.note);
  REQUIRE(objects.ok());
  CHECK(objects->any_mapped());
  const ObjectRef big = objects->Refs().at("pflab/data/first.bin");
  CHECK(big.bucket == "data");
  CHECK(big.name == "big");
  CHECK(big.generation == 1700000000000001);  // pinned as the metadata said
  CHECK(big.size == 5 * kMiB);                // the trace reads its first 3 MiB
  CHECK_THAT(f.notes.front(), Catch::Contains("o0 (data/first.bin) -> gs://data/big (generation 1700000000000001"));
  LiveOptions live;
  live.endpoint = f.Endpoint();
  live.objects = objects->Refs();
  auto config = testing::RunConfig(trace, "fsspec-readahead");
  config.verify_bytes = false;  // an existing object's bytes are its own
  auto result = RunLive(config, live);
  REQUIRE(result.ok());
  CHECK(result->metrics.reads_failed == 0);
  CHECK(result->metrics.bytes_read == BytesRead(trace));
  CHECK(objects->DeleteCreated(*f.client, f.note).ok());
  CHECK(f.Exists("data", "big"));  // mapped objects are never deleted

  options.mappings = {*ObjectMapping::Parse("o0=gs://data/small")};
  auto small = LiveObjects::Prepare({&trace}, options, *f.client, f.note);
  REQUIRE_FALSE(small.ok());
  CHECK(small.error().message ==
        "--object o0=gs://data/small: the object has 1048576 bytes (1MiB), fewer than the 3145805 of trace "
        "object o0 (data/first.bin): a run may read up to its end");
  options.mappings = {*ObjectMapping::Parse("o0=gs://data/nope")};
  auto missing = LiveObjects::Prepare({&trace}, options, *f.client, f.note);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK_THAT(missing.error().message, Catch::StartsWith("--object o0: metadata of gs://data/nope: HTTP 404"));
  options.mappings = {*ObjectMapping::Parse("o7=gs://data/big")};
  auto unknown = LiveObjects::Prepare({&trace}, options, *f.client, f.note);
  REQUIRE_FALSE(unknown.ok());
  CHECK(unknown.error().message ==
        "--object o7=gs://data/big: no trace object has that id or name (the traces have o0 (data/first.bin), "
        "o1 (second.bin))");
}

TEST_CASE("live objects: a run over HTTPS keeps reading when its token is refused mid-run (one fresh token)",
          "[replay][live][auth]") {
  const testing::TestPki pki(testing::FreshTempDir("pflab_live_refresh"));
  testing::FakeTokenEndpoint tokens(pki, "runner@pflab-test.iam.gserviceaccount.com");
  const std::string key = pki.WriteServiceAccountKey("runner@pflab-test.iam.gserviceaccount.com", tokens.uri());
  testing::HttpsObjectServer server(pki, {{"live/big", {5 * kMiB, 42}}}, [&] { return tokens.issued(); });
  server.RevokeAfter(10);  // each token serves 10 requests
  CredentialsConfig config;
  config.tls.ca_file = pki.server_cert;
  auto credentials = LoadCredentialsFile(key, "a test", config);
  REQUIRE(credentials.ok());
  const traces::Trace trace = TwoObjects(3 * kMiB + 77, kMiB - 3);
  LiveOptions live;
  live.endpoint = server.endpoint();
  live.http.connections = 2;
  live.http.ca_file = pki.server_cert;
  live.http.credentials = *credentials;
  live.objects = {{"pflab/data/first.bin", ObjectRef{"live", "big", 42, 5 * kMiB}},
                  {"pflab/second.bin", ObjectRef{"live", "big", 42, 5 * kMiB}}};
  auto config_run = testing::RunConfig(trace, "none");
  config_run.verify_bytes = false;
  auto result = RunLive(config_run, live);
  REQUIRE(result.ok());
  CHECK(result->metrics.reads_failed == 0);
  CHECK(result->metrics.bytes_read == BytesRead(trace));
  CHECK(server.unauthorized() >= 1);  // the 11th request, refused
  CHECK(tokens.grants() == 2);        // 12 reads: a second token served the last ones
  // The checks can fail: a fixed token cannot be refreshed, so the reads after its 10th fail.
  live.http.credentials = MakeTokenCredentials(*tokens.issued().rbegin(), "a test");
  server.RevokeAfter(3);
  auto fixed = RunLive(config_run, live);
  REQUIRE(fixed.ok());
  CHECK(fixed->metrics.reads_failed > 0);
}

TEST_CASE("live objects: objects read as named are looked up first, the first kMaxNamedChecks of them",
          "[replay][live]") {
  Fixture f;
  const traces::Trace trace = TwoObjects();
  LiveObjectsOptions named;  // no --object, no --create-objects
  auto missing = LiveObjects::Prepare({&trace}, named, *f.client, f.note);
  REQUIRE_FALSE(missing.ok());
  CHECK(missing.error().code == ErrorCode::kNotFound);
  CHECK_THAT(missing.error().message,
             Catch::StartsWith("trace object o0 (data/first.bin) is read as named, gs://pflab/data/first.bin at "
                               "generation 1: metadata of gs://pflab/data/first.bin: HTTP 404") &&
                 Catch::EndsWith("(`pflab serve --synthetic pflab/data/first.bin=3145805` serves it; or map it onto "
                                 "an existing object with --object o0=gs://BUCKET/NAME, or create it with "
                                 "--create-objects gs://BUCKET)"));
  REQUIRE(f.server.store().PutSynthetic("pflab", "data/first.bin", 3 * kMiB + 77).ok());
  REQUIRE(f.server.store().PutSynthetic("pflab", "second.bin", kMiB + 4).ok());  // a byte short
  named.named_only = true;                                                       // as `fidelity` asks
  auto small = LiveObjects::Prepare({&trace}, named, *f.client, f.note);
  REQUIRE_FALSE(small.ok());
  CHECK(small.error().message ==
        "trace object o1 (second.bin) is read as named, gs://pflab/second.bin at generation 1, but the endpoint's "
        "object has 1048580 bytes, fewer than the trace's 1048581 (`pflab serve --synthetic "
        "pflab/second.bin=1048581` serves it)");
  REQUIRE(f.server.store().PutSynthetic("pflab", "second.bin", kMiB + 5, 9).ok());
  auto other = LiveObjects::Prepare({&trace}, named, *f.client, f.note);
  REQUIRE_FALSE(other.ok());
  CHECK_THAT(other.error().message, Catch::Contains("at generation 1, but the endpoint's object is generation 9"));
  REQUIRE(f.server.store().PutSynthetic("pflab", "second.bin", kMiB + 5).ok());
  auto found = LiveObjects::Prepare({&trace}, named, *f.client, f.note);
  REQUIRE(found.ok());
  CHECK(found->objects().empty());  // read as named: nothing mapped or created
  CHECK(f.notes.empty());

  // Many objects: only the first kMaxNamedChecks are looked up, so the rest may be missing here.
  traces::Trace many;
  many.name = "many";
  for (std::size_t i = 0; i < LiveObjects::kMaxNamedChecks + 3; ++i) {
    const std::string name = "m" + std::to_string(1000 + i);  // names sort as the objects' order
    many.objects.push_back({"o" + std::to_string(i), "", name, 10});
    if (i < LiveObjects::kMaxNamedChecks) REQUIRE(f.server.store().PutSynthetic("pflab", name, 10).ok());
  }
  const std::uint64_t before = f.server.stats().requests;
  CHECK(LiveObjects::Prepare({&many}, named, *f.client, f.note).ok());
  CHECK(f.server.stats().requests - before == LiveObjects::kMaxNamedChecks);
  REQUIRE(f.server.store().Delete("pflab", "m1000").ok());
  CHECK_FALSE(LiveObjects::Prepare({&many}, named, *f.client, f.note).ok());
}

TEST_CASE("live objects: a run whose endpoint goes away fails each read after its retries", "[replay][live]") {
  traces::Trace trace = TwoObjects();
  trace.records.resize(1);
  LiveOptions live;
  live.endpoint = HttpEndpoint{"http", "127.0.0.1", testing::DeadPort()};
  auto result = RunLive(testing::RunConfig(trace, "none"), live);
  REQUIRE(result.ok());
  CHECK(result->metrics.reads_failed == 1);
  CHECK(result->metrics.retries == 5);
  REQUIRE(result->errors.first.size() == 1);
  const RunError& error = result->errors.first.front();
  CHECK(error.attempts == 6);
  CHECK(error.http_status == 0);
  CHECK(error.code == ErrorCode::kUnavailable);
  CHECK_THAT(error.Summary(), Catch::Contains("unavailable after 6 attempt(s)") &&
                                  Catch::Contains("connect to 127.0.0.1:" + std::to_string(live.endpoint.port)));
}

TEST_CASE("live objects: malformed --object and --create-objects values", "[replay][live]") {
  CHECK(ObjectMapping::Parse("o0").error().message ==
        "'o0': expected ID=gs://BUCKET/NAME (ID: a trace object's id, e.g. o0, or name)");
  CHECK(ObjectMapping::Parse("o0=s3://b/x").error().message == "o0: 's3://b/x' is not gs://BUCKET/NAME");
  CHECK(ObjectMapping::Parse("o0=gs://b").error().message ==
        "o0: 'gs://b' has no object name: expected gs://BUCKET/NAME");
  CHECK(ObjectMapping::Parse("o0=gs://B/x").error().message ==
        "o0: 'gs://B/x': 'B' is not a bucket name (lower-case letters, digits, -, _ and .)");
  auto prefix = GcsUrl::Parse("gs://bucket", false);
  REQUIRE(prefix.ok());
  CHECK(prefix->name.empty());
  const auto mapping = ObjectMapping::Parse("data/a=b.bin=gs://b/x=y");  // split at "=gs://"
  REQUIRE(mapping.ok());
  CHECK(mapping->key == "data/a=b.bin");
  CHECK(mapping->target.name == "x=y");
}

}  // namespace
}  // namespace pflab::replay
