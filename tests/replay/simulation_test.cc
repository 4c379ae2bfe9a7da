// Whole runs: every policy on every pattern with every delivered byte checked, determinism of the
// event log, closed-loop think time, and metric identities.
#include "replay/simulation.h"

#include <algorithm>
#include <catch2/catch.hpp>
#include <initializer_list>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "engine/units.h"
#include "policies/registry.h"
#include "replay/matrix.h"
#include "tests/support/run_config.h"
#include "traces/generators.h"

namespace pflab::replay {
namespace {

// These runs use seed 3 and check bytes where a test says so (checking costs time on the large traces).
SimulationConfig Config(const traces::Trace& trace, const std::string& policy, const char* profile = "gcs-regional") {
  SimulationConfig c = testing::RunConfig(trace, policy, profile);
  c.seed = 3;
  c.verify_bytes = false;
  return c;
}

std::uint64_t ExpectedBytes(const traces::Trace& t) {
  std::uint64_t total = 0;
  for (const auto& r : t.records) total += r.length;
  return total;
}

class VectorSink final : public EventSink {
 public:
  void OnEvent(const Event& e) override { events.push_back(e); }
  std::vector<Event> events;
};

bool Same(const std::vector<Event>& x, const std::vector<Event>& y) {
  if (x.size() != y.size()) return false;
  for (std::size_t i = 0; i < x.size(); ++i) {
    const Event& a = x[i];
    const Event& b = y[i];
    if (a.t_ns != b.t_ns || a.type != b.type || std::string(a.layer) != b.layer || a.stream != b.stream ||
        a.offset != b.offset || a.length != b.length || a.bytes != b.bytes) {
      return false;
    }
  }
  return true;
}

// The generators' patterns, `count` reads each, three streams where a pattern has several.
std::vector<traces::Trace> Patterns(std::initializer_list<const char*> patterns, std::uint64_t count) {
  std::vector<traces::Trace> out;
  for (const char* pattern : patterns) {
    traces::GeneratorParams params;
    params.count = count;
    params.streams = 3;
    auto trace = traces::Generate(pattern, params);
    REQUIRE(trace.ok());
    out.push_back(std::move(*trace));
  }
  return out;
}

// Every registered policy with its defaults (fsspec-parts is tested with parts below), and stacks.
std::vector<std::string> AllPolicies() {
  std::vector<std::string> out = testing::DefaultPolicies();
  out.push_back("gcsfs-v795(concurrency=4)");
  out.push_back("fsspec-readahead > gcsfs-v795");
  out.push_back("fsspec-readahead(blocksize=1MiB) > gcsfs-adaptive(concurrency=2) > concurrent(parts=2,min=256KiB)");
  out.push_back("concurrent(parts=4,min=64KiB,rule=v795)");
  // fsspec caches with small blocks, so blocks are evicted and split across reads.
  out.push_back("fsspec-blockcache(blocksize=300KiB,maxblocks=2) > gcsfs-v795");
  out.push_back("fsspec-background(blocksize=300KiB,maxblocks=2)");
  out.push_back("fsspec-mmap(blocksize=300KiB)");
  out.push_back("fsspec-bytes(blocksize=100KiB)");
  out.push_back("fsspec-first(blocksize=1MiB) > fsspec-bytes(blocksize=1MiB)");
  return out;
}

TEST_CASE("simulation: every policy on every pattern delivers exactly the object's bytes", "[replay][bytes]") {
  for (const auto& pattern : traces::Patterns()) {
    traces::GeneratorParams params;
    params.object_size = 24 * kMiB + 12345;
    params.read_size = 200 * kKiB;
    params.count = 150;
    auto trace = traces::Generate(pattern.name, params);
    REQUIRE(trace.ok());
    for (const auto& policy : AllPolicies()) {
      for (const char* profile : {"gcs-regional", "local-fast"}) {
        INFO(pattern.name << " x " << policy << " on " << profile);
        SimulationConfig c = Config(*trace, policy, profile);
        c.verify_bytes = true;
        auto result = RunSimulation(c);
        REQUIRE(result.ok());
        const Metrics& m = result->metrics;
        CHECK(m.reads == trace->records.size());
        CHECK(m.reads_failed == 0);
        CHECK(m.reads_wrong == 0);  // verify_bytes: every delivered byte checked
        CHECK(result->errors.empty());
        CHECK(m.bytes_read == ExpectedBytes(*trace));
        CHECK(m.bytes_fetched >= m.bytes_wasted);
        CHECK(m.requests >= 1);
        CHECK(m.peak_memory_bytes > 0);
      }
    }
  }
}

TEST_CASE("simulation: every two-layer stack the registry accepts delivers every read", "[replay][bytes][registry]") {
  // Two streams of one 256 KiB object: sequential, a backward jump, the last bytes, an empty read and a
  // hint (the fuzzer's trace: a gcsfs prefetcher over another lost all but one of its concurrent reads).
  traces::Trace t;
  t.name = "pairs";
  t.objects.push_back({"o0", "b", "o", 256 * kKiB});
  std::uint64_t offset = 0;
  for (int i = 0; i < 6; ++i, offset += 5000) t.records.push_back({i * 1000, 0, 0, offset, 5000, -1});
  t.records.push_back({7000, 1, 0, 200000, 30000, -1});
  t.records.push_back({8000, 1, 0, 1000, 70000, -1});
  t.records.push_back({9000, 0, 0, 256 * kKiB - 100, 100, -1});
  t.records.push_back({9000, 1, 0, 77, 0, -1});
  t.hints.push_back({6500, 1, 0, {{200000, 230000}, {1000, 71000}}, 6});
  std::size_t ran = 0;
  for (const auto& upper : testing::DefaultPolicies()) {
    for (const auto& lower : testing::DefaultPolicies()) {
      auto spec = policies::ParseStackSpec(upper + " > " + lower);
      if (!spec.ok() || !policies::ValidateStack(*spec).ok()) continue;  // placement: rejected up front
      INFO(upper << " > " << lower);
      SimulationConfig c = Config(t, upper + " > " + lower);
      c.verify_bytes = true;
      auto result = RunSimulation(c);
      REQUIRE(result.ok());
      CHECK(result->metrics.reads == t.records.size());
      CHECK_FALSE(result->failed());
      CHECK(result->metrics.bytes_read == ExpectedBytes(t));
      ++ran;
    }
  }
  CHECK(ran > 100);  // most pairs are valid: the placement rules reject only some
}

// A cache above `auto` keeps buffers charged to auto's file: auto is never told when it lets them go,
// so a read that waited for that memory waited forever (the run stopped with its reads outstanding).
TEST_CASE("simulation: auto under a cache that keeps its buffers still serves every read", "[replay][bytes][auto]") {
  traces::GeneratorParams params;
  params.object_size = 64 * kMiB;
  params.read_size = 64 * kKiB;
  params.count = 200;
  for (const char* pattern : {"random", "sequential", "multi-stream"}) {
    auto trace = traces::Generate(pattern, params);
    REQUIRE(trace.ok());
    for (const char* policy :
         {"fsspec-mmap(blocksize=1MiB) > auto(memory=4MiB,shared_memory=8MiB)",
          "fsspec-blockcache(blocksize=1MiB,maxblocks=6) > auto(memory=4MiB,shared_memory=8MiB)"}) {
      INFO(pattern << " x " << policy);
      SimulationConfig c = Config(*trace, policy);
      c.verify_bytes = true;
      auto result = RunSimulation(c);
      REQUIRE(result.ok());
      CHECK(result->metrics.reads == trace->records.size());
      CHECK_FALSE(result->failed());
      CHECK(result->errors.empty());
      CHECK(result->metrics.bytes_read == ExpectedBytes(*trace));
      // The cache above holds more than auto's budget (mmap keeps every block): only reads that went
      // over it, by what each needed alone, could finish.
      if (std::string(pattern) != "sequential") CHECK(result->metrics.peak_memory_bytes > 4 * kMiB);
    }
  }
}

TEST_CASE("simulation: fsspec-parts delivers the known parts' bytes", "[replay][bytes][fsspec]") {
  traces::Trace t;
  t.name = "parts";
  const std::uint64_t size = 24 * kMiB + 12345;
  t.objects.push_back({"o0", "b", "o", size});
  // Reads inside the parts only: a read reaching into a gap gets zeros, not the object's bytes.
  for (std::uint64_t offset : {std::uint64_t{0}, 512 * kKiB, 10 * kMiB, 11 * kMiB + 7, 24 * kMiB, std::uint64_t{100}}) {
    const std::uint64_t length = std::min<std::uint64_t>(300 * kKiB, size - offset);
    t.records.push_back({0, 0, 0, offset, length, -1});
  }
  for (const char* profile : {"gcs-regional", "local-fast"}) {
    SimulationConfig c = Config(t, "fsspec-parts(parts=0-1MiB;10MiB-12MiB;24MiB-30MiB)", profile);
    c.verify_bytes = true;
    auto result = RunSimulation(c);
    REQUIRE(result.ok());
    CHECK(result->metrics.reads_failed == 0);
    CHECK(result->metrics.reads_wrong == 0);
    CHECK(result->metrics.bytes_read == ExpectedBytes(t));
    CHECK(result->metrics.requests == 3);  // the parts, once (the last one clipped to the object)
  }
}

TEST_CASE("simulation: the same seed gives the same event log and numbers", "[replay][determinism]") {
  traces::GeneratorParams params;
  params.count = 300;
  params.streams = 3;
  auto trace = traces::Generate("multi-stream", params);
  REQUIRE(trace.ok());
  for (const char* policy : {"gcsfs-adaptive", "fsspec-readahead > gcsfs-v795", "none"}) {
    INFO(policy);
    VectorSink a, b, c;
    SimulationConfig config = Config(*trace, policy);
    config.event_log = &a;
    auto ra = RunSimulation(config);
    config.event_log = &b;
    auto rb = RunSimulation(config);
    config.seed = 4;
    config.event_log = &c;
    auto rc = RunSimulation(config);
    REQUIRE((ra.ok() && rb.ok() && rc.ok()));
    CHECK(a.events.size() > 600);  // 300 reads emit 600 reader events, plus fetches
    CHECK(Same(a.events, b.events));
    CHECK(!Same(a.events, c.events));
    CHECK(ra->metrics.ToJson() == rb->metrics.ToJson());
    CHECK(ra->events_run == rb->events_run);
  }
}

TEST_CASE("simulation: reads served in place give the same runs as posted completions", "[replay][served]") {
  // SimulationConfig::served_reads completes reads served from memory without posting their completion
  // and issues the next read in the same task, only when those tasks would have been the next events
  // anyway. Every policy on patterns with re-reads, hints, several streams and think time, both ways:
  // the same event log, metrics and event count, and the shortcut taken where reads hit memory.
  std::vector<traces::Trace> traces =
      Patterns({"sequential", "backtrack", "multi-stream", "parquet-hinted", "mix"}, 200);
  // Streams in lockstep: the same recorded times, so on a constant-latency network their reads are
  // issued at the same instants, and a read served from memory often finds other streams' completions
  // already queued for that instant (it must then wait its turn behind them).
  traces::Trace lockstep;
  lockstep.name = "lockstep";
  lockstep.objects.push_back({"o0", "b", "o", 64 * kMiB});
  for (std::uint64_t i = 0; i < 100; ++i) {
    for (std::uint32_t stream = 0; stream < 4; ++stream) {
      lockstep.records.push_back({static_cast<Nanos>(i) * kMillisecond, stream, 0, i * 64 * kKiB, 64 * kKiB, -1});
    }
  }
  traces.push_back(lockstep);
  std::uint64_t taken_total = 0;
  for (const traces::Trace& trace : traces) {
    for (const std::string& policy : AllPolicies()) {
      for (const char* think : {"recorded", "zero"}) {
        const char* profile = trace.name == "lockstep" ? "local-fast" : "gcs-regional-flaky";
        INFO(trace.name << " " << policy << " " << think << " " << profile);
        VectorSink posted, served;
        SimulationConfig config = Config(trace, policy, profile);
        config.think = *ThinkTime::Parse(think);
        config.served_reads = false;
        config.event_log = &posted;
        auto a = RunSimulation(config);
        config.served_reads = true;
        config.event_log = &served;
        auto b = RunSimulation(config);
        REQUIRE((a.ok() && b.ok()));
        CHECK(a->turns_taken == 0);
        CHECK(Same(posted.events, served.events));
        CHECK(a->metrics.ToJson() == b->metrics.ToJson());
        CHECK(a->events_run == b->events_run);
        taken_total += b->turns_taken;
      }
    }
  }
  CHECK(taken_total > 0);
  // Sequential small reads through a read-ahead window: nearly every read is served in place, and the
  // next one issued there (two turns a read).
  traces::GeneratorParams params;
  params.count = 400;
  params.read_size = 64 * kKiB;
  auto sequential = traces::Generate("sequential", params);
  REQUIRE(sequential.ok());
  SimulationConfig config = Config(*sequential, "fsspec-readahead");
  config.think = *ThinkTime::Parse("zero");
  auto run = RunSimulation(config);
  REQUIRE(run.ok());
  CHECK(run->turns_taken > 2 * 400 * 9 / 10);
  CHECK(run->events_run >= run->turns_taken);
}

// Reads and backend requests only, as MetricsCollector: the policy layers' fetch events are not emitted.
class ReadsAndRequestsSink final : public EventSink {
 public:
  void OnEvent(const Event& e) override { events.push_back(e); }
  bool wants_layer_fetches() const override { return false; }
  std::vector<Event> events;
};

TEST_CASE("simulation: a run whose sinks want no layer fetch events skips them, and nothing else changes",
          "[replay][determinism]") {
  // A sweep's or benchmark's run has no event log: its only sink counts reads and backend requests,
  // and the policy layers' own fetch events (two a request) are not emitted. The same run with a full
  // event log has the same reader and backend events in the same order, the same numbers and the same
  // scheduler events; the layers' events are all that is missing.
  const std::vector<traces::Trace> traces = Patterns({"backtrack", "multi-stream", "parquet-hinted"}, 150);
  std::size_t layer_fetches_total = 0;
  for (const traces::Trace& trace : traces) {
    for (const std::string& policy : AllPolicies()) {
      INFO(trace.name << " " << policy);
      VectorSink full;
      ReadsAndRequestsSink thin;
      SimulationConfig config = Config(trace, policy, "gcs-regional-flaky");
      config.event_log = &full;
      auto a = RunSimulation(config);
      config.event_log = &thin;
      auto b = RunSimulation(config);
      REQUIRE((a.ok() && b.ok()));
      std::vector<Event> kept;
      std::size_t layer_fetches = 0;
      for (const Event& e : full.events) {
        const bool reader = std::string(e.layer) == "reader";
        if (reader || std::string(e.layer) == kBackendLayer) {
          kept.push_back(e);
        } else {
          ++layer_fetches;
        }
      }
      layer_fetches_total += layer_fetches;
      CHECK(Same(kept, thin.events));
      CHECK(a->metrics.ToJson() == b->metrics.ToJson());
      CHECK(a->events_run == b->events_run);
    }
  }
  CHECK(layer_fetches_total > 0);
}

TEST_CASE("simulation: closed loop with recorded think time", "[replay][think]") {
  // Constant 10 ms latency, 1 GB/s: a 1 MB read takes 11 ms.
  traces::Trace t;
  t.name = "hand";
  t.objects.push_back({"o0", "b", "o", 100 * 1000 * 1000});
  // Issued at 0, 50 ms (after a 20 ms recorded read, so 30 ms think) and 60 ms (dur unknown after the
  // second read: think 10 ms).
  t.records = {{0, 0, 0, 0, 1000000, 20 * kMillisecond},
               {50 * kMillisecond, 0, 0, 1000000, 1000000, -1},
               {60 * kMillisecond, 0, 0, 2000000, 1000000, -1}};
  SimulationConfig c = Config(t, "none", "local-fast");
  c.profile.latency_median_ns = 10 * kMillisecond;
  c.profile.stream_bandwidth_bytes_per_s = 1e9;
  auto recorded = RunSimulation(c);
  REQUIRE(recorded.ok());
  // 11 + 30 + 11 + 10 + 11 ms.
  CHECK(recorded->metrics.elapsed_s == Approx(0.073).margin(1e-9));
  CHECK(recorded->metrics.stall_s == Approx(0.033).margin(1e-9));
  c.think = *ThinkTime::Parse("zero");
  CHECK(RunSimulation(c)->metrics.elapsed_s == Approx(0.033).margin(1e-9));
  c.think = *ThinkTime::Parse("x2");
  CHECK(RunSimulation(c)->metrics.elapsed_s == Approx(0.113).margin(1e-9));
  CHECK(!ThinkTime::Parse("x").ok());
  CHECK(!ThinkTime::Parse("fast").ok());
}

TEST_CASE("simulation: the reader's time per MiB is one host's, and a stream's next read waits for its backlog",
          "[replay][think]") {
  // Constant 10 ms first byte, 1 MiB a millisecond: a 1 MiB read takes 11 ms; then 2 ms of the host's
  // time on its bytes. Stream 0 reads at 0 (done at 11 ms, its bytes until 13 ms) and again with no
  // think time; stream 1 reads at 1 ms (done at 12 ms, its bytes until 15 ms: the host was busy).
  traces::Trace t;
  t.name = "hand";
  t.objects.push_back({"o0", "b", "o", 64 * kMiB});
  t.records = {{0, 0, 0, 0, kMiB, -1}, {0, 0, 0, kMiB, kMiB, -1}, {kMillisecond, 1, 0, 32 * kMiB, kMiB, -1}};
  SimulationConfig c = Config(t, "none", "local-fast");
  c.profile.latency_median_ns = 10 * kMillisecond;
  c.profile.stream_bandwidth_bytes_per_s = 1000.0 * kMiB;
  c.profile.read_overhead_ns_per_mib = 2 * kMillisecond;
  VectorSink sink;
  c.event_log = &sink;
  auto run = RunSimulation(c);
  REQUIRE(run.ok());
  std::vector<Nanos> starts;
  for (const Event& e : sink.events) {
    if (e.type == EventType::kReadStart && e.stream == 0) starts.push_back(e.t_ns);
  }
  // Stream 0's second read waits for the host to finish stream 1's bytes too (as the real engine's loop
  // runs the completions already queued before a due timer), not only its own.
  CHECK(starts == std::vector<Nanos>{0, 15 * kMillisecond});
  CHECK(run->metrics.elapsed_s == Approx(0.026).margin(1e-9));
  // Without the host's time the same reads overlap freely.
  c.profile.read_overhead_ns_per_mib = 0;
  sink.events.clear();
  REQUIRE(RunSimulation(c).ok());
  starts.clear();
  for (const Event& e : sink.events) {
    if (e.type == EventType::kReadStart && e.stream == 0) starts.push_back(e.t_ns);
  }
  CHECK(starts == std::vector<Nanos>{0, 11 * kMillisecond});
}

TEST_CASE("simulation: metric identities for none and readahead", "[replay][metrics]") {
  auto seq = traces::Generate("sequential", {});
  auto rnd = traces::Generate("random", {});
  REQUIRE((seq.ok() && rnd.ok()));
  auto none = RunSimulation(Config(*seq, "none"));
  REQUIRE(none.ok());
  CHECK(none->metrics.requests == seq->records.size());
  CHECK(none->metrics.bytes_fetched == none->metrics.bytes_read);
  CHECK(none->metrics.bytes_wasted == 0);
  CHECK(none->metrics.peak_memory_bytes == kMiB);
  CHECK(none->metrics.cost_usd == Approx(4e-7 * static_cast<double>(seq->records.size())));
  CHECK(none->metrics.stall_s == Approx(none->metrics.elapsed_s));

  auto ra = RunSimulation(Config(*rnd, "fsspec-readahead"));
  REQUIRE(ra.ok());
  // Random 1 MiB reads over 1 GiB: nearly every read misses and fetches 6 MiB, using 1 of them.
  CHECK(ra->metrics.bytes_fetched > 5 * ra->metrics.bytes_read);
  CHECK(ra->metrics.bytes_wasted >= ra->metrics.bytes_fetched - ra->metrics.bytes_read);
}

TEST_CASE("simulation: parallel streams overlap", "[replay][metrics]") {
  traces::GeneratorParams params;
  params.streams = 4;
  auto trace = traces::Generate("multi-stream", params);
  REQUIRE(trace.ok());
  auto r = RunSimulation(Config(*trace, "none"));
  REQUIRE(r.ok());
  CHECK(r->metrics.stall_s > 3 * r->metrics.elapsed_s);
}

TEST_CASE("simulation: a run whose time would pass the clock's horizon stops there and says why", "[replay]") {
  // 1 B/s and a latency draw that can reach years: 64 GiB reads of a 1 TiB object need 2^36 s each.
  traces::GeneratorParams params;
  params.object_size = kTiB;
  params.read_size = 64 * kGiB;
  params.count = 3;
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  // (auto is left out for time: at a byte per second it buys the object in parts, 8 s of CPU here)
  for (const char* policy : {"none", "fsspec-all", "gcsfs-adaptive"}) {
    INFO(policy);
    SimulationConfig c = Config(*trace, policy);
    c.profile.stream_bandwidth_bytes_per_s = 1;
    c.profile.link_bandwidth_bytes_per_s = 1;
    c.profile.latency_median_ns = kSecond;
    c.profile.latency_p99_ns = 3600 * kSecond;
    auto r = RunSimulation(c);
    REQUIRE(r.ok());
    CHECK(r->metrics.reads_failed == 0);
    REQUIRE(r->errors.total == 1);
    CHECK(r->errors.first[0].kind == RunError::Kind::kHang);
    CHECK_THAT(r->errors.first[0].message,
               Catch::Contains("3 of 3 reads never completed") && Catch::Contains("horizon of 2^62 ns"));
    CHECK(r->metrics.elapsed_s <= static_cast<double>(kTimeHorizon) / 1e9);
  }
  // The same trace at a real bandwidth finishes: the stop is the profile's doing.
  auto fine = RunSimulation(Config(*trace, "none"));
  REQUIRE(fine.ok());
  CHECK(fine->errors.empty());
}

TEST_CASE("simulation: progress is heard every 65,536 reads, in a matrix only one cell at a time - the run unchanged",
          "[replay]") {
  traces::GeneratorParams params;
  params.count = 200000;
  params.read_size = 4 * kKiB;
  params.object_size = params.count * params.read_size;
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  REQUIRE(trace->records.size() == 200000);
  SimulationConfig config = Config(*trace, "fsspec-readahead");
  const auto quiet = RunSimulation(config);
  REQUIRE(quiet.ok());
  std::vector<std::uint64_t> heard;
  config.on_progress = [&](std::uint64_t done) { heard.push_back(done); };
  config.progress_events = 0;  // the reads' progress alone (the events' is the next test's)
  const auto told = RunSimulation(config);
  REQUIRE(told.ok());
  CHECK(heard == std::vector<std::uint64_t>{65536, 131072, 196608});
  CHECK(told->metrics.elapsed_s == quiet->metrics.elapsed_s);
  CHECK(told->events_run == quiet->events_run);

  RunPlan plan;
  plan.traces = {&*trace};
  plan.policies = {*policies::ParseStackSpec("none"), *policies::ParseStackSpec("fsspec-readahead")};
  plan.profile = config.profile;
  plan.profile_name = config.profile_name;
  for (const unsigned jobs : {1u, 2u}) {
    INFO("jobs " << jobs);
    RunHooks hooks;
    hooks.jobs = jobs;
    std::vector<std::pair<std::size_t, std::uint64_t>> progress;
    std::optional<std::size_t> running;
    bool outside = false;
    hooks.on_start = [&](const RunCell& cell) { running = cell.index; };
    hooks.on_progress = [&](const RunCell& cell, std::uint64_t done) {
      outside |= running != cell.index;
      progress.emplace_back(cell.index, done);
    };
    hooks.on_finish = [&](const RunCell&, Result<RunResult>&&) {
      running.reset();
      return true;
    };
    REQUIRE(RunMatrix(plan, hooks).ok());
    CHECK_FALSE(outside);
    // Two simulated cells of 200,000 reads (the bound is computed): three each, one cell at a time.
    CHECK(progress.size() == (jobs == 1 ? 6u : 0u));
  }
}

TEST_CASE("simulation: a run whose reads take many events is heard from before its first read completes", "[replay]") {
  // One 1 MiB read through a block cache of 4 KiB blocks: 256 requests, an event each, no read
  // done until the last of them.
  traces::GeneratorParams params;
  params.count = 1;
  params.read_size = 1 * kMiB;
  params.object_size = 4 * kMiB;
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  SimulationConfig config = Config(*trace, "fsspec-blockcache(blocksize=4KiB)");
  const auto quiet = RunSimulation(config);
  REQUIRE(quiet.ok());
  REQUIRE(quiet->events_run > 128);
  std::vector<std::uint64_t> heard;
  config.on_progress = [&](std::uint64_t done) { heard.push_back(done); };
  config.progress_events = 16;
  const auto told = RunSimulation(config);
  REQUIRE(told.ok());
  // Once every 16 events of the run (its teardown's aside), nearly all before the read completes.
  CHECK(heard.size() >= 8);
  CHECK(heard.size() <= told->events_run / 16);
  CHECK(static_cast<std::size_t>(std::count(heard.begin(), heard.end(), 0u)) + 1 >= heard.size());
  CHECK(std::is_sorted(heard.begin(), heard.end()));
  CHECK(told->metrics.elapsed_s == quiet->metrics.elapsed_s);
  CHECK(told->events_run == quiet->events_run);
}

TEST_CASE("simulation: a bad policy spec is an error- not a crash", "[replay]") {
  auto trace = traces::Generate("sequential", {});
  SimulationConfig c = Config(*trace, "none");
  c.policy.layers[0].params["x"] = "1";
  auto r = RunSimulation(c);
  REQUIRE(!r.ok());
  CHECK_THAT(r.error().message, Catch::Contains("no parameter 'x'"));
}

}  // namespace
}  // namespace pflab::replay
