// Python policies (py: specs) through the bridge (python_bridge/): Debian's fsspec caches make the
// requests our C++ ports make and give the same runs; a gcsfs-style prefetcher makes the same requests
// as on a plain asyncio loop, and under gcs-regional timing its requests follow the network's
// completions as worked out by hand; runs are deterministic; exceptions, busy loops and reads that
// never end fail clearly, and bad specs fail before anything runs.
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "engine/units.h"
#include "plugins/plugin_loader.h"
#include "policies/registry.h"
#include "replay/matrix.h"
#include "replay/simulation.h"
#include "tests/support/cli_runner.h"
#include "tests/support/fsspec_parity_cases.h"
#include "tests/support/layer_rig.h"
#include "tests/support/run_config.h"
#include "traces/generators.h"
#include "traces/trace_io.h"

namespace pflab::python_test {
namespace {

using nlohmann::json;

#ifndef PFLAB_HAVE_PYTHON

TEST_CASE("py: policies say this pflab was built without Python", "[python]") {
  plugins::EnablePythonPolicies();
  auto entry = policies::ResolvePolicy("py:fsspec.caching:ReadAheadCache");
  REQUIRE(!entry.ok());
  CHECK_THAT(entry.error().message, Catch::Contains("built without the Python bridge"));
}

#else

const std::string kDir = std::string(PFLAB_SOURCE_DIR) + "/tests/python/";

std::string Py(const std::string& file_class_args) {
  return "py:" + kDir + file_class_args;
}

std::string Show(const std::vector<ByteRange>& ranges) {
  std::string out = "[";
  for (const auto& r : ranges) out += " [" + std::to_string(r.begin) + ", " + std::to_string(r.end) + ")";
  return out + " ]";
}

// Requests the rig's lower layer saw since `*seen`.
std::vector<ByteRange> NewRequests(const testing::LayerRig& rig, std::size_t* seen) {
  std::vector<ByteRange> out;
  for (; *seen < rig.lower.requests.size(); ++*seen)
    out.push_back({rig.lower.requests[*seen].begin, rig.lower.requests[*seen].end});
  return out;
}

std::vector<ByteRange> MergeAdjacent(const std::vector<ByteRange>& requests) {
  std::vector<ByteRange> out;
  for (const ByteRange& r : requests) {
    if (!out.empty() && out.back().end == r.begin) {
      out.back().end = r.end;
    } else {
      out.push_back(r);
    }
  }
  return out;
}

struct Recorded {
  Nanos t;
  EventType type;
  std::string layer;
  std::uint64_t offset, length;
};

class RecordingSink final : public EventSink {
 public:
  void OnEvent(const Event& e) override { events.push_back({e.t_ns, e.type, e.layer, e.offset, e.length}); }
  std::vector<Recorded> events;
};

traces::Trace SequentialTrace(std::uint64_t size, std::uint64_t read, int count, Nanos think) {
  traces::Trace t;
  t.name = "sequential";
  t.objects.push_back({"o", "", "object", size});
  for (int i = 0; i < count; ++i) t.records.push_back({i * think, 0, 0, i * read, read, -1});
  return t;
}

void Enable() {
  plugins::EnablePythonPolicies();
}

TEST_CASE("Debian's fsspec caches through the bridge make the requests our ports make", "[python][parity]") {
  Enable();
  const std::map<std::string, std::string> classes = {
      {"readahead", "ReadAheadCache"}, {"bytes", "BytesCache"},      {"all", "AllBytes"},
      {"first", "FirstChunkCache"},    {"blockcache", "BlockCache"}, {"mmap", "MMapCache"}};
  std::size_t compared = 0, requests = 0;
  for (const policies::parity::Case& c : policies::parity::ParityCases()) {
    if (c.cache == "parts") continue;  // KnownPartsOfAFile needs its parts as data: not a policy spec
    std::string spec = "py:fsspec.caching:" + classes.at(c.cache) + "(blocksize=" + std::to_string(c.blocksize);
    if (c.cache == "blockcache") spec += ",maxblocks=" + std::to_string(c.maxblocks);
    spec += ")";
    const policies::parity::Outcome ours = policies::parity::RunOurs(c);
    testing::LayerRig rig(spec, c.size);
    std::size_t seen = 0;
    for (std::size_t k = 0; k < c.reads.size(); ++k) {
      INFO(c.label << " through " << spec << ", read " << k << " [" << c.reads[k].begin << ", " << c.reads[k].end
                   << ")");
      auto got = rig.Read(c.reads[k].begin, c.reads[k].end);
      REQUIRE(got.ok());
      std::vector<ByteRange> theirs = NewRequests(rig, &seen);
      // 2022.11's MMapCache asks block by block; runs of consecutive blocks are master's one request
      // (as tests/policies/fsspec_parity.py normalizes them).
      if (c.cache == "mmap") theirs = MergeAdjacent(theirs);
      REQUIRE(Show(theirs) == Show(ours.requests[k]));
      REQUIRE(static_cast<std::int64_t>(TotalLength(*got)) == ours.lengths[k]);
      requests += theirs.size();
    }
    ++compared;
  }
  CHECK(compared > 90);
  CHECK(requests > 2000);
}

TEST_CASE("a Python fsspec cache gives the same run as our port of it", "[python]") {
  Enable();
  traces::GeneratorParams params;
  params.object_size = 64 * kMiB;
  params.read_size = kMiB / 2;
  params.count = 60;
  for (const char* pattern : {"sequential", "backtrack", "visits-home"}) {
    auto trace = traces::Generate(pattern, params);
    REQUIRE(trace.ok());
    for (const auto& [ours, theirs] : std::vector<std::pair<std::string, std::string> >{
             {"fsspec-readahead(blocksize=1MiB)", "py:fsspec.caching:ReadAheadCache(blocksize=1MiB)"},
             {"fsspec-bytes(blocksize=1MiB)", "py:fsspec.caching:BytesCache(blocksize=1MiB)"},
             {"fsspec-first(blocksize=4MiB)", "py:fsspec.caching:FirstChunkCache(blocksize=4MiB)"}}) {
      INFO(pattern << ": " << ours << " and " << theirs);
      auto a = replay::RunSimulation(testing::RunConfig(*trace, ours));  // every byte checked
      auto b = replay::RunSimulation(testing::RunConfig(*trace, theirs));
      INFO((a.ok() ? "" : a.error().message) << (b.ok() ? "" : b.error().message));
      REQUIRE(a.ok());
      REQUIRE(b.ok());
      CHECK(b->metrics.reads_failed == 0);
      CHECK(b->metrics.elapsed_s == a->metrics.elapsed_s);
      CHECK(b->metrics.stall_s == a->metrics.stall_s);
      CHECK(b->metrics.read_latency_p99_s == a->metrics.read_latency_p99_s);
      CHECK(b->metrics.requests == a->metrics.requests);
      CHECK(b->metrics.bytes_read == a->metrics.bytes_read);
      CHECK(b->metrics.bytes_fetched == a->metrics.bytes_fetched);
      CHECK(b->metrics.bytes_wasted == a->metrics.bytes_wasted);
      CHECK(b->metrics.cost_usd == a->metrics.cost_usd);
    }
  }
}

TEST_CASE("every cache class of Debian's fsspec runs as is, every byte checked", "[python]") {
  Enable();
  traces::GeneratorParams params;
  params.object_size = 32 * kMiB;
  params.read_size = kMiB / 3;
  params.count = 40;
  auto trace = traces::Generate("backtrack", params);
  REQUIRE(trace.ok());
  // fsspec.caching.caches in 2022.11: none, mmap, bytes, readahead, block, first, all, parts.
  for (const char* cls : {"BaseCache", "MMapCache", "BytesCache", "ReadAheadCache", "BlockCache", "FirstChunkCache",
                          "AllBytes", "KnownPartsOfAFile"}) {
    INFO(cls);
    auto result =
        replay::RunSimulation(testing::RunConfig(*trace, std::string("py:fsspec.caching:") + cls + "(blocksize=1MiB)"));
    INFO((result.ok() ? "" : result.error().message));
    REQUIRE(result.ok());  // with verify_bytes: a wrong byte fails the run
    CHECK(result->metrics.reads_failed == 0);
    CHECK(result->metrics.bytes_read == 40 * (kMiB / 3));
  }
}

// Runs tests/python/plain_asyncio.py: the class on a plain asyncio loop with an instant fetcher.
json RunPlainAsyncio(const std::string& file, const std::string& cls, std::uint64_t size, const json& kwargs,
                     const std::vector<ByteRange>& reads) {
  json r = json::array();
  for (const auto& x : reads) r.push_back({x.begin, x.end});
  const std::string command = "/usr/bin/python3 " + testing::ShellQuote(kDir + "plain_asyncio.py") + " " +
                              testing::ShellQuote(kDir + file) + " " + cls + " " + std::to_string(size) + " " +
                              testing::ShellQuote(kwargs.dump()) + " " + testing::ShellQuote(r.dump());
  std::string output;
  FILE* pipe = popen(command.c_str(), "r");
  REQUIRE(pipe != nullptr);
  char buffer[4096];
  for (std::size_t n; (n = fread(buffer, 1, sizeof buffer, pipe)) > 0;) output.append(buffer, n);
  const int status = pclose(pipe);
  INFO(command << "\n" << output);
  REQUIRE(WIFEXITED(status));
  REQUIRE(WEXITSTATUS(status) == 0);
  return json::parse(output);
}

TEST_CASE("a gcsfs-style prefetcher makes the same requests in the bridge as on a plain asyncio loop",
          "[python][prefetcher]") {
  Enable();
  const std::uint64_t size = 10 * kMiB + 123457;
  const std::vector<ByteRange> reads = {
      {0, kMiB},                            // first read: the producer starts
      {kMiB, 2 * kMiB},                     // sequential
      {2 * kMiB, 2 * kMiB + kMiB / 2},      // half a piece
      {2 * kMiB + kMiB / 2, 4 * kMiB},      // across pieces
      {6 * kMiB, 6 * kMiB + kMiB / 2},      // hard seek forward
      {6 * kMiB + kMiB / 2, 7 * kMiB + 7},  // across a piece, ending off its edge
      {kMiB, kMiB + 100},                   // hard seek back
      {kMiB + 100, 3 * kMiB},               // sequential again
      {10 * kMiB, size},                    // to the end of the object
  };
  const json plain =
      RunPlainAsyncio("tiny_prefetcher.py", "TinyPrefetcher", size, {{"block", kMiB}, {"depth", 2}}, reads);
  testing::LayerRig rig(Py("tiny_prefetcher.py:TinyPrefetcher(block=1MiB,depth=2)"), size);
  std::size_t seen = 0, requests = 0;
  for (std::size_t k = 0; k < reads.size(); ++k) {
    INFO("read " << k << " [" << reads[k].begin << ", " << reads[k].end << ")");
    auto got = rig.Read(reads[k].begin, reads[k].end);
    REQUIRE(got.ok());
    CHECK(TotalLength(*got) == plain["lengths"][k].get<std::uint64_t>());
    std::vector<ByteRange> expected;
    for (const auto& r : plain["reads"][k]) expected.push_back({r[0].get<std::uint64_t>(), r[1].get<std::uint64_t>()});
    const std::vector<ByteRange> bridge = NewRequests(rig, &seen);
    CHECK(Show(bridge) == Show(expected));
    requests += bridge.size();
  }
  CHECK(requests >= 12);  // not vacuous: the producer ran ahead and restarted
}

TEST_CASE("under gcs-regional timing a prefetcher's requests follow the network's completions",
          "[python][prefetcher]") {
  Enable();
  const std::string spec = Py("tiny_prefetcher.py:TinyPrefetcher(block=1MiB,depth=2)");
  for (const Nanos think : {Nanos{0}, 200 * kMillisecond}) {
    INFO("think time " << think / kMillisecond << " ms");
    const int n = 10;
    const traces::Trace trace = SequentialTrace(64 * kMiB, kMiB, n, think);
    RecordingSink sink;
    auto config = testing::RunConfig(trace, spec);
    config.event_log = &sink;
    config.seed = 7;
    auto result = replay::RunSimulation(config);
    INFO((result.ok() ? "" : result.error().message));
    REQUIRE(result.ok());
    REQUIRE(result->metrics.reads_failed == 0);
    // Times of the prefetcher's requests (start, end) by piece, and of the reads (start, end).
    std::map<std::uint64_t, Nanos> fetch_start, fetch_end;
    std::vector<Nanos> read_start, read_end;
    int in_flight = 0, most_in_flight = 0;
    for (const Recorded& e : sink.events) {
      if (e.layer == spec.substr(0, spec.find('('))) {
        if (e.type == EventType::kFetchStart) {
          REQUIRE(fetch_start.emplace(e.offset / kMiB, e.t).second);
          most_in_flight = std::max(most_in_flight, ++in_flight);
        }
        if (e.type == EventType::kFetchEnd) {
          fetch_end.emplace(e.offset / kMiB, e.t);
          --in_flight;
        }
      }
      if (e.layer == std::string("reader") && e.type == EventType::kReadStart) read_start.push_back(e.t);
      if (e.layer == std::string("reader") && e.type == EventType::kReadEnd) read_end.push_back(e.t);
    }
    REQUIRE(read_end.size() == static_cast<std::size_t>(n));
    CHECK(most_in_flight == 1);  // one piece at a time
    CHECK(fetch_start.at(0) == 0);
    // Worked out by hand (tests/python/tiny_prefetcher.py): piece k goes into the queue when it has
    // arrived and the queue (2 pieces) has room, which is once read k-2 has taken piece k-2; the
    // request for piece k+1 goes out at that moment. Read k ends when it starts if piece k is there,
    // else when piece k arrives.
    for (int k = 0; k < n; ++k) {
      const Nanos put = std::max(fetch_end.at(k), k >= 2 ? read_start.at(k - 2) : Nanos{0});
      if (fetch_start.count(k + 1)) CHECK(fetch_start.at(k + 1) == put);
      CHECK(read_end.at(k) == std::max(read_start.at(k), fetch_end.at(k)));
      if (k > 0) CHECK(read_start.at(k) == read_end.at(k - 1) + think);
    }
    // The cases differ: without think time the reader waits for every piece; with it, the producer
    // waits for room in the queue.
    if (think == 0) {
      CHECK(read_end.at(5) == fetch_end.at(5));
    } else {
      CHECK(fetch_start.at(5) == read_start.at(2));
      CHECK(fetch_start.at(5) > fetch_end.at(4));
    }
  }
}

TEST_CASE("asyncio.to_thread jobs run on workers and wait for the network side by side", "[python]") {
  Enable();
  testing::LayerRig rig(Py("threaded_cache.py:HalvesInThreads"), 8 * kMiB, 10 * kMillisecond);
  auto got = rig.Read(kMiB, 3 * kMiB);
  REQUIRE(got.ok());
  CHECK(TotalLength(*got) == 2 * kMiB);
  REQUIRE(rig.lower.requests.size() == 2);
  // Both halves were asked for at once, so the read took one fetch's time, not two.
  CHECK(rig.lower.requests[0] == testing::LoggedRequest{kMiB, 2 * kMiB, 0, 0});
  CHECK(rig.lower.requests[1] == testing::LoggedRequest{2 * kMiB, 3 * kMiB, 0, 0});
  CHECK(rig.lower.requests[0].at == 0);
  CHECK(rig.lower.requests[1].at == 0);
  CHECK(rig.scheduler.Now() == 10 * kMillisecond);
}

TEST_CASE("a Python cache that fetches side by side over a policy layer is told where it belongs", "[python]") {
  Enable();
  traces::GeneratorParams params;
  params.object_size = 16 * kMiB;
  params.read_size = kMiB;
  params.count = 4;
  auto trace = traces::Generate("sequential", params);
  REQUIRE(trace.ok());
  auto result = replay::RunSimulation(testing::RunConfig(*trace, Py("threaded_cache.py:HalvesInThreads") + " > none"));
  REQUIRE(result.ok());
  CHECK(result->metrics.reads_failed == 4);

  // The message, from the layers built by hand: the cache over `none` over a logging source.
  sim::SimScheduler scheduler;
  NullEventSink events;
  MemoryAccount account;
  testing::LoggingSource bottom(&scheduler, 8 * kMiB, kMillisecond, &account);
  policies::StackEnv env;
  env.ctx = LayerContext{&scheduler, &events, 0};
  env.object = ObjectRef{"pflab", "object", 1, 8 * kMiB};
  env.account = &account;
  const policies::PolicyEntry* none = policies::FindPolicy("none");
  REQUIRE(none != nullptr);
  auto below = none->build(env, &bottom, *none->Parse({}));
  auto cache = policies::ResolvePolicy(Py("threaded_cache.py:HalvesInThreads"));
  REQUIRE(cache.ok());
  auto layer = (*cache)->build(env, below.get(), *(*cache)->Parse({}));
  std::optional<Result<Slices> > got;
  layer->Read({0, kMiB}, [&](Result<Slices>&& r) { got = std::move(r); });
  scheduler.Run();
  REQUIRE(got.has_value());
  REQUIRE(!got->ok());
  CHECK_THAT(got->error().message, Catch::Contains("FetchError: "));
  CHECK_THAT(got->error().message, Catch::Contains("asked for a second fetch while one was in flight, which the layer "
                                                   "below (none) does not take: put it directly on the fetcher"));
}

TEST_CASE("Python policies run deterministically", "[python]") {
  Enable();
  traces::GeneratorParams params;
  params.object_size = 256 * kMiB;
  params.read_size = kMiB;
  params.count = 80;
  auto trace = traces::Generate("backtrack", params);
  REQUIRE(trace.ok());
  auto run = [&](std::uint64_t seed) {
    RecordingSink sink;
    auto config = testing::RunConfig(*trace, Py("tiny_prefetcher.py:TinyPrefetcher(block=2MiB,depth=3)"));
    config.seed = seed;
    config.event_log = &sink;
    auto result = replay::RunSimulation(config);
    REQUIRE(result.ok());
    std::string log;
    for (const Recorded& e : sink.events) {
      log += std::to_string(e.t) + " " + EventTypeName(e.type) + " " + e.layer + " " + std::to_string(e.offset) + " " +
             std::to_string(e.length) + "\n";
    }
    return log;
  };
  const std::string first = run(5);
  CHECK(first.size() > 1000);
  CHECK(run(5) == first);
  CHECK(run(6) != first);
}

TEST_CASE("an exception in a Python policy fails its reads with the traceback, and other runs go on", "[python]") {
  Enable();
  const std::string spec = Py("faulty.py:RaisesAfter(limit=2MiB)");
  testing::LayerRig rig(spec, 8 * kMiB);
  REQUIRE(rig.Read(0, kMiB).ok());
  auto failed = rig.Read(2 * kMiB, 3 * kMiB);
  REQUIRE(!failed.ok());
  const std::string& message = failed.error().message;
  CHECK_THAT(message, Catch::StartsWith(spec.substr(0, spec.find('(')) + ": _fetch[2097152, 3145728) raised:"));
  CHECK_THAT(message, Catch::Contains("Traceback (most recent call last):"));
  CHECK_THAT(message, Catch::Contains("tests/python/faulty.py\", line"));
  CHECK_THAT(message, Catch::Contains("in _fetch"));
  CHECK_THAT(message, Catch::Contains("ValueError: no reads at or past 2097152, asked for 2097152"));
  CHECK_THAT(message, !Catch::Contains("runtime.py"));  // the bridge's own frames are left out
  // The object goes on, as a file object would after an exception.
  REQUIRE(rig.Read(kMiB, 2 * kMiB).ok());

  // In a matrix, the failing run is reported with its failed reads and the next run goes on.
  const traces::Trace trace = SequentialTrace(8 * kMiB, kMiB, 5, 0);
  replay::RunPlan plan;
  plan.traces = {&trace};
  plan.policies = {*policies::ParseStackSpec(spec), *policies::ParseStackSpec("fsspec-readahead")};
  auto profile = sim::FindProfile("gcs-regional");
  REQUIRE(profile.ok());
  plan.profile = *profile;
  plan.profile_name = "gcs-regional";
  plan.verify_bytes = true;
  std::vector<replay::RunResult> results;
  std::vector<std::string> errors;
  replay::RunHooks hooks;
  hooks.jobs = 2;
  hooks.on_finish = [&](const replay::RunCell&, Result<replay::RunResult>&& r) {  // on the matrix's threads
    if (r.ok()) {
      results.push_back(std::move(*r));
    } else {
      errors.push_back(r.error().message);
    }
    return true;
  };
  REQUIRE(replay::RunMatrix(plan, hooks).ok());
  CHECK(errors.empty());
  REQUIRE(results.size() == 2);
  std::sort(results.begin(), results.end(), [](const auto& a, const auto& b) { return a.policy < b.policy; });
  CHECK(results[0].policy == "fsspec-readahead");
  CHECK(results[0].metrics.reads_failed == 0);
  CHECK(results[1].metrics.reads_failed == 3);  // the reads at 2, 3 and 4 MiB
}

TEST_CASE("a Python policy that spins is stopped by the watchdog", "[python]") {
  Enable();
  // Spins: in _fetch, on a worker. SpinsInLoop: in a task on the event loop, on the engine's thread,
  // 1 ms after the first read (which completes at once).
  for (const char* which : {"Spins", "SpinsInLoop"}) {
    INFO(which);
    testing::LayerRig rig(Py(std::string("faulty.py:") + which + "(pflab_watchdog=300ms)"), 8 * kMiB);
    const auto wall = std::chrono::steady_clock::now();
    auto first = rig.Read(0, kMiB);
    CHECK(first.ok() == (std::string(which) == "SpinsInLoop"));
    auto spun = first.ok() ? rig.Read(kMiB, 2 * kMiB) : std::move(first);
    REQUIRE(!spun.ok());
    CHECK_THAT(spun.error().message, Catch::Contains("ran for more than 300 ms of wall-clock time without giving "
                                                     "control back (pflab_watchdog)"));
    CHECK(std::chrono::steady_clock::now() - wall >= std::chrono::milliseconds(300));
    auto later = rig.Read(2 * kMiB, 3 * kMiB);  // the layer stays stopped, at once
    REQUIRE(!later.ok());
    CHECK(later.error().message == spun.error().message);
  }
}

TEST_CASE("a Python policy that never completes a read is cut by the read deadline", "[python]") {
  Enable();
  testing::LayerRig rig(Py("faulty.py:NeverAnswers(pflab_read_deadline=5s)"), 8 * kMiB);
  auto never = rig.Read(0, kMiB);  // the scheduler goes idle: the ticking task was stopped too
  REQUIRE(!never.ok());
  CHECK(never.error().code == ErrorCode::kDeadlineExceeded);
  CHECK_THAT(never.error().message, Catch::Contains("did not complete read [0, 1048576) within 5 s"));
  CHECK(rig.scheduler.Now() == 5 * kSecond);
  auto later = rig.Read(kMiB, 2 * kMiB);
  REQUIRE(!later.ok());
  CHECK(later.error().code == ErrorCode::kDeadlineExceeded);
  CHECK(rig.scheduler.Now() == 5 * kSecond);
}

TEST_CASE("an exception in a Python policy's event loop stops the layer", "[python]") {
  Enable();
  testing::LayerRig rig(Py("faulty.py:BackgroundFails"), 8 * kMiB, kMillisecond);
  REQUIRE(rig.Read(0, kMiB).ok());  // the callback fails at 0.5 s, once the read is done
  CHECK(rig.scheduler.Now() == 500 * kMillisecond);
  auto later = rig.Read(kMiB, 2 * kMiB);
  REQUIRE(!later.ok());
  CHECK_THAT(later.error().message, Catch::Contains("an exception in the policy's event loop"));
  CHECK_THAT(later.error().message, Catch::Contains("in _explode"));
  CHECK_THAT(later.error().message, Catch::Contains("RuntimeError: the background work broke"));
}

TEST_CASE("a Python policy must return exactly the bytes asked for", "[python]") {
  Enable();
  testing::LayerRig rig(Py("faulty.py:WrongLength"), 8 * kMiB);
  auto short_read = rig.Read(0, kMiB);
  REQUIRE(!short_read.ok());
  CHECK_THAT(short_read.error().message, Catch::Contains("_fetch[0, 1048576) returned 1048575 bytes, not 1048576"));
}

TEST_CASE("bad py: specs fail before anything runs, saying why", "[python]") {
  Enable();
  auto error = [](const std::string& spec) {
    auto parsed = policies::ParsePolicyList(spec);
    REQUIRE(!parsed.ok());
    return parsed.error().message;
  };
  CHECK_THAT(error("py:/nonexistent/policy.py:Cache"), Catch::Contains("/nonexistent/policy.py: no such Python file"));
  CHECK_THAT(error(Py("faulty.py:Missing")), Catch::Contains("has no attribute 'Missing'"));
  CHECK_THAT(error(Py("faulty.py:NotAPolicy")), Catch::Contains("NotAPolicy(a, b) is neither an fsspec cache"));
  CHECK_THAT(error(Py("faulty.py:RaisesAfter(limt=3)")), Catch::Contains("unexpected keyword argument 'limt'"));
  CHECK_THAT(error(Py("faulty.py:RaisesAfter(pflab_watchdog=fast)")),
             Catch::Contains("pflab_watchdog=fast: expected a positive duration"));
  CHECK_THAT(error(Py("faulty.py:RaisesAfter(pflab_other=1)")), Catch::Contains("unknown setting pflab_other"));
  CHECK_THAT(error("py:no_class_here"), Catch::Contains("expected py:FILE.py:CLASS or py:MODULE:CLASS"));
  CHECK_THAT(error("py:no_such_module_xyz:Cache"), Catch::Contains("No module named 'no_such_module_xyz'"));
  const auto dir = testing::FreshTempDir("pflab_py_syntax");
  std::ofstream(dir / "broken.py") << "class Cache:\n    def _fetch(self, start, end)\n        return b''\n";
  CHECK_THAT(error("py:" + (dir / "broken.py").string() + ":Cache"), Catch::Contains("SyntaxError"));
  // A prefetcher keeps several fetches in flight: it must sit on the fetcher.
  CHECK_THAT(error(Py("tiny_prefetcher.py:TinyPrefetcher > fsspec-readahead")),
             Catch::Contains("must sit directly on the fetcher"));
  CHECK(policies::ParsePolicyList("py:fsspec.caching:BlockCache(blocksize=1MiB,maxblocks=2) > gcsfs-adaptive").ok());
}

TEST_CASE("py: stacks run one at a time and keep their parameters as written", "[python]") {
  Enable();
  auto py = policies::ParseStackSpec(Py("tiny_prefetcher.py:TinyPrefetcher(depth=3,block=1MiB)"));
  REQUIRE(py.ok());
  CHECK(policies::RunsOneAtATime(*py));
  CHECK(!policies::RunsOneAtATime(*policies::ParseStackSpec("fsspec-readahead > gcsfs-adaptive")));
  auto canonical = policies::CanonicalSpec(*py);
  REQUIRE(canonical.ok());
  // Parameters in key order; the fetcher below honours the split_factor asked for, up to 64 parts.
  CHECK(*canonical ==
        Py("tiny_prefetcher.py:TinyPrefetcher(block=1MiB,depth=3)") + " > concurrent(parts=64,min=5MiB,rule=main)");
}

TEST_CASE("pflab compare runs py: policies in the simulator and against the fake server", "[python][cli]") {
  const auto dir = testing::FreshTempDir("pflab_py_cli");
  REQUIRE(traces::WriteTrace((dir / "t.jsonl").string(), SequentialTrace(16 * kMiB, kMiB, 12, kMillisecond)).ok());
  const std::string policies =
      "--policies 'py:fsspec.caching:ReadAheadCache(blocksize=2MiB)," + Py("tiny_prefetcher.py:TinyPrefetcher") + "'";
  for (const char* transport : {"sim", "fake"}) {
    INFO(transport);
    auto out = testing::RunPflab(
        "compare " + (dir / "t.jsonl").string() + " " + policies + " --verify-bytes -q --transport " + transport, dir);
    INFO(out.err);
    REQUIRE(out.exit_code == 0);
    CHECK_THAT(out.out, Catch::Contains("py:fsspec.caching:ReadAheadCache(blocksize=2MiB)"));
    CHECK_THAT(out.out, Catch::Contains("tiny_prefetcher.py:TinyPrefetcher"));
    CHECK_THAT(out.out, !Catch::Contains("reads failed"));
  }
  auto listed = testing::RunPflab("policies", dir);
  CHECK_THAT(listed.out, Catch::Contains("py:FILE.py:CLASS(key=value,...)"));

  testing::CliOptions no_bridge;
  no_bridge.env = "PFLAB_PYTHON_BRIDGE=/nonexistent/libpflab_python.so";
  auto missing = testing::RunPflab("compare " + (dir / "t.jsonl").string() + " " + policies + " -q", dir, no_bridge);
  CHECK(missing.exit_code != 0);
  CHECK_THAT(missing.err, Catch::Contains("py: policies need the Python bridge libpflab_python.so, which is not in "
                                          "/nonexistent/libpflab_python.so"));

  auto swept = testing::RunPflab("sweep --traces " + (dir / "t.jsonl").string() +
                                     " --policy 'py:fsspec.caching:BlockCache(blocksize=1MiB|4MiB)' --jobs 2 -q -o " +
                                     (dir / "s.jsonl").string(),
                                 dir);
  INFO(swept.err);
  REQUIRE(swept.exit_code == 0);
  auto noted = testing::RunPflab("sweep --traces " + (dir / "t.jsonl").string() +
                                     " --policy 'py:fsspec.caching:BlockCache(blocksize=2MiB)' --policy "
                                     "'fsspec-readahead' --jobs 2 -o " +
                                     (dir / "s.jsonl").string(),
                                 dir);
  REQUIRE(noted.exit_code == 0);
  CHECK_THAT(noted.err, Catch::Contains("1 of 3 specs hold a Python policy: their runs go one at a time"));
  const std::string lines = testing::Slurp(dir / "s.jsonl");
  CHECK_THAT(lines, Catch::Contains("py:fsspec.caching:BlockCache(blocksize=1MiB)"));
  CHECK_THAT(lines, Catch::Contains("py:fsspec.caching:BlockCache(blocksize=4MiB)"));
}

#endif

}  // namespace
}  // namespace pflab::python_test
