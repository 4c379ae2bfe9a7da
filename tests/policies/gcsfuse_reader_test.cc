// gcsfuse's default read path. Expected requests are worked by hand from GoogleCloudPlatform/gcsfuse
// @7b392927:
// - internal/gcsx/read_type_classifier.go `isSeekNeeded` (no seek while the expected offset is 0;
//   random mode: offset != expected; sequential mode: offset < expected or > expected + 8 MiB),
//   `GetReadInfo` (sequential iff bytes per seek >= 8 MiB, or no seeks and the first read at 0),
//   `ComputeSeqPrefetchWindowAndAdjustType` (200 MiB sequential; random: bytes per seek rounded up to
//   MiB, clamped to [1, 8] MiB), `RecordRead` (after a successful read only);
// - internal/gcsx/client_readers/gcs_reader.go `getEndOffset` (the stream size, clipped at EOF);
// - internal/gcsx/client_readers/range_reader.go `skipBytes` (a gap < 8 MiB is read and discarded),
//   `invalidateReaderIfMisalignedOrTooSmall` (a stream not at the offset, or ending before the read's
//   end, is closed), `readFromRangeReader` (closed when it reaches its limit), `startRead`;
// - internal/gcsx/read_manager/read_manager.go `ReadAt` and internal/fs/handle/file.go
//   `ReadWithReadManager` (InitialOffset = the first read's offset).
// Reads from above are cut into 1 MiB FUSE READs (cmd/mount.go MaxPages); the pieces one stream serves
// back to back are one request below, starting at the stream's position (skipped bytes included).
#include "policies/gcsfuse_reader.h"

#include <catch2/catch.hpp>
#include <optional>
#include <vector>

#include "engine/units.h"
#include "policies/registry.h"
#include "replay/simulation.h"
#include "sim/sim_scheduler.h"
#include "tests/support/logging_source.h"
#include "tests/support/policy_harness.h"
#include "tests/support/run_config.h"
#include "traces/generators.h"

namespace pflab::policies {
namespace {

using Req = testing::LoggedRequest;

struct Harness : testing::PolicyHarness<GcsfuseReader> {
  explicit Harness(std::uint64_t size, GcsfuseReaderOptions options = {})
      : PolicyHarness(size, kMillisecond, options) {}
};

GcsfuseReaderOptions SequentialSize(std::uint64_t size) {
  GcsfuseReaderOptions o;
  o.sequential_read_size = size;
  return o;
}

TEST_CASE("gcsfuse: sequential reads from offset 0 consume one 200 MiB stream", "[policies][gcsfuse]") {
  Harness h(512 * kMiB);
  h.ReadOk(0, kMiB);  // no seeks, first read at 0: sequential; stream [0, 200 MiB)
  h.ReadOk(kMiB, 2 * kMiB);
  h.ReadOk(2 * kMiB, 3 * kMiB);
  h.ReadOk(3 * kMiB, 7 * kMiB);  // four FUSE READs of 1 MiB, all from the stream: one request
  CHECK(h.lower.requests ==
        std::vector<Req>{
            {0, kMiB, 0, 0}, {kMiB, 2 * kMiB, 0, 0}, {2 * kMiB, 3 * kMiB, 0, 0}, {3 * kMiB, 7 * kMiB, 0, 0}});
  CHECK(h.policy->streams_opened() == 1);
  CHECK(h.policy->stream_limit() == 200 * kMiB);
  CHECK(h.policy->sequential());
  CHECK(h.policy->seeks() == 0);
}

TEST_CASE("gcsfuse: a stream closes at its limit - the next FUSE READ opens another", "[policies][gcsfuse]") {
  Harness h(64 * kMiB, SequentialSize(4 * kMiB));
  h.ReadOk(0, 10 * kMiB);
  // READs 1-4 consume [0, 4M) and close it; READ 5 opens [4M, 8M); READ 9 opens [8M, 12M).
  CHECK(h.lower.requests ==
        std::vector<Req>{{0, 4 * kMiB, 0, 0}, {4 * kMiB, 8 * kMiB, 0, 0}, {8 * kMiB, 10 * kMiB, 0, 0}});
  CHECK(h.policy->streams_opened() == 3);
  CHECK(h.policy->stream_limit() == 12 * kMiB);
}

TEST_CASE("gcsfuse: forward gaps under 8 MiB are skipped on the stream - not seeks", "[policies][gcsfuse]") {
  Harness h(512 * kMiB);
  h.ReadOk(0, kMiB);
  h.ReadOk(3 * kMiB, 4 * kMiB);  // 3M <= 1M + 8M: no seek; skipBytes discards [1M, 3M) of the stream
  CHECK(h.lower.requests == std::vector<Req>{{0, kMiB, 0, 0}, {kMiB, 4 * kMiB, 0, 0}});
  CHECK(h.policy->seeks() == 0);
  // 12M is not > 4M + 8M: still no seek. But the gap is not < 8M, so the stream is misaligned: closed,
  // and a new sequential one opens at 12M.
  h.ReadOk(12 * kMiB, 13 * kMiB);
  CHECK(h.lower.requests.back() == Req{12 * kMiB, 13 * kMiB, 0, 0});
  CHECK(h.policy->seeks() == 0);
  CHECK(h.policy->streams_opened() == 2);
  CHECK(h.policy->stream_limit() == 212 * kMiB);
  // Backwards is a seek: 3 MiB read over 1 seek is under 8 MiB: random, a 3 MiB stream.
  h.ReadOk(kMiB, 2 * kMiB);
  CHECK(h.lower.requests.back() == Req{kMiB, 2 * kMiB, 0, 0});
  CHECK(h.policy->seeks() == 1);
  CHECK(!h.policy->sequential());
  CHECK(h.policy->stream_limit() == 4 * kMiB);
}

TEST_CASE("gcsfuse: a first read at a nonzero offset is random - streams sized by bytes per seek",
          "[policies][gcsfuse]") {
  Harness h(64 * kMiB);
  // Read 1, three FUSE READs. [40M, 41M): InitialOffset 40M, 0 bytes: random, clamp(0) = 1 MiB stream,
  // closed at its limit. [41M, 42M): no seek (random, offset == expected); 1 MiB read: another 1 MiB
  // stream. [42M, 42.5M): 2 MiB read: a 2 MiB stream [42M, 44M).
  h.ReadOk(40 * kMiB, 42 * kMiB + 512 * kKiB);
  CHECK(h.lower.requests == std::vector<Req>{{40 * kMiB, 41 * kMiB, 0, 0},
                                             {41 * kMiB, 42 * kMiB, 0, 0},
                                             {42 * kMiB, 42 * kMiB + 512 * kKiB, 0, 0}});
  CHECK(h.policy->seeks() == 0);
  CHECK(!h.policy->sequential());
  CHECK(h.policy->stream_limit() == 44 * kMiB);
  // Read 2 at 10M: seek 1; 2.5 MiB per seek rounds up to a 3 MiB stream [10M, 13M), which serves all
  // three FUSE READs: one request.
  h.ReadOk(10 * kMiB, 12 * kMiB + 512 * kKiB);
  CHECK(h.lower.requests.back() == Req{10 * kMiB, 12 * kMiB + 512 * kKiB, 0, 0});
  CHECK(h.policy->seeks() == 1);
  CHECK(h.policy->stream_limit() == 13 * kMiB);
  // Read 3 at 12.75M: in random mode any other offset is a seek (2); skipBytes moves the stream to
  // 12.75M, but it ends at 13M, before 13.75M: closed. 5 MiB / 2 seeks = 2.5 -> a 3 MiB stream.
  h.ReadOk(12 * kMiB + 768 * kKiB, 13 * kMiB + 768 * kKiB);
  CHECK(h.lower.requests.back() == Req{12 * kMiB + 768 * kKiB, 13 * kMiB + 768 * kKiB, 0, 0});
  CHECK(h.policy->seeks() == 2);
  CHECK(h.policy->stream_limit() == 15 * kMiB + 768 * kKiB);
  CHECK(h.policy->streams_opened() == 5);
  // Read 4 at 30M: seek 3; 6 MiB / 3 = 2 MiB stream.
  h.ReadOk(30 * kMiB, 30 * kMiB + 64 * kKiB);
  CHECK(h.lower.requests.back() == Req{30 * kMiB, 30 * kMiB + 64 * kKiB, 0, 0});
  CHECK(h.policy->stream_limit() == 32 * kMiB);
  CHECK(h.lower.requests.size() == 6);
}

TEST_CASE("gcsfuse: one seek after small reads switches to random - 1 MiB streams", "[policies][gcsfuse]") {
  Harness h(64 * kMiB);
  h.ReadOk(0, 64 * kKiB);  // sequential, stream [0, 64M) (200 MiB clipped at EOF)
  CHECK(h.policy->stream_limit() == 64 * kMiB);
  h.ReadOk(32 * kMiB, 32 * kMiB + 64 * kKiB);  // > 64K + 8M: seek 1; 64 KiB per seek: random, 1 MiB
  CHECK(!h.policy->sequential());
  CHECK(h.policy->stream_limit() == 33 * kMiB);
  h.ReadOk(16 * kMiB, 16 * kMiB + 64 * kKiB);               // seek 2; 64 KiB per seek: [16M, 17M)
  h.ReadOk(16 * kMiB + 64 * kKiB, 16 * kMiB + 128 * kKiB);  // offset == expected: no seek, same stream
  h.ReadOk(16 * kMiB, 16 * kMiB + 64 * kKiB);               // backwards, random mode: seek 3, stream reopened
  CHECK(h.lower.requests == std::vector<Req>{{0, 64 * kKiB, 0, 0},
                                             {32 * kMiB, 32 * kMiB + 64 * kKiB, 0, 0},
                                             {16 * kMiB, 16 * kMiB + 64 * kKiB, 0, 0},
                                             {16 * kMiB + 64 * kKiB, 16 * kMiB + 128 * kKiB, 0, 0},
                                             {16 * kMiB, 16 * kMiB + 64 * kKiB, 0, 0}});
  CHECK(h.policy->seeks() == 3);
  CHECK(h.policy->streams_opened() == 4);
  CHECK(h.policy->stream_limit() == 17 * kMiB);
}

TEST_CASE("gcsfuse: random reads that add up to 8 MiB per seek return to sequential", "[policies][gcsfuse]") {
  Harness h(512 * kMiB);
  h.ReadOk(0, kMiB);
  h.ReadOk(3 * kMiB, 4 * kMiB);    // skipped, no seek
  h.ReadOk(20 * kMiB, 21 * kMiB);  // seek 1; 2 MiB per seek: random, stream [20M, 22M)
  CHECK(!h.policy->sequential());
  h.ReadOk(21 * kMiB, 22 * kMiB);  // no seek; from the stream, which closes at 22M
  h.ReadOk(22 * kMiB, 23 * kMiB);  // 4 MiB per seek: stream [22M, 26M)
  CHECK(h.policy->stream_limit() == 26 * kMiB);
  h.ReadOk(23 * kMiB, 24 * kMiB);
  h.ReadOk(24 * kMiB, 25 * kMiB);
  h.ReadOk(25 * kMiB, 26 * kMiB);
  CHECK(!h.policy->sequential());
  h.ReadOk(26 * kMiB, 27 * kMiB);  // 8 MiB per seek: sequential again, a 200 MiB stream
  CHECK(h.policy->sequential());
  CHECK(h.policy->stream_limit() == 226 * kMiB);
  CHECK(h.lower.requests == std::vector<Req>{{0, kMiB, 0, 0},
                                             {kMiB, 4 * kMiB, 0, 0},
                                             {20 * kMiB, 21 * kMiB, 0, 0},
                                             {21 * kMiB, 22 * kMiB, 0, 0},
                                             {22 * kMiB, 23 * kMiB, 0, 0},
                                             {23 * kMiB, 24 * kMiB, 0, 0},
                                             {24 * kMiB, 25 * kMiB, 0, 0},
                                             {25 * kMiB, 26 * kMiB, 0, 0},
                                             {26 * kMiB, 27 * kMiB, 0, 0}});
  CHECK(h.policy->streams_opened() == 4);
  CHECK(h.policy->seeks() == 1);
}

TEST_CASE("gcsfuse: streams are clipped at EOF - reads past it are empty", "[policies][gcsfuse]") {
  const std::uint64_t size = 10 * kMiB + 512 * kKiB;
  Harness h(size);
  h.ReadOk(0, 8 * kMiB);
  CHECK(h.policy->stream_limit() == size);
  auto r = h.Read(8 * kMiB, 12 * kMiB);
  REQUIRE(r.ok());
  CHECK(TotalLength(*r) == size - 8 * kMiB);
  CHECK(!h.policy->stream_open());  // reached its limit
  auto past = h.Read(size, size + kMiB);
  REQUIRE(past.ok());
  CHECK(TotalLength(*past) == 0);
  CHECK(h.lower.requests == std::vector<Req>{{0, 8 * kMiB, 0, 0}, {8 * kMiB, size, 0, 0}});
  CHECK(h.policy->streams_opened() == 1);
}

TEST_CASE("gcsfuse: an error from below fails the read and drops the stream", "[policies][gcsfuse]") {
  Harness h(512 * kMiB);
  h.lower.fail_at_request = 1;
  h.ReadOk(0, kMiB);
  auto r = h.Read(kMiB, 2 * kMiB);
  REQUIRE(!r.ok());
  CHECK(r.error().message.find("injected failure") != std::string::npos);
  CHECK(!h.policy->stream_open());
  h.ReadOk(kMiB, 2 * kMiB);  // RecordRead did not run: expected is still 1M, no seek; a new stream
  CHECK(h.lower.requests == std::vector<Req>{{0, kMiB, 0, 0}, {kMiB, 2 * kMiB, 0, 0}, {kMiB, 2 * kMiB, 0, 0}});
  CHECK(h.policy->seeks() == 0);
  CHECK(h.policy->streams_opened() == 2);
  CHECK(h.policy->stream_limit() == 201 * kMiB);

  SECTION("a failure in the middle of a read keeps the pieces before it") {
    Harness f(64 * kMiB, SequentialSize(4 * kMiB));
    f.lower.fail_at_request = 1;
    REQUIRE(!f.Read(0, 6 * kMiB).ok());  // [0, 4M) arrives, [4M, 6M) fails
    f.ReadOk(4 * kMiB, 6 * kMiB);        // expected 4M: no seek; stream [4M, 8M)
    CHECK(f.lower.requests ==
          std::vector<Req>{{0, 4 * kMiB, 0, 0}, {4 * kMiB, 6 * kMiB, 0, 0}, {4 * kMiB, 6 * kMiB, 0, 0}});
    CHECK(f.policy->seeks() == 0);
    CHECK(f.policy->streams_opened() == 3);
  }
}

TEST_CASE("gcsfuse: cancel completes the read as cancelled and cancels the request below", "[policies][gcsfuse]") {
  Harness h(512 * kMiB);
  std::optional<Result<Slices>> got;
  const ReadId id = h.policy->Read({0, kMiB}, [&](Result<Slices>&& r) { got = std::move(r); });
  h.policy->Cancel(id + 100);  // not the current read: nothing
  h.policy->Cancel(id);
  CHECK(!got.has_value());  // never inline
  h.scheduler.Run();
  REQUIRE(got.has_value());
  REQUIRE(!got->ok());
  CHECK(got->error().code == ErrorCode::kCancelled);
  CHECK(h.lower.cancelled == 1);
  h.ReadOk(0, kMiB);  // a new stream at 0; still no seek
  CHECK(h.lower.requests == std::vector<Req>{{0, kMiB, 0, 0}, {0, kMiB, 0, 0}});
  CHECK(h.policy->streams_opened() == 2);
  CHECK(h.policy->seeks() == 0);
  CHECK(h.policy->sequential());
}

TEST_CASE("gcsfuse: destroyed with a request in flight - the request is cancelled, no callback runs",
          "[policies][gcsfuse]") {
  sim::SimScheduler scheduler;
  NullEventSink events;
  testing::LoggingSource lower(&scheduler, 64 * kMiB, kMillisecond);
  bool called = false;
  {
    GcsfuseReader reader(LayerContext{&scheduler, &events, 0}, &lower, {});
    reader.Read({0, kMiB}, [&](Result<Slices>&&) { called = true; });
  }
  scheduler.Run();
  CHECK(!called);
  CHECK(lower.cancelled == 1);
}

TEST_CASE("gcsfuse: smaller FUSE READs do not change the requests of a stream", "[policies][gcsfuse]") {
  GcsfuseReaderOptions o;
  o.fuse_max = 128 * kKiB;
  Harness h(64 * kMiB, o);
  h.ReadOk(0, 3 * kMiB);  // 24 FUSE READs from one stream
  CHECK(h.lower.requests == std::vector<Req>{{0, 3 * kMiB, 0, 0}});
  h.ReadOk(20 * kMiB, 20 * kMiB + 3 * kMiB);  // seek 1: 3 MiB per seek -> a 3 MiB stream
  CHECK(h.lower.requests.back() == Req{20 * kMiB, 23 * kMiB, 0, 0});
  CHECK(!h.policy->stream_open());
}

TEST_CASE("gcsfuse: registry parameters", "[policies][gcsfuse]") {
  CHECK(ValidateStack(*ParseStackSpec("gcsfuse")).ok());
  CHECK(
      ValidateStack(*ParseStackSpec("gcsfuse(sequential_read_size=64MiB,fuse_max=128KiB) > concurrent(parts=4)")).ok());
  CHECK(ValidateStack(*ParseStackSpec("fsspec-readahead > gcsfuse")).ok());
  CHECK(!ValidateStack(*ParseStackSpec("gcsfuse(sequential_read_size=512KiB)")).ok());
  CHECK(!ValidateStack(*ParseStackSpec("gcsfuse(min_read_size=16MiB)")).ok());
  CHECK(!ValidateStack(*ParseStackSpec("gcsfuse(sequential-read-size-mb=200)")).ok());
  bool listed = false;
  for (const auto& p : RegisteredPolicies()) listed |= p.name == "gcsfuse";
  CHECK(listed);
}

// Over a layer with streams (the fetcher, here a LoggingSource that has them), each gcsfuse stream is
// one stream below: opened at [offset, limit), its requests are pulls, closed at its limit or when
// gcsfuse drops it.
struct StreamHarness : Harness {
  explicit StreamHarness(std::uint64_t size, GcsfuseReaderOptions options = {}) : Harness(size, options) {
    lower.streams = true;
  }
};

TEST_CASE("gcsfuse over streams: sequential reads are pulls from one 200 MiB stream", "[policies][gcsfuse][stream]") {
  StreamHarness h(512 * kMiB);
  h.ReadOk(0, kMiB);
  h.ReadOk(kMiB, 2 * kMiB);
  h.ReadOk(3 * kMiB, 7 * kMiB);  // skipBytes drops [2M, 3M) of the stream; four FUSE READs: one pull
  CHECK(h.lower.stream_opens == std::vector<Req>{{0, 200 * kMiB, 0, 0}});
  CHECK(h.lower.pulls == std::vector<Req>{{0, kMiB, 0, 0}, {kMiB, 2 * kMiB, 0, 0}, {2 * kMiB, 7 * kMiB, 0, 0}});
  CHECK(h.lower.requests.empty());
  CHECK(h.lower.stream_closes.empty());
  h.policy.reset();  // the handle is closed: so is its stream
  CHECK(h.lower.stream_closes == std::vector<Req>{{0, 7 * kMiB, 0, 0}});
}

TEST_CASE("gcsfuse over streams: a stream is closed at its limit - the next READ opens another",
          "[policies][gcsfuse][stream]") {
  StreamHarness h(64 * kMiB, SequentialSize(4 * kMiB));
  h.ReadOk(0, 10 * kMiB);
  CHECK(h.lower.stream_opens ==
        std::vector<Req>{{0, 4 * kMiB, 0, 0}, {4 * kMiB, 8 * kMiB, 0, 0}, {8 * kMiB, 12 * kMiB, 0, 0}});
  CHECK(h.lower.pulls ==
        std::vector<Req>{{0, 4 * kMiB, 0, 0}, {4 * kMiB, 8 * kMiB, 0, 0}, {8 * kMiB, 10 * kMiB, 0, 0}});
  CHECK(h.lower.stream_closes == std::vector<Req>{{0, 4 * kMiB, 0, 0}, {4 * kMiB, 8 * kMiB, 0, 0}});
  CHECK(h.lower.open_streams() == 1);
}

TEST_CASE("gcsfuse over streams: a gap skipped on a stream that is then too short is read and dropped first",
          "[policies][gcsfuse][stream]") {
  // A first read at 40M: random, a 1 MiB stream [40M, 41M). The next read at 40.5M is a seek (random
  // mode); skipBytes reads [40.25M, 40.5M) off the stream; then it cannot serve [40.5M, 41.5M):
  // closed. 0.25 MiB per seek: a new 1 MiB stream [40.5M, 41.5M), read to its limit and closed.
  const std::uint64_t q = 256 * kKiB;
  SECTION("with streams below") {
    StreamHarness h(64 * kMiB);
    h.ReadOk(40 * kMiB, 40 * kMiB + q);
    h.ReadOk(40 * kMiB + 2 * q, 41 * kMiB + 2 * q);
    CHECK(h.lower.stream_opens ==
          std::vector<Req>{{40 * kMiB, 41 * kMiB, 0, 0}, {40 * kMiB + 2 * q, 41 * kMiB + 2 * q, 0, 0}});
    CHECK(h.lower.pulls == std::vector<Req>{{40 * kMiB, 40 * kMiB + q, 0, 0},
                                            {40 * kMiB + q, 40 * kMiB + 2 * q, 0, 0},
                                            {40 * kMiB + 2 * q, 41 * kMiB + 2 * q, 0, 0}});
    CHECK(h.lower.stream_closes ==
          std::vector<Req>{{40 * kMiB, 40 * kMiB + 2 * q, 0, 0}, {40 * kMiB + 2 * q, 41 * kMiB + 2 * q, 0, 0}});
    CHECK(h.policy->seeks() == 1);
  }
  SECTION("over a layer without streams the gap is not fetched") {
    Harness h(64 * kMiB);
    h.ReadOk(40 * kMiB, 40 * kMiB + q);
    h.ReadOk(40 * kMiB + 2 * q, 41 * kMiB + 2 * q);
    CHECK(h.lower.requests ==
          std::vector<Req>{{40 * kMiB, 40 * kMiB + q, 0, 0}, {40 * kMiB + 2 * q, 41 * kMiB + 2 * q, 0, 0}});
  }
}

TEST_CASE("gcsfuse over streams: a failed pull drops the stream - cancel and destroy close it",
          "[policies][gcsfuse][stream]") {
  SECTION("cancel") {
    StreamHarness h(64 * kMiB);
    const ReadId id = h.Start(0, kMiB);
    h.policy->Cancel(id);
    h.scheduler.Run();
    REQUIRE(h.got.has_value());
    CHECK(h.got->error().code == ErrorCode::kCancelled);
    CHECK(h.lower.stream_closes.size() == 1);
    h.ReadOk(0, kMiB);  // a new stream
    CHECK(h.lower.stream_opens.size() == 2);
  }
  SECTION("destroy with a pull in flight") {
    StreamHarness h(64 * kMiB);
    h.Start(0, kMiB);
    h.policy.reset();
    h.scheduler.Run();
    CHECK(!h.got.has_value());
    CHECK(h.lower.open_streams() == 0);
  }
}

// The whole path in simulation: the fetcher maps gcsfuse's streams onto the simulator's.
replay::RunResult Simulate(const traces::Trace& trace, const std::string& policy) {
  replay::SimulationConfig c = testing::RunConfig(trace, policy);
  c.profile.latency_p99_ns = 0;  // constant 35 ms, so the numbers below can be worked by hand
  auto r = replay::RunSimulation(c);
  REQUIRE(r.ok());
  CHECK(r->metrics.reads_wrong == 0);  // verify_bytes: every delivered byte checked
  CHECK(r->errors.empty());
  return *r;
}

TEST_CASE("gcsfuse in simulation: a sequential stream pays first-byte latency once", "[policies][gcsfuse][stream]") {
  traces::GeneratorParams params;
  params.object_size = 64 * kMiB;
  params.read_size = kMiB;
  params.count = 8;
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  const auto none = Simulate(*trace, "none");
  const auto fuse = Simulate(*trace, "gcsfuse");
  // none: 8 x (35 ms + 1 MiB at 220 MB/s). gcsfuse: one GET, 35 ms + 8 MiB at 220 MB/s.
  const double per_read = 0.035 + static_cast<double>(kMiB) / 220e6;
  CHECK(none.metrics.elapsed_s == Approx(8 * per_read).epsilon(1e-6));
  CHECK(fuse.metrics.elapsed_s == Approx(0.035 + 8.0 * static_cast<double>(kMiB) / 220e6).epsilon(1e-6));
  CHECK(fuse.metrics.requests == 1);
  CHECK(fuse.metrics.requests_cancelled == 1);  // closed at the end, 56 MiB short of its limit
  // The stream ran 6 MiB (the receive window) ahead of the last read: fetched, never delivered.
  CHECK(fuse.metrics.bytes_read == 8 * kMiB);
  CHECK(fuse.metrics.bytes_fetched == 14 * kMiB);
  CHECK(fuse.metrics.bytes_wasted == 6 * kMiB);
}

TEST_CASE("gcsfuse in simulation: more open streams than connections - none waits for another to close",
          "[policies][gcsfuse][stream]") {
  traces::GeneratorParams params;
  params.object_size = 64 * kMiB;
  params.read_size = kMiB;
  params.count = 32;
  params.streams = 8;
  auto trace = traces::Generate("multi-stream", params);
  REQUIRE(trace.ok());
  replay::SimulationConfig c = testing::RunConfig(*trace, "gcsfuse");
  c.profile_name = "two connections";
  c.profile.max_connections = 2;  // eight readers keep eight streams open between their reads
  auto r = replay::RunSimulation(c);
  REQUIRE(r.ok());
  CHECK(r->metrics.reads_wrong == 0);
  CHECK(r->metrics.reads == 32);
  CHECK(r->metrics.reads_failed == 0);
  CHECK(r->metrics.bytes_read == 32 * kMiB);
}

}  // namespace
}  // namespace pflab::policies
