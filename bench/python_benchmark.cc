// Speed of Python policies (py: specs, python_bridge/) in the simulator: simulated reads per second of
// whole replays through Debian's fsspec caches and a gcsfs-style prefetcher, next to the C++ port of
// the same cache. Reported as reads/s (wall clock) and CPU microseconds per read (this process's user
// and system time over all its threads, which the machine's other load inflates less than the wall
// clock: a Python policy's reads hand control between threads, and each hand-off waits for a core).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <random>
#include <string>

#include "plugins/plugin_loader.h"
#include "replay/simulation.h"
#include "sim/network_model.h"

namespace pflab {
namespace {

constexpr std::uint64_t kReads = 10'000;
constexpr std::uint64_t kObjectSize = 1ull << 30;

traces::Trace MakeTrace(bool random, std::uint64_t read_size) {
  traces::Trace trace;
  trace.name = random ? "random" : "sequential";
  trace.objects.push_back({"o0", "bench", "object", kObjectSize});
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<std::uint64_t> block(0, kObjectSize / read_size - 1);
  for (std::uint64_t i = 0; i < kReads; ++i) {
    const std::uint64_t offset = random ? block(rng) * read_size : (i * read_size) % kObjectSize;
    trace.records.push_back({0, 0, 0, offset, read_size, -1});
  }
  return trace;
}

double CpuSeconds() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

void BM_PythonReplay(benchmark::State& state, std::string policy, bool random, std::uint64_t read_size) {
  plugins::EnablePythonPolicies();
  const traces::Trace trace = MakeTrace(random, read_size);
  auto profile = sim::FindProfile("gcs-regional");
  auto spec = policies::ParseStackSpec(policy);
  if (!profile || !spec || !policies::ValidateStack(*spec)) {
    state.SkipWithError("bad profile or policy (is the Python bridge built?)");
    return;
  }
  replay::SimulationConfig config;
  config.trace = &trace;
  config.policy = *spec;
  config.profile_name = "gcs-regional";
  config.profile = *profile;
  config.think = replay::ThinkTime{replay::ThinkTime::Mode::kZero, 1.0};
  double cpu = 0;
  for (auto _ : state) {
    const double before = CpuSeconds();
    auto result = replay::RunSimulation(config);
    cpu += CpuSeconds() - before;
    if (!result || result->metrics.reads_failed) {
      state.SkipWithError(result ? "reads failed" : result.error().message.c_str());
      return;
    }
  }
  const double reads = static_cast<double>(kReads) * static_cast<double>(state.iterations());
  state.counters["reads/s"] = benchmark::Counter(reads, benchmark::Counter::kIsRate);
  state.counters["cpu_us/read"] = cpu / reads * 1e6;
}

const std::string kTiny = std::string("py:") + PFLAB_SOURCE_DIR + "/tests/python/tiny_prefetcher.py:TinyPrefetcher";

BENCHMARK_CAPTURE(BM_PythonReplay, cpp_readahead_seq64k, "fsspec-readahead", false, 64 << 10)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_PythonReplay, py_readahead_seq64k, "py:fsspec.caching:ReadAheadCache", false, 64 << 10)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_PythonReplay, cpp_blockcache_rand64k, "fsspec-blockcache(blocksize=64KiB)", true, 64 << 10)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_PythonReplay, py_blockcache_rand64k, "py:fsspec.caching:BlockCache(blocksize=64KiB)", true,
                  64 << 10)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();
BENCHMARK_CAPTURE(BM_PythonReplay, py_prefetcher_seq64k, kTiny + "(block=1MiB)", false, 64 << 10)
    ->Unit(benchmark::kMillisecond)
    ->UseRealTime();

}  // namespace
}  // namespace pflab
