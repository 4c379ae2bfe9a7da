// `--think zero` for the gcsfs prefetchers against upstream gcsfs read by a Python program with no
// pause between reads. Such a program still gives the event loop a turn between reads, so fetches
// that are already complete are consumed before the next read starts; the replayer models the turn
// (Scheduler::PostIdle: the next read runs after every event due at that instant, and those they post
// for it, in zero virtual time).
//
// The expected sequences were obtained by running fsspec/gcsfs gcsfs/prefetcher.py (5596df92 for
// v795, 20c58d0d for main) from Debian's /usr/bin/python3 with a fetcher coroutine that logs
// (offset, size) and returns at once, concurrency 4, max_prefetch_size 256 MiB, and a plain loop of
// reads on the main thread (`_fetch` for v795, `fetch` for main) with no sleep between them; five runs
// each, all identical, and identical again with time.sleep(1e-6) and time.sleep(0.02) between reads.
//
// The network here answers in zero time (no latency, unlimited bandwidth), as that fetcher does. Over a
// finite bandwidth, however high, a transfer takes at least the clock's tick (1 ns: rounding it down
// would let runs beat the lower bound of replay/bound.h), so it is still in flight when a zero-think
// read comes; see docs/cli.md, `--think`.
#include <catch2/catch.hpp>
#include <limits>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "engine/units.h"
#include "replay/simulation.h"
#include "tests/support/run_config.h"
#include "traces/trace_io.h"

namespace pflab::policies {
namespace {

using Reads = std::vector<std::pair<std::uint64_t, std::uint64_t>>;

// The gcsfs layer's requests to the layer below, as "offset+length" words.
struct RequestLog final : EventSink {
  std::string layer;
  std::string log;
  void OnEvent(const Event& e) override {
    if (e.type != EventType::kFetchStart || layer != e.layer) return;
    if (!log.empty()) log += ' ';
    log += std::to_string(e.offset) + "+" + std::to_string(e.length);
  }
};

// One stream reading `reads` of a 64 MiB object in order, `gap` apart as recorded (no durations, so
// the recorded think time is `gap`), through `policy` over a network that answers at once: the
// upstream harness's instant fetcher.
std::string Requests(const std::string& policy, const Reads& reads, const std::string& think, Nanos gap,
                     double bandwidth = std::numeric_limits<double>::infinity()) {
  std::ostringstream text;
  text << R"({"format":"pflab-trace","version":1,"objects":[{"id":"o0","name":"a.bin","size":)" << 64 * kMiB << "}]}\n";
  Nanos t = 0;
  for (auto [begin, end] : reads) {
    text << R"({"t":)" << t << R"(,"offset":)" << begin << R"(,"length":)" << end - begin << "}\n";
    t += gap;
  }
  std::istringstream in(text.str());
  auto trace = traces::ParseTrace(in, "t.jsonl");
  REQUIRE(trace.ok());
  auto c = testing::RunConfig(*trace, policy + "(concurrency=4,max=256MiB)", "gcs-regional");
  c.profile.latency_median_ns = c.profile.latency_p99_ns = c.profile.latency_min_ns = 0;
  c.profile.stream_bandwidth_bytes_per_s = c.profile.link_bandwidth_bytes_per_s = bandwidth;
  auto parsed = replay::ThinkTime::Parse(think);
  REQUIRE(parsed.ok());
  c.think = *parsed;
  RequestLog log;
  log.layer = policy;
  c.event_log = &log;
  auto r = replay::RunSimulation(c);
  REQUIRE(r.ok());
  REQUIRE_FALSE(r->failed());  // every byte checked
  return log.log;
}

// Two sequences found by a seeded random search (1-4 MiB reads, halved at random, some jumps) where
// zero think used to differ from upstream.
const Reads kA = {{0, 1048576},         {1048576, 2097152},   {2097152, 3670016},
                  {3670016, 5767168},   {29360128, 33554432}, {33554432, 34603008},
                  {34603008, 38797312}, {38797312, 41943040}, {41943040, 46137344}};
const Reads kB = {{0, 524288},         {524288, 1572864},    {8388608, 9437184},   {9437184, 9961472},
                  {9961472, 12058624}, {24117248, 25165824}, {25165824, 29360128}, {18874368, 19922944}};

TEST_CASE("gcsfs think zero: the requests of upstream gcsfs read without a pause", "[policies][gcsfs][think]") {
  struct Case {
    const char* policy;
    const Reads* reads;
    const char* upstream;
  };
  const Case cases[] = {
      {"gcsfs-v795", &kA,
       "0+1048576 1048576+1048576 2097152+1048576 3145728+1048576 4194304+1048576 5242880+5242880 "
       "29360128+4194304 33554432+5242880 38797312+5242880 44040192+5242880 49283072+5242880 54525952+5242880"},
      {"gcsfs-adaptive", &kA,
       "0+1048576 1048576+1048576 2097152+1572864 3670016+1572864 5242880+2097152 7340032+2097152 9437184+655360 "
       "29360128+4194304 33554432+1048576 34603008+4194304 38797312+4194304 42991616+5242880 48234496+5242880 "
       "53477376+5242880"},
      {"gcsfs-v795", &kB,
       "0+524288 524288+786432 1310720+786432 2097152+786432 2883584+786432 3670016+786432 8388608+1048576 "
       "9437184+786432 10223616+786432 11010048+786432 11796480+5242880 24117248+1048576 25165824+5242880 "
       "18874368+1048576"},
      {"gcsfs-adaptive", &kB,
       "0+524288 524288+1048576 8388608+1048576 9437184+524288 9961472+2097152 12058624+2097152 24117248+1048576 "
       "25165824+4194304 18874368+1048576"},
  };
  for (const Case& c : cases) {
    INFO(c.policy << (c.reads == &kA ? " A" : " B"));
    CHECK(Requests(c.policy, *c.reads, "zero", kMicrosecond) == c.upstream);
    CHECK(Requests(c.policy, *c.reads, "recorded", kMicrosecond) == c.upstream);
    CHECK(Requests(c.policy, *c.reads, "recorded", 20 * kMillisecond) == c.upstream);
  }
}

TEST_CASE("gcsfs think zero: random sequences make the requests of a 1 us think time", "[policies][gcsfs][think]") {
  // Over an instant network a microsecond of think time lets every fetch complete, as the upstream
  // loop does between unpaused reads; zero think must not differ from it.
  std::mt19937_64 rng(7);
  // Without the loop turn (Scheduler::PostIdle) trials 218 and 353 differ.
  for (int trial = 0; trial < 400; ++trial) {
    Reads reads;
    std::uint64_t at = 0;
    const int n = 4 + static_cast<int>(rng() % 10);
    for (int i = 0; i < n; ++i) {
      // One draw per statement: the order of two draws in one expression is unspecified, and
      // compilers differ in it, so the sequences would differ from build to build.
      const std::uint64_t pieces = 1 + rng() % 4;
      const std::uint64_t halves = 1 + rng() % 2;
      const std::uint64_t len = pieces * kMiB / halves;
      if (rng() % 4 == 0) at = (rng() % 48) * kMiB;
      if (at + len > 64 * kMiB) at = 0;
      reads.push_back({at, at + len});
      at += len;
    }
    for (const char* policy : {"gcsfs-v795", "gcsfs-adaptive"}) {
      INFO(policy << " trial " << trial);
      CHECK(Requests(policy, reads, "zero", kMicrosecond) == Requests(policy, reads, "recorded", kMicrosecond));
    }
  }
}

}  // namespace
}  // namespace pflab::policies
