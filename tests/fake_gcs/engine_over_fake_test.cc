// The real engine (policies, ConcurrentFetcher, HttpTransport) against the fake GCS server: every
// policy on every generator's trace delivers exactly the synthetic content; and with each fault
// instruction injected, a read either succeeds with every byte right or fails with a clear error,
// well within the fetcher's deadline.
#include <httplib.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>

#include "engine/concurrent_fetcher.h"
#include "engine/synthetic_content.h"
#include "engine/units.h"
#include "fake_gcs/server.h"
#include "net/http_transport.h"
#include "policies/registry.h"
#include "replay/fake_server.h"
#include "replay/live.h"
#include "tests/support/run_config.h"
#include "traces/generators.h"

namespace pflab {
namespace {

using nlohmann::json;

// Every registered policy with its defaults, and two stacks.
std::vector<std::string> AllPolicies() {
  std::vector<std::string> out = testing::DefaultPolicies();
  out.push_back("fsspec-readahead > gcsfs-adaptive");
  out.push_back("concurrent(parts=4,min=64KiB)");
  return out;
}

TEST_CASE("engine over fake gcs: every policy on every pattern delivers exactly the object's bytes",
          "[fake_gcs][engine_over_fake]") {
  const auto policies = AllPolicies();
  for (const auto& pattern : traces::Patterns()) {
    traces::GeneratorParams params;
    params.object_size = 6 * kMiB + 777;
    params.read_size = 96 * kKiB;
    params.count = 40;
    auto trace = traces::Generate(pattern.name, params);
    REQUIRE(trace.ok());
    auto profile = sim::FindProfile("local-fast");
    REQUIRE(profile.ok());
    auto server = replay::StartFakeServer({&*trace}, *profile, 1);
    REQUIRE(server.ok());
    replay::LiveOptions live;
    live.endpoint = *HttpEndpoint::Parse((*server)->endpoint());
    live.http.connections = 4;
    for (const auto& policy : policies) {
      INFO(pattern.name << " x " << policy);
      auto result = replay::RunLive(testing::RunConfig(*trace, policy, "local-fast"), live);
      REQUIRE(result.ok());
      const auto& m = result->metrics;
      CHECK(m.reads == trace->records.size());
      CHECK(m.reads_failed == 0);
      CHECK(m.reads_wrong == 0);  // verify_bytes: every delivered byte checked
      CHECK(result->errors.empty());
      std::uint64_t expected = 0;
      for (const auto& r : trace->records) expected += r.length;
      CHECK(m.bytes_read == expected);
      CHECK(m.bytes_wasted <= m.bytes_fetched);
    }
    CHECK((*server)->stats().faults_fired == 0);
  }
}

// The server imposes a run's profile whole: its first bytes, each connection's bandwidth and the link
// they share. Four parts of one 8 MiB read at 100 MB/s each would take 21 ms together; the profile's
// 25 MB/s link makes it 0.34 s, as the simulator has it. (Until 2026-12-07 the link was left out, and
// a slow-link profile through the server was no slow link.)
TEST_CASE("engine over fake gcs: the profile's link binds requests together", "[fake_gcs][engine_over_fake]") {
  traces::GeneratorParams params;
  params.object_size = 8 * kMiB;
  params.read_size = 8 * kMiB;
  params.count = 1;
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  auto found = sim::FindProfile("local-fast");
  REQUIRE(found.ok());
  sim::NetworkProfile profile = *found;
  profile.stream_bandwidth_bytes_per_s = 100e6;
  profile.link_bandwidth_bytes_per_s = 25e6;
  auto server = replay::StartFakeServer({&*trace}, profile, 1);
  REQUIRE(server.ok());
  replay::LiveOptions live;
  live.endpoint = *HttpEndpoint::Parse((*server)->endpoint());
  live.http.connections = 4;
  replay::SimulationConfig config = testing::RunConfig(*trace, "concurrent(parts=4,min=64KiB)", "local-fast");
  config.profile = profile;
  auto result = replay::RunLive(config, live);
  REQUIRE(result.ok());
  CHECK(result->metrics.reads_wrong == 0);
  CHECK(result->errors.empty());
  CHECK(result->metrics.requests == 4);
  const double link_s = static_cast<double>(8 * kMiB) / 25e6;
  CHECK(result->metrics.elapsed_s >= 0.9 * link_s);
  CHECK(result->metrics.elapsed_s <= 3 * link_s);  // loose: a shared machine
}

// One read through ConcurrentFetcher over HttpTransport, with every request carrying the retry test id.
struct FaultRun {
  // First, so it is destroyed last: the result's chunks report to it when they go.
  std::unique_ptr<MemoryAccount> account = std::make_unique<MemoryAccount>();
  std::optional<Result<Slices>> result;
  double seconds = 0;
  json retry_test;  // its state afterwards
};

FaultRun ReadWithFaults(fake_gcs::FakeGcsServer& server, const std::string& object, ByteRange range,
                        const std::vector<std::string>& instructions, Nanos read_timeout = 10 * kSecond) {
  httplib::Client admin("127.0.0.1", server.port());
  auto created = admin.Post("/retry_test", json{{"instructions", {{"storage.objects.get", instructions}}}}.dump(),
                            "application/json");
  REQUIRE(created);
  REQUIRE(created->status == 200);
  const std::string id = json::parse(created->body)["id"];

  AsioScheduler scheduler;
  HttpTransportOptions http;
  http.connections = 2;
  http.read_timeout = read_timeout;
  http.extra_headers = {{"x-retry-test-id", id}};
  HttpTransport transport(&scheduler, *HttpEndpoint::Parse(server.endpoint()), http);
  NullEventSink events;
  FaultRun run;
  ConcurrentFetcherOptions options;
  options.parts = 1;
  options.initial_backoff = 10 * kMillisecond;
  options.deadline = 30 * kSecond;
  auto meta = server.store().Get("bkt", object);
  REQUIRE(meta.ok());
  ConcurrentFetcher fetcher(LayerContext{&scheduler, &events, 0}, &transport,
                            ObjectRef{"bkt", object, (*meta)->generation, (*meta)->size}, options, run.account.get());
  const auto start = std::chrono::steady_clock::now();
  fetcher.Read(range, [&](Result<Slices>&& r) { run.result = std::move(r); });
  scheduler.RunFor(40 * kSecond);
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  run.retry_test = json::parse(admin.Get("/retry_test/" + id)->body);
  return run;
}

void CheckBytes(const Result<Slices>& result, const std::string& object, ByteRange range) {
  REQUIRE(result.ok());
  REQUIRE(TotalLength(*result) == range.size());
  const std::uint64_t seed = ObjectSeed("bkt", object, 1);
  std::uint64_t offset = range.begin;
  for (const Slice& s : *result) {
    REQUIRE(s.data() != nullptr);
    for (std::uint64_t i = 0; i < s.length; ++i, ++offset) {
      if (s.data()[i] != SyntheticByte(seed, offset)) FAIL("byte " << offset << " differs");
    }
  }
}

TEST_CASE("engine over fake gcs: each retryable fault is retried, resumed, and every byte is right",
          "[fake_gcs][engine_over_fake][faults]") {
  fake_gcs::FakeGcsServer server;
  REQUIRE(server.store().PutSynthetic("bkt", "obj", 2 * kMiB).ok());
  REQUIRE(server.Start().ok());
  const ByteRange range{1000, 1000 + 1536 * kKiB};
  for (const std::string instruction :
       {"return-503", "return-500", "return-502", "return-504", "return-429", "return-408", "return-reset-connection",
        "return-broken-stream", "return-broken-stream-after-256K", "stall-for-1s-after-64K"}) {
    INFO(instruction);
    // Twice in a row, so the fetcher must try three times; a stall is no failure, so once.
    const bool stall = instruction.rfind("stall", 0) == 0;
    const FaultRun run = ReadWithFaults(
        server, "obj", range,
        stall ? std::vector<std::string>{instruction} : std::vector<std::string>{instruction, instruction});
    REQUIRE(run.result.has_value());
    CheckBytes(*run.result, "obj", range);
    CHECK(run.retry_test["completed"] == true);  // both faults fired: the retries happened
    CHECK(run.seconds < 10);
  }
}

TEST_CASE("engine over fake gcs: a stall longer than the read timeout is cut and retried",
          "[fake_gcs][engine_over_fake][faults]") {
  fake_gcs::FakeGcsServer server;
  REQUIRE(server.store().PutSynthetic("bkt", "obj", kMiB).ok());
  REQUIRE(server.Start().ok());
  const FaultRun run = ReadWithFaults(server, "obj", {0, 512 * kKiB}, {"stall-for-5s-after-128K"}, kSecond);
  REQUIRE(run.result.has_value());
  CheckBytes(*run.result, "obj", {0, 512 * kKiB});
  CHECK(run.retry_test["completed"] == true);
  CHECK(run.seconds < 5);  // did not wait the stall out
}

TEST_CASE("engine over fake gcs: non-retryable errors fail at once, naming object and range",
          "[fake_gcs][engine_over_fake][faults]") {
  fake_gcs::FakeGcsServer server;
  REQUIRE(server.store().PutSynthetic("bkt", "obj", kMiB).ok());
  REQUIRE(server.Start().ok());
  for (const std::string instruction : {"return-400", "return-401", "return-403", "return-404", "return-412"}) {
    INFO(instruction);
    const FaultRun run = ReadWithFaults(server, "obj", {0, 4096}, {instruction, "return-503"});
    REQUIRE(run.result.has_value());
    REQUIRE_FALSE(run.result->ok());
    const std::string message = run.result->error().message;
    INFO(message);
    CHECK(message.find("gs://bkt/obj") != std::string::npos);
    CHECK(message.find("bytes 0-4096") != std::string::npos);
    CHECK(message.find("HTTP " + instruction.substr(7)) != std::string::npos);
    // Not retried: the second instruction is still queued.
    CHECK(run.retry_test["instructions"]["storage.objects.get"].size() == 1);
    CHECK(run.seconds < 5);
  }
}

TEST_CASE("engine over fake gcs: a corrupted byte is caught by CRC32C on whole-object reads", "[fake_gcs][faults]") {
  fake_gcs::FakeGcsServer server;
  REQUIRE(server.store().PutSynthetic("bkt", "obj", 3 * kMiB).ok());
  REQUIRE(server.Start().ok());
  SECTION("whole object: the mismatch is retried and the good copy delivered") {
    const FaultRun run = ReadWithFaults(server, "obj", {0, 3 * kMiB}, {"corrupt-byte"});
    REQUIRE(run.result.has_value());
    CheckBytes(*run.result, "obj", {0, 3 * kMiB});
    CHECK(run.retry_test["completed"] == true);
  }
  SECTION("a range carries only the whole object's hash, so nothing can check it - as in GCS clients") {
    const FaultRun run = ReadWithFaults(server, "obj", {0, kMiB}, {"corrupt-byte"});
    REQUIRE(run.result.has_value());
    REQUIRE(run.result->ok());
    const std::uint64_t seed = ObjectSeed("bkt", "obj", 1);
    int differing = 0;
    std::uint64_t offset = 0;
    for (const Slice& s : **run.result) {
      for (std::uint64_t i = 0; i < s.length; ++i, ++offset) differing += s.data()[i] != SyntheticByte(seed, offset);
    }
    CHECK(differing == 1);  // which is why the tests that replay traces check every byte themselves
  }
}

TEST_CASE("engine over fake gcs: a soak with a seeded fault profile still delivers every byte",
          "[fake_gcs][engine_over_fake][faults]") {
  traces::GeneratorParams params;
  params.object_size = 8 * kMiB;
  params.read_size = 128 * kKiB;
  params.count = 60;
  auto trace = traces::Generate("backtrack", params);
  REQUIRE(trace.ok());
  fake_gcs::ServerOptions options;
  auto faults =
      fake_gcs::FaultProfile::Parse({{"seed", 11},
                                     {"faults",
                                      {{{"instruction", "return-503"}, {"probability", 0.1}},
                                       {{"instruction", "return-reset-connection"}, {"probability", 0.05}},
                                       {{"instruction", "return-broken-stream-after-16K"}, {"probability", 0.1}}}}},
                                    "soak");
  REQUIRE(faults.ok());
  options.faults.emplace(*faults);
  fake_gcs::FakeGcsServer server(options);
  const ObjectRef ref = replay::TraceObjectRef(trace->objects[0]);
  REQUIRE(server.store().PutSynthetic(ref.bucket, ref.name, ref.size, ref.generation).ok());
  REQUIRE(server.Start().ok());
  replay::LiveOptions live;
  live.endpoint = *HttpEndpoint::Parse(server.endpoint());
  live.http.connections = 4;
  for (const std::string policy : {"none", "gcsfs-adaptive", "fsspec-readahead"}) {
    INFO(policy);
    auto result = replay::RunLive(testing::RunConfig(*trace, policy, "local-fast"), live);
    REQUIRE(result.ok());
    CHECK(result->metrics.reads_failed == 0);
    CHECK(result->metrics.reads_wrong == 0);
  }
  CHECK(server.stats().faults_fired > 5);
}

}  // namespace
}  // namespace pflab

namespace pflab {
namespace {

TEST_CASE("engine over fake gcs: byte verification catches a byte corrupted in a ranged read",
          "[fake_gcs][engine_over_fake][faults]") {
  traces::GeneratorParams params;
  params.object_size = 4 * kMiB;
  params.read_size = 256 * kKiB;
  params.count = 8;
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  fake_gcs::ServerOptions options;
  auto faults = fake_gcs::FaultProfile::Parse(
      {{"seed", 1}, {"faults", {{{"instruction", "corrupt-byte"}, {"probability", 1.0}}}}}, "always");
  REQUIRE(faults.ok());
  options.faults.emplace(*faults);
  fake_gcs::FakeGcsServer server(options);
  const ObjectRef ref = replay::TraceObjectRef(trace->objects[0]);
  REQUIRE(server.store().PutSynthetic(ref.bucket, ref.name, ref.size, ref.generation).ok());
  REQUIRE(server.Start().ok());
  replay::LiveOptions live;
  live.endpoint = *HttpEndpoint::Parse(server.endpoint());
  auto result = replay::RunLive(testing::RunConfig(*trace, "none", "local-fast"), live);
  // The run is a result with its failures, not an abort: every read is checked and each one counted.
  REQUIRE(result.ok());
  CHECK(result->failed());
  CHECK(result->metrics.reads == 8);
  CHECK(result->metrics.reads_failed == 0);
  CHECK(result->metrics.reads_wrong == 8);  // the server flips the middle byte of every response
  CHECK(result->metrics.bytes_wrong == 8);
  REQUIRE(result->errors.total == 8);
  const replay::RunError& first = result->errors.first.front();
  CHECK(first.kind == replay::RunError::Kind::kBytes);
  CHECK(first.Reason() == "wrong bytes");
  // The first read is [0, 256 KiB): the server flips its middle byte.
  REQUIRE(first.first_wrong_byte.has_value());
  CHECK(*first.first_wrong_byte == 131072);
  CHECK(first.message.find("byte 131072 of") != std::string::npos);
  CHECK(result->errors.by_reason.at("wrong bytes") == 8);
}

}  // namespace
}  // namespace pflab

namespace pflab {
namespace {

std::size_t CountEntries(const char* dir) {
  std::size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

TEST_CASE("engine over fake gcs: a server and a transport leave no socket or thread behind",
          "[fake_gcs][engine_over_fake]") {
  const std::size_t fds_before = CountEntries("/proc/self/fd");
  const std::size_t threads_before = CountEntries("/proc/self/task");
  for (int round = 0; round < 3; ++round) {
    fake_gcs::FakeGcsServer server;
    REQUIRE(server.store().PutSynthetic("bkt", "obj", 4 * kMiB).ok());
    REQUIRE(server.Start().ok());
    // A fault that kills a connection mid-body, so dropped connections are exercised too.
    const FaultRun run = ReadWithFaults(server, "obj", {0, 3 * kMiB}, {"return-broken-stream-after-64K"});
    REQUIRE(run.result.has_value());
    CheckBytes(*run.result, "obj", {0, 3 * kMiB});
  }
  CHECK(CountEntries("/proc/self/fd") == fds_before);
  CHECK(CountEntries("/proc/self/task") == threads_before);
}

}  // namespace
}  // namespace pflab

namespace pflab {
namespace {

// The bug: a fault answering a ranged GET with 200 and a short JSON error body was kept as
// object data (at offset 0 the body landed in the buffer and the retry resumed after it).
TEST_CASE("engine over fake gcs: a 200 with a short error body is never taken for object data",
          "[fake_gcs][engine_over_fake][faults][refused]") {
  fake_gcs::FakeGcsServer server;
  REQUIRE(server.store().PutSynthetic("bkt", "obj", 2 * kMiB).ok());
  REQUIRE(server.Start().ok());
  for (const ByteRange range : {ByteRange{0, 512 * kKiB}, ByteRange{1000, 1000 + 512 * kKiB}}) {
    INFO("[" << range.begin << ", " << range.end << ")");
    const FaultRun run = ReadWithFaults(server, "obj", range, {"return-200", "return-200"});
    REQUIRE(run.result.has_value());
    CheckBytes(*run.result, "obj", range);  // refused twice, then the real bytes
    CHECK(run.retry_test["completed"] == true);
  }
  SECTION("with the retries used up, the read fails and says why") {
    const FaultRun run = ReadWithFaults(server, "obj", {0, 4096}, std::vector<std::string>(6, "return-200"));
    REQUIRE(run.result.has_value());
    REQUIRE_FALSE(run.result->ok());
    const Error& error = run.result->error();
    CHECK(error.code == ErrorCode::kDataLoss);
    CHECK(error.http_status == 200);
    CHECK(error.attempts == 6);
    CHECK(error.message.find("refused the HTTP 200 response") != std::string::npos);
    CHECK(error.message.find("after 6 attempt(s)") != std::string::npos);
  }
}

TEST_CASE("engine over fake gcs: with --verify-bytes a run under return-200 faults delivers every byte right",
          "[fake_gcs][engine_over_fake][faults][refused]") {
  traces::GeneratorParams params;
  params.object_size = 4 * kMiB;
  params.read_size = 128 * kKiB;
  params.count = 24;
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  fake_gcs::ServerOptions options;
  auto faults = fake_gcs::FaultProfile::Parse(
      {{"seed", 3},
       {"faults", {{{"instruction", "return-200"}, {"probability", 0.3}, {"methods", {"storage.objects.get"}}}}}},
      "short 200s");
  REQUIRE(faults.ok());
  options.faults.emplace(*faults);
  fake_gcs::FakeGcsServer server(options);
  const ObjectRef ref = replay::TraceObjectRef(trace->objects[0]);
  REQUIRE(server.store().PutSynthetic(ref.bucket, ref.name, ref.size, ref.generation).ok());
  REQUIRE(server.Start().ok());
  replay::LiveOptions live;
  live.endpoint = *HttpEndpoint::Parse(server.endpoint());
  auto config = testing::RunConfig(*trace, "none", "local-fast");
  auto result = replay::RunLive(config, live);
  REQUIRE(result.ok());
  CHECK(result->metrics.reads_wrong == 0);
  CHECK(result->metrics.reads_failed == 0);
  CHECK(result->metrics.bytes_read == 24 * 128 * kKiB);
  // Every injected 200 was refused and retried: one failed request and one retry each.
  CHECK(server.stats().faults_fired > 0);
  CHECK(result->metrics.requests_failed == server.stats().faults_fired);
  CHECK(result->metrics.retries == server.stats().faults_fired);
}

// The second bug: resets on reused keep-alive connections were resent inside the transport
// (the server injected 58, the client counted 8). Every reset must be a failed request and a retry.
TEST_CASE("engine over fake gcs: every injected connection reset is counted as a failed request and a retry",
          "[fake_gcs][engine_over_fake][faults]") {
  traces::GeneratorParams params;
  params.object_size = 8 * kMiB;
  params.read_size = 64 * kKiB;
  params.count = 80;
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  fake_gcs::ServerOptions options;
  auto faults = fake_gcs::FaultProfile::Parse(
      {{"seed", 5},
       {"faults",
        {{{"instruction", "return-reset-connection"}, {"probability", 0.3}, {"methods", {"storage.objects.get"}}}}}},
      "resets");
  REQUIRE(faults.ok());
  options.faults.emplace(*faults);
  fake_gcs::FakeGcsServer server(options);
  const ObjectRef ref = replay::TraceObjectRef(trace->objects[0]);
  REQUIRE(server.store().PutSynthetic(ref.bucket, ref.name, ref.size, ref.generation).ok());
  REQUIRE(server.Start().ok());
  replay::LiveOptions live;
  live.endpoint = *HttpEndpoint::Parse(server.endpoint());
  live.http.connections = 2;  // connections are reused, as in the run
  auto result = replay::RunLive(testing::RunConfig(*trace, "none", "local-fast"), live);
  REQUIRE(result.ok());
  const auto& m = result->metrics;
  const std::uint64_t fired = server.stats().faults_fired;
  INFO("resets injected " << fired << ", failed requests " << m.requests_failed << ", retries " << m.retries);
  CHECK(fired > 10);
  CHECK(m.requests_failed == fired);
  // `none` sends one request per read: a failure is retried unless its read gave up.
  CHECK(m.retries + m.reads_failed == fired);
  CHECK(m.requests == m.reads + m.retries);
  CHECK(m.reads_wrong == 0);
}

}  // namespace
}  // namespace pflab
